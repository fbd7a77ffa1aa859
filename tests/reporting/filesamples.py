"""Real sample files for attachment tests (unit and browser): made with Pillow, pikepdf and
zipfile, never stored in the repository. Every function returns the file's bytes.

Identifying values are fixed so tests can look for them in the working copies.
"""

from __future__ import annotations

import functools
import io
import struct
import zipfile
import zlib

import pikepdf
from pikepdf import Array, Dictionary, Name, String
from PIL import ExifTags, Image, ImageCms, PngImagePlugin

AUTHOR = "Jane Canary-Exile"
CAMERA_MAKE = "CanaryCam"
CAMERA_MODEL = "Model X-77"
SERIAL = "SN-CANARY-4242"
GPS_LAT = (52.0, 31.0, 12.5)
GPS_LON = (13.0, 24.0, 36.0)
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    b'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>Jane Canary-Exile</dc:creator>'
    b"</rdf:Description></rdf:RDF></x:xmpmeta>"
)
COMMENT = b"taken at the canary safe house"


def _picture(width: int = 64, height: int = 48) -> Image.Image:
    """Left half red, right half blue: orientation mistakes show as misplaced colours."""
    im = Image.new("RGB", (width, height), (0, 0, 255))
    im.paste((255, 0, 0), (0, 0, width // 2, height))
    return im


def _exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = CAMERA_MAKE
    exif[0x0110] = CAMERA_MODEL
    exif[0x0132] = "2024:03:05 10:11:12"
    exif[0x0112] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[1], gps[2], gps[3], gps[4] = "N", GPS_LAT, "E", GPS_LON
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    sub[0x9003] = "2024:03:05 10:11:12"
    sub[0xA431] = SERIAL
    return exif


def jpeg_with_gps(orientation: int = 1, width: int = 64, height: int = 48) -> bytes:
    """A JPEG photo with EXIF: GPS position, camera make and model, date taken, serial number."""
    out = io.BytesIO()
    _picture(width, height).save(out, "JPEG", exif=_exif(orientation), quality=90)
    return out.getvalue()


def jpeg_with_everything(icc: bool = True) -> bytes:
    """A JPEG with EXIF (incl. GPS), XMP, a comment and (unless ``icc`` is false) an ICC
    profile."""
    out = io.BytesIO()
    extra = {"icc_profile": ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()}
    _picture().save(out, "JPEG", exif=_exif(), xmp=XMP, comment=COMMENT, **(extra if icc else {}))
    return out.getvalue()


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


IPTC_CANARY = b"Byline: Jane Canary-Exile, City: Canaryville"
C2PA_CANARY = b"c2pa.actions canary-device-signature"
VIDEO_CANARY = b"\0\0\0\x18ftypmp42 canary motion photo video"


def jpeg_with_iptc_c2pa_and_video() -> bytes:
    """A JPEG as some phones write it: EXIF, a Photoshop/IPTC block (APP13), a C2PA manifest
    (APP11 JUMBF) and a motion-photo video appended after the end of the picture."""
    data = jpeg_with_gps()
    extra = _segment(0xED, b"Photoshop 3.0\0" + IPTC_CANARY) + _segment(
        0xEB, b"JP\0\0\0\0\0\x01jumb" + C2PA_CANARY
    )
    return data[:2] + extra + data[2:] + VIDEO_CANARY


def plain_jpeg() -> bytes:
    """A JPEG with no metadata at all."""
    out = io.BytesIO()
    _picture().save(out, "JPEG")
    return out.getvalue()


def truncated_jpeg() -> bytes:
    """The first half of a JPEG: it starts like one but cannot be decoded."""
    data = jpeg_with_gps(width=256, height=256)
    return data[: len(data) // 2]


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )


def png_with_metadata() -> bytes:
    """A PNG with a tEXt author, an eXIf chunk with GPS, XMP in iTXt, a tIME chunk and a C2PA
    (caBX) box."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", AUTHOR)
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    info.add(b"tIME", struct.pack(">HBBBBB", 2024, 3, 5, 10, 11, 12))
    info.add(b"caBX", b"jumb-canary")
    out = io.BytesIO()
    _picture().save(out, "PNG", pnginfo=info, exif=_exif())
    return out.getvalue()


def png_with_appended_zip() -> bytes:
    """A PNG with a ZIP archive glued after its end: viewers show the picture, unzip finds
    the archive."""
    return png_palette_transparent() + docx()


def png_palette_transparent() -> bytes:
    """A palette PNG whose colour 0 is transparent (tRNS): transparency must survive."""
    im = Image.new("P", (8, 8), 0)
    im.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    im.paste(1, (0, 0, 4, 8))
    out = io.BytesIO()
    im.save(out, "PNG", transparency=0)
    return out.getvalue()


def animated_png(frames: int = 3) -> bytes:
    """An animated PNG (APNG) with a text chunk."""
    images = [Image.new("RGBA", (16, 16), (40 * i, 0, 0, 255)) for i in range(frames)]
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", AUTHOR)
    out = io.BytesIO()
    images[0].save(
        out, "PNG", save_all=True, append_images=images[1:], duration=100, loop=0, pnginfo=info
    )
    return out.getvalue()


@functools.cache
def png_bomb(side: int = 15_000) -> bytes:
    """A valid greyscale PNG of ``side`` × ``side`` black pixels: tiny on disk, ``side``² bytes
    once decoded (225 MB in a 220 KB file by default). Written chunk by chunk, since Pillow would need the
    whole picture in memory to make it."""
    raw_row = b"\0" * (side + 1)  # filter byte + one byte per pixel
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(raw_row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def animated_webp(lossless: bool = True) -> bytes:
    """An animated WebP of three frames with EXIF."""
    images = [Image.new("RGB", (16, 16), (40 * i + 1, 7, 200)) for i in range(3)]
    out = io.BytesIO()
    images[0].save(
        out,
        "WEBP",
        save_all=True,
        append_images=images[1:],
        duration=80,
        loop=0,
        lossless=lossless,
        exif=_exif(),
    )
    return out.getvalue()


def webp_with_metadata(lossless: bool = True) -> bytes:
    """A WebP with EXIF (GPS) and XMP."""
    out = io.BytesIO()
    _picture().save(out, "WEBP", lossless=lossless, exif=_exif(), xmp=XMP)
    return out.getvalue()


def exe_named_jpg() -> bytes:
    """The headers of a Windows program (DOS stub "MZ", PE signature, COFF header for x86):
    what a disguised executable uploaded as "photo.jpg" starts with."""
    dos = bytearray(128)
    dos[0:2] = b"MZ"
    dos[0x3C:0x40] = struct.pack("<I", 0x80)
    coff = struct.pack("<HHIIIHH", 0x14C, 1, 0, 0, 0, 0xE0, 0x0102)
    return bytes(dos) + b"PE\0\0" + coff + bytes(0xE0) + b"This program cannot run" * 20


def elf_program() -> bytes:
    """The header of a 64-bit Linux program (ELF)."""
    ident = b"\x7fELF\x02\x01\x01" + bytes(9)
    header = struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, 0x401000, 64, 0, 0, 64, 56, 1, 64, 0, 0)
    return ident + header + bytes(512)


@functools.cache
def zip_bomb(entries: int = 5, megabytes_each: int = 20) -> bytes:
    """A real zip bomb: ``entries`` files of ``megabytes_each`` MB of zeros each (100 MB by
    default) in about 100 KB."""
    out = io.BytesIO()
    chunk = bytes(1 << 20)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for index in range(entries):
            with archive.open(f"bomb-{index}.bin", "w", force_zip64=True) as member:
                for _ in range(megabytes_each):
                    member.write(chunk)
    return out.getvalue()


def docx() -> bytes:
    """A minimal Word document (a ZIP with [Content_Types].xml first, as Word writes it)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        archive.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


def html_page() -> bytes:
    return b"<!DOCTYPE html>\n<html><body><script>alert(document.cookie)</script></body></html>"


def svg_image() -> bytes:
    return (
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg">'
        b"<script>alert(1)</script></svg>"
    )


# --- PDF ------------------------------------------------------------------------------------------

PAGE_TEXT = b"BT /F1 18 Tf 20 100 Td (Canary testimony page) Tj ET"


def _pdf(pages: int = 1) -> pikepdf.Pdf:
    pdf = pikepdf.new()
    font = pdf.make_indirect(
        Dictionary(Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Helvetica)
    )
    for _ in range(pages):
        page = pdf.add_blank_page(page_size=(300, 200))
        page.Resources = Dictionary(Font=Dictionary(F1=font))
        page.Contents = pdf.make_stream(PAGE_TEXT)
    return pdf


def _save(pdf: pikepdf.Pdf, **kwargs: object) -> bytes:
    out = io.BytesIO()
    pdf.save(out, **kwargs)  # type: ignore[arg-type]
    return out.getvalue()


def plain_pdf() -> bytes:
    """A one-page PDF with no document properties and no XMP (qpdf still writes an /ID)."""
    return _save(_pdf())


def pdf_with_author() -> bytes:
    """A PDF with author, creator, producer, title and dates in its Info dictionary, an XMP
    stream naming the author, and a comment annotation signed by the author."""
    pdf = _pdf()
    with pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False) as meta:
        meta["dc:creator"] = [AUTHOR]
    pdf.trailer.Info = pdf.make_indirect(
        Dictionary(
            Author=String(AUTHOR),
            Creator=String("CanaryWriter 9"),
            Producer=String("Canary PDF Library 1.0"),
            Title=String("Statement of Jane"),
            CreationDate=String("D:20240305101112Z"),
            ModDate=String("D:20240306101112Z"),
        )
    )
    note = Dictionary(
        Type=Name.Annot,
        Subtype=Name.Text,
        Rect=Array([10, 10, 30, 30]),
        T=String(AUTHOR),
        Contents=String("see page 2"),
    )
    pdf.pages[0].Annots = pdf.make_indirect(Array([pdf.make_indirect(note)]))
    return _save(pdf)


EARLIER_TEXT = b"BT /F1 18 Tf 20 100 Td (Canary name before redaction) Tj ET"


def pdf_with_earlier_revision() -> bytes:
    """A PDF saved with an incremental update: the page's content was replaced, but the
    earlier version (with a name the author meant to remove) is still in the file, as
    happens when a document is "redacted" and saved by appending."""
    pdf = _pdf()
    pdf.pages[0].Contents = pdf.make_stream(EARLIER_TEXT)
    base = _save(pdf, compress_streams=False)
    with pikepdf.open(io.BytesIO(base)) as saved:  # numbers as written, not as built
        number = saved.pages[0].Contents.objgen[0]
        root = saved.Root.objgen[0]
        size = int(saved.trailer.Size)
    previous = int(base.rsplit(b"startxref", 1)[1].split()[0])
    body = (
        b"\n%d 0 obj\n<< /Length %d >>\nstream\n" % (number, len(PAGE_TEXT))
        + PAGE_TEXT
        + b"\nendstream\nendobj\n"
    )
    offset = len(base) + 1
    xref = len(base) + len(body)
    update = (
        b"xref\n%d 1\n%010d 00000 n \n" % (number, offset)
        + b"trailer\n<< /Size %d /Root %d 0 R /Prev %d >>\n" % (size, root, previous)
        + b"startxref\n%d\n%%%%EOF\n" % xref
    )
    return base + body + update


def pdf_with_javascript(where: str = "open") -> bytes:
    """A PDF carrying JavaScript: ``open`` (OpenAction), ``aa`` (page additional action),
    ``names`` (document-level Names tree), ``link`` (a link annotation), ``outline`` (a
    bookmark)."""
    pdf = _pdf()
    action = Dictionary(Type=Name.Action, S=Name.JavaScript, JS=String("app.alert('canary')"))
    if where == "open":
        pdf.Root.OpenAction = pdf.make_indirect(action)
    elif where == "aa":
        pdf.pages[0].AA = Dictionary(O=action)
    elif where == "names":
        pdf.Root.Names = Dictionary(
            JavaScript=Dictionary(Names=Array([String("init"), pdf.make_indirect(action)]))
        )
    elif where == "link":
        link = Dictionary(Type=Name.Annot, Subtype=Name.Link, Rect=Array([0, 0, 50, 50]), A=action)
        pdf.pages[0].Annots = Array([pdf.make_indirect(link)])
    elif where == "outline":
        outlines = pdf.make_indirect(Dictionary(Type=Name.Outlines, Count=1))
        item = pdf.make_indirect(Dictionary(Title=String("Start"), Parent=outlines, A=action))
        outlines.First = outlines.Last = item
        pdf.Root.Outlines = outlines
    else:
        raise ValueError(where)
    return _save(pdf)


def pdf_with_launch() -> bytes:
    """A PDF whose link launches a program."""
    pdf = _pdf()
    launch = Dictionary(S=Name.Launch, F=String("cmd.exe"))
    pdf.pages[0].Annots = Array(
        [
            pdf.make_indirect(
                Dictionary(Type=Name.Annot, Subtype=Name.Link, Rect=Array([0, 0, 50, 50]), A=launch)
            )
        ]
    )
    return _save(pdf)


def pdf_with_embedded_file() -> bytes:
    """A PDF with an attached file (EmbeddedFiles name tree)."""
    pdf = _pdf()
    pdf.attachments["payload.exe"] = exe_named_jpg()
    return _save(pdf)


def pdf_encrypted(user_password: str = "secret") -> bytes:
    """An encrypted PDF (AES-256); with an empty user password it opens without asking."""
    return _save(_pdf(), encryption=pikepdf.Encryption(owner="owner", user=user_password))


def truncated_pdf() -> bytes:
    """A PDF cut off before its cross-reference table."""
    data = pdf_with_author()
    return data[: len(data) * 2 // 3]
