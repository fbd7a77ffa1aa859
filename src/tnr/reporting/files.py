"""Attachments in the reporter zone: what is accepted, what is refused, and the clean working copy.

``check_upload(name, data, max_bytes=...)`` is the one entry point. It either returns a
``CheckedFile`` (the original bytes untouched, their SHA-256, and a working copy with identifying
metadata removed, plus a plain-language list of what was removed) or raises ``FileRefused``
whose text names the file and the reason, in the reporter's language.

Threat model (DESIGN §2): the "reporter" may be an adversary uploading a file meant to attack the
caseworker who opens it, or to exhaust the server; the real reporter may not know that their
photo carries the GPS position of their home. So:

* The type is decided by the content (``filetype`` signatures, then a strict UTF-8 check), never
  by the name or the browser's Content-Type, and the name's extension must agree with it, so a
  file can never open in a different program than the one we checked it for.
* Only three families are accepted: photos (JPEG, PNG, WebP), PDF and UTF-8 plain text.
  Archives (so every zip bomb), Office files (macros), HTML and SVG (scripts) and programs are
  refused by their signature, without ever being unpacked.
* Photos are decoded by Pillow under a pixel limit and re-encoded from the pixels alone, so
  nothing but the picture survives: EXIF (GPS, camera, serial number, dates), XMP, IPTC, ICC,
  comments, thumbnails, C2PA manifests and anything appended. Orientation is applied first.
* PDFs are opened by qpdf (pikepdf) without repair; anything active (JavaScript, launch actions,
  embedded files, XFA) or encrypted is refused rather than "cleaned", because a caseworker must
  be able to trust that an accepted PDF is inert. The working copy drops the document
  information dictionary, every XMP stream, application private data, annotation author names
  and the file identifier; qpdf rewrites the file, which also drops earlier revisions
  (incremental updates) and unreferenced objects.

The module holds no state and touches no disk; the caller seals ``original`` and ``working``.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
import struct
import unicodedata
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import filetype
import pikepdf
from django.utils.formats import number_format
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from PIL import ExifTags, Image, ImageCms, ImageSequence, JpegImagePlugin

from tnr.reporting.templatetags.zone_i18n import join_items

MB = 1_000_000
# 80 million pixels covers every phone camera in its default mode (a 50 MP sensor is
# 8160 × 6120 = 50 M) and stays below Pillow's own warning threshold (89.5 M). Decoding
# costs about 4 bytes a pixel, so one upload can hold at most about 320 MB while being checked.
MAX_IMAGE_PIXELS = 80_000_000
NAME_MAX_CHARS = 120
JPEG_QUALITY = 95


class FileRefused(Exception):
    """Refused upload; ``str(exc)`` is a clear message for the reporter naming the file and the
    reason. ``code`` is a stable machine-readable reason (for tests and counters, never shown)."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class CheckedFile:
    """An accepted upload. ``original`` is byte for byte what was uploaded; ``working`` is the
    metadata-stripped copy caseworkers open; ``stripped`` says in plain words what was removed."""

    name: str
    media_type: str
    size: int
    sha256: str
    original: bytes
    working: bytes
    working_sha256: str
    stripped: tuple[str, ...]


@dataclass(frozen=True)
class AcceptedType:
    """One accepted kind of file: its media type, the extensions its name may end in (the first
    is the one added to a name without extension) and a label for messages."""

    media_type: str
    extensions: tuple[str, ...]
    label: Promise


@dataclass(frozen=True)
class Accepted:
    """What the reporter may attach, for the form (``description``, ``html_accept``) and for the
    checker (``by_media_type``)."""

    types: tuple[AcceptedType, ...]

    @property
    def description(self) -> str:
        """Human description for the form, in the active language."""
        return _("photos (JPEG, PNG, WebP), PDF documents and plain text (UTF-8)")

    def __str__(self) -> str:
        """The description, so ``{{ accepted }}`` in a template reads well."""
        return self.description

    @property
    def html_accept(self) -> str:
        """Value for ``<input type=file accept=...>``: a hint to the browser's file picker only;
        the server decides by content."""
        parts = [t.media_type for t in self.types]
        parts += ["." + ext for t in self.types for ext in t.extensions]
        return ",".join(parts)

    def by_media_type(self, media_type: str) -> AcceptedType:
        """The accepted type with this media type (KeyError if there is none)."""
        for accepted in self.types:
            if accepted.media_type == media_type:
                return accepted
        raise KeyError(media_type)


JPEG = AcceptedType("image/jpeg", ("jpg", "jpeg", "jpe", "jfif"), gettext_lazy("a JPEG photo"))
PNG = AcceptedType("image/png", ("png",), gettext_lazy("a PNG image"))
WEBP = AcceptedType("image/webp", ("webp",), gettext_lazy("a WebP image"))
PDF = AcceptedType("application/pdf", ("pdf",), gettext_lazy("a PDF document"))
# No .csv or .md: a caseworker's spreadsheet runs formulas in CSV, and Markdown viewers fetch
# remote images; as .txt the same bytes are opened as inert text.
TEXT = AcceptedType("text/plain", ("txt", "text", "log"), gettext_lazy("plain text"))
ACCEPTED = Accepted((JPEG, PNG, WEBP, PDF, TEXT))

_BY_SNIFFED_MIME = {
    "image/jpeg": JPEG,
    "image/png": PNG,
    "image/apng": PNG,  # filetype names animated PNG separately; it is still a PNG file
    "image/webp": WEBP,
    "application/pdf": PDF,
}
_PILLOW_FORMAT = {JPEG.media_type: "JPEG", PNG.media_type: "PNG", WEBP.media_type: "WEBP"}


# --- messages ---------------------------------------------------------------------------------


def _refuse(code: str, message: str, **values: Any) -> FileRefused:
    return FileRefused(message % values, code=code)


def _megabytes(size: int, limit: int) -> tuple[str, str]:
    """(size, limit) in MB for the reporter. The limit is rounded down (never promise more than
    is allowed) and the size shown with as many decimals as it takes to be visibly larger, so
    the message never reads "10 MB, over the limit of 10 MB"."""
    limit_value = math.floor(limit / MB * 10) / 10
    shown_limit = number_format(limit_value, decimal_pos=0 if limit_value.is_integer() else 1)
    decimals, size_value = 0, float(size // MB)
    while size_value <= limit_value and decimals < 6:
        decimals += 1
        size_value = math.floor(size * 10**decimals / MB) / 10**decimals
    return number_format(size_value, decimal_pos=decimals), shown_limit


# What a refused file appears to be, by filetype's media type, then by filetype's family.
_REFUSED_KIND: dict[str, Promise] = {
    "application/x-msdownload": gettext_lazy("a Windows program (EXE)"),
    "application/x-executable": gettext_lazy("a program (ELF executable)"),
    "application/wasm": gettext_lazy("a WebAssembly program"),
    "application/x-shockwave-flash": gettext_lazy("a Flash file (SWF)"),
    "application/x-google-chrome-extension": gettext_lazy("a browser extension (CRX)"),
    "application/x-sqlite3": gettext_lazy("a database file (SQLite)"),
    "application/postscript": gettext_lazy("a PostScript document, which is a program"),
    "application/rtf": gettext_lazy("a rich-text document (RTF)"),
    "application/epub+zip": gettext_lazy("an e-book (EPUB), which is a ZIP archive"),
}
_REFUSED_FAMILY: dict[str, Promise] = {
    "archive": gettext_lazy("an archive (%(format)s)"),
    "document": gettext_lazy("an office document (%(format)s)"),
    "image": gettext_lazy("an image in a format that is not accepted (%(format)s)"),
    "audio": gettext_lazy("an audio recording (%(format)s)"),
    "video": gettext_lazy("a video (%(format)s)"),
    "font": gettext_lazy("a font file (%(format)s)"),
    "application": gettext_lazy("a program (%(format)s)"),
}


def _describe_guess(guess: Any) -> tuple[str, str]:
    """(family, description) of a filetype match that is not accepted."""
    family = type(guess).__module__.rsplit(".", 1)[-1]
    if guess.mime in _REFUSED_KIND:
        return family, str(_REFUSED_KIND[guess.mime])
    template = _REFUSED_FAMILY.get(family, gettext_lazy("a file of type %(format)s"))
    return family, str(template) % {"format": guess.extension.upper()}


# --- names ------------------------------------------------------------------------------------

# Bidirectional controls reorder what is displayed ("photo\u202egpj.exe" shows as
# "photoexe.jpg"); the byte-order mark and line/paragraph separators hide or break lines.
# Zero-width (non-)joiners are kept: Persian and many emoji need them.
_INVISIBLE = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff")
_EXTENSION = re.compile(r"\.([A-Za-z0-9]{1,10})$")


def clean_name(name: str) -> str:
    """The display name: last path component, NFC, no control, bidi or private-use characters,
    whitespace collapsed, no leading or trailing dots, at most ``NAME_MAX_CHARS`` characters
    with the extension kept. Empty if nothing printable is left."""
    name = unicodedata.normalize("NFC", str(name))
    name = re.split(r"[/\\]", name)[-1]
    kept = []
    for char in name:
        category = unicodedata.category(char)
        if char in _INVISIBLE or category in ("Cc", "Cs", "Co", "Cn", "Zl", "Zp"):
            kept.append(" " if char in "\t\n\r\x0b\x0c" else "")
        elif category == "Zs":
            kept.append(" ")
        else:
            kept.append(char)
    name = re.sub(r" +", " ", "".join(kept)).strip(" .")
    if len(name) > NAME_MAX_CHARS:
        match = _EXTENSION.search(name)
        suffix = match.group(0) if match else ""
        name = name[: NAME_MAX_CHARS - len(suffix)].rstrip(" .") + suffix
    return name


def _extension(name: str) -> str | None:
    match = _EXTENSION.search(name)
    return match.group(1).lower() if match else None


# --- sniffing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TextProblem:
    code: str
    offset: int = 0
    char: str = ""


def _text_problem(data: bytes) -> _TextProblem | None:
    """None if ``data`` is clean UTF-8 text, else what is wrong with it as text."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _TextProblem("utf16")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _TextProblem("not_utf8", exc.start)
    # C0 and C1 controls other than tab, line feed, form feed and carriage return: no text
    # editor writes them, binary formats are full of them, and ESC/CSI sequences in a "text"
    # file can rewrite a caseworker's terminal when the file is printed there.
    match = re.search(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]", text)
    if match:
        offset = len(text[: match.start()].encode("utf-8"))
        return _TextProblem("control", offset, f"U+{ord(match.group()):04X}")
    return None


# Browsers render text as HTML when it starts like HTML (WHATWG MIME Sniffing §7.1, "rules for
# identifying an unknown MIME type"): these tags, after optional whitespace, followed by a
# space or ">". A caseworker's browser may do the same, so such files are refused, not stored
# as text.
_HTML_START = re.compile(
    rb"<(?:!doctype\s+html|html|head|script|iframe|h1|div|font|table|a|style|title|b|body|br|p)"
    rb"[\s>]|<!--",
    re.IGNORECASE,
)
_SVG = re.compile(rb"<svg[\s>]|<!doctype\s+svg", re.IGNORECASE)


def _markup_kind(data: bytes) -> str | None:
    head = data[:4096].removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\n\r\x0c")
    if _SVG.match(head) or (head[:5].lower() == b"<?xml" and _SVG.search(head)):
        return _("an SVG image, which can contain scripts")
    if _HTML_START.match(head):
        return _("a web page (HTML), which can contain scripts")
    if head[:5].lower() == b"<?xml":
        return _("an XML document, which browsers may run as a web page")
    return None


def _sniff(name: str, data: bytes) -> AcceptedType:
    guess = filetype.guess(data)
    if guess is not None and guess.mime in _BY_SNIFFED_MIME:
        return _BY_SNIFFED_MIME[guess.mime]
    problem = _text_problem(data)
    # Clean text wins over the weaker signatures: filetype calls anything starting "BM" a
    # bitmap and "MZ" a Windows program, but a real bitmap or program is never valid UTF-8
    # without control characters.
    if problem is None:
        return TEXT
    if guess is not None:
        family, what = _describe_guess(guess)
        if family == "document":
            raise _refuse(
                "office",
                _(
                    "“%(name)s” cannot be attached: it appears to be %(what)s, which can carry "
                    "macros and hidden data. Save it as PDF and attach the PDF."
                ),
                name=name,
                what=what,
            )
        raise _refuse(
            "type",
            _(
                "“%(name)s” cannot be attached: it appears to be %(what)s. You can attach %(accepted)s."
            ),
            name=name,
            what=what,
            accepted=ACCEPTED.description,
        )
    if _extension(name) in TEXT.extensions or problem.code == "utf16":
        raise _text_refusal(name, problem)
    raise _refuse(
        "unknown",
        _(
            "“%(name)s” cannot be attached: its content is not a type we recognise. "
            "You can attach %(accepted)s."
        ),
        name=name,
        accepted=ACCEPTED.description,
    )


def _text_refusal(name: str, problem: _TextProblem) -> FileRefused:
    if problem.code == "utf16":
        return _refuse(
            "not_utf8",
            _(
                "“%(name)s” is UTF-16 text; plain text must be UTF-8. Save it with UTF-8 "
                "encoding and attach it again."
            ),
            name=name,
        )
    if problem.code == "not_utf8":
        return _refuse(
            "not_utf8",
            _(
                "“%(name)s” cannot be attached as plain text: it is not valid UTF-8 (the first "
                "invalid byte is at position %(offset)s). Save it with UTF-8 encoding and "
                "attach it again."
            ),
            name=name,
            offset=problem.offset,
        )
    return _refuse(
        "control",
        _(
            "“%(name)s” cannot be attached as plain text: it contains a control character "
            "(%(char)s at byte %(offset)s) that text does not have; it may be a program or a "
            "data file."
        ),
        name=name,
        char=problem.char,
        offset=problem.offset,
    )


def _checked_name(name: str, kind: AcceptedType, raw_name: str) -> str:
    """The display name, with the extension checked against the content: a file must open in
    the program it was checked for. A name without extension gets the usual one."""
    ext = _extension(name)
    if ext is None:
        base = name or "attachment"
        return base[: NAME_MAX_CHARS - len(kind.extensions[0]) - 1] + "." + kind.extensions[0]
    if ext not in kind.extensions:
        raise _refuse(
            "extension",
            _(
                "“%(name)s” cannot be attached: its name ends in .%(ext)s but its content is "
                "%(what)s. If that is right, rename it to end in .%(expected)s and attach it again."
            ),
            name=name or raw_name,
            ext=ext,
            what=str(kind.label),
            expected=kind.extensions[0],
        )
    return name


# --- photos -----------------------------------------------------------------------------------

_EXIF = ExifTags.IFD.Exif
_GPS = ExifTags.IFD.GPSInfo
_IFD1 = ExifTags.IFD.IFD1
# EXIF tags grouped by what they reveal (tag numbers from the EXIF 2.32 / CIPA DC-008 tables,
# as named in PIL.ExifTags). Anything not listed still counts as "other EXIF data".
_IFD0_GROUPS = {
    0x010F: "camera",  # Make
    0x0110: "camera",  # Model
    0x0132: "date",  # DateTime
    0x013B: "author",  # Artist
    0x8298: "author",  # Copyright
    0x9C9D: "author",  # XPAuthor (Windows)
    0x0131: "software",  # Software
    0x013C: "software",  # HostComputer
}
_EXIF_GROUPS = {
    0x9003: "date",  # DateTimeOriginal
    0x9004: "date",  # DateTimeDigitized
    0x9010: "date",  # OffsetTime (time zone)
    0x9011: "date",  # OffsetTimeOriginal
    0x9012: "date",  # OffsetTimeDigitized
    0xA433: "camera",  # LensMake
    0xA434: "camera",  # LensModel
    0xA431: "serial",  # BodySerialNumber
    0xA435: "serial",  # LensSerialNumber
    0xA430: "author",  # CameraOwnerName
    0xA420: "unique_id",  # ImageUniqueID
    0x927C: "maker_note",  # MakerNote
}
# Offsets of the Exif, GPS and Interop IFDs, and Orientation, which is applied to the pixels
# rather than lost, so it is not worth telling the reporter about.
_NOT_LISTED = {int(_EXIF), int(_GPS), 0xA005, 0x0112}


def _labels() -> dict[str, str]:
    """Plain-language names of what may be stripped, in the active language."""
    return {
        "pdf_author": _("PDF author"),
        "pdf_creator": _("PDF creator (the application that made it)"),
        "pdf_producer": _("PDF producer (the software that wrote it)"),
        "pdf_title": _("PDF title"),
        "pdf_subject": _("PDF subject"),
        "pdf_keywords": _("PDF keywords"),
        "pdf_dates": _("PDF dates (created, modified)"),
        "pdf_other": _("other PDF document properties"),
        "gps": _("GPS location"),
        "camera": _("camera make and model"),
        "serial": _("camera serial number"),
        "date": _("date taken"),
        "author": _("author or owner name"),
        "software": _("software or device name"),
        "unique_id": _("unique photo identifier"),
        "maker_note": _("camera maker's private data (MakerNote)"),
        "thumbnail": _("embedded thumbnail picture"),
        "exif_other": _("other EXIF data"),
        "xmp": _("XMP metadata"),
        "iptc": _("IPTC data (captions, keywords, names, places)"),
        "icc": _("colour profile (ICC)"),
        "comment": _("comment"),
        "png_text": _("text notes embedded in the image"),
        "time": _("modification time"),
        "c2pa": _("content credentials (C2PA)"),
        "extra_images": _("additional embedded images"),
        "other": _("other embedded data"),
        "appended": _("data appended after the picture (for example a motion-photo video)"),
        "piece_info": _("application private data (PieceInfo)"),
        "annotation_authors": _("names of the authors of comments"),
        "file_id": _("file identifier"),
    }


def _exif_found(exif: Image.Exif) -> list[str]:
    found: list[str] = []
    if len(exif.get_ifd(_GPS)) or int(_GPS) in exif:
        found.append("gps")
    exif_ifd = exif.get_ifd(_EXIF)
    for tags, groups in ((exif, _IFD0_GROUPS), (exif_ifd, _EXIF_GROUPS)):
        for tag in tags:
            if tag in _NOT_LISTED:
                continue
            found.append(groups.get(tag, "exif_other"))
    if len(exif.get_ifd(_IFD1)):
        found.append("thumbnail")
    return found


def _png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes, int]]:
    """(type, payload, end offset) of each chunk of a PNG file. Written here because Pillow
    skips chunks it does not know (tIME, caBX) and the format is a fixed 8-byte header per
    chunk (PNG §5.3)."""
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        yield kind, data[pos + 8 : pos + 8 + length], end
        if kind == b"IEND":
            return
        pos = end


def _jpeg_end(data: bytes) -> int | None:
    """Offset just past the JPEG's end-of-image marker, or None if it cannot be found. Pillow
    stops reading there and does not say where; anything after it (a motion-photo video, the
    second picture of an MPF file, a hidden archive) is what this finds (ITU T.81 §B.1)."""
    pos, size = 2, len(data)
    while pos + 4 <= size:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:
            return pos + 2
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            pos += 2
            continue
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == 0xDA:  # start of scan: entropy-coded data runs to the next real marker
            while True:
                pos = data.find(b"\xff", pos)
                if pos < 0 or pos + 1 >= size:
                    return None
                following = data[pos + 1]
                if following == 0 or 0xD0 <= following <= 0xD7:  # stuffed byte or restart
                    pos += 2
                elif following == 0xFF:
                    pos += 1
                else:
                    break
    return None


def _appended(data: bytes, kind: AcceptedType) -> bool:
    """Is there something after the end of the picture? Zero padding does not count."""
    if kind is JPEG:
        end = _jpeg_end(data)
    elif kind is PNG:
        end = next((stop for chunk, _p, stop in _png_chunks(data) if chunk == b"IEND"), None)
    else:
        end = 8 + int.from_bytes(data[4:8], "little")  # RIFF size field
    return end is not None and bool(data[end:].strip(b"\0"))


def _riff_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(type, payload) of each top-level chunk of a WebP (RIFF) file; same reason."""
    pos = 12
    while pos + 8 <= len(data):
        kind, length = struct.unpack("<4sI", data[pos : pos + 8])
        yield kind, data[pos + 8 : pos + 8 + length]
        pos += 8 + length + (length & 1)


def _webp_lossless(data: bytes) -> bool:
    """Is the picture stored losslessly (a VP8L bitstream, also inside animation frames, whose
    ANMF header is 16 bytes)? Then the working copy is lossless too."""
    return any(
        kind == b"VP8L" or (kind == b"ANMF" and payload[16:20] == b"VP8L")
        for kind, payload in _riff_chunks(data)
    )


_PNG_HARMLESS = {
    b"IHDR",
    b"PLTE",
    b"IDAT",
    b"IEND",
    b"tRNS",
    b"gAMA",
    b"cHRM",
    b"sRGB",
    b"bKGD",
    b"pHYs",
    b"sBIT",
    b"acTL",
    b"fcTL",
    b"fdAT",
    b"cICP",
    b"mDCV",
    b"cLLI",
}
_PNG_GROUP = {
    b"tEXt": "png_text",
    b"zTXt": "png_text",
    b"iTXt": "png_text",
    b"iCCP": "icc",
    b"tIME": "time",
    b"caBX": "c2pa",
    b"eXIf": "",  # listed tag by tag from the parsed EXIF
}
_WEBP_KNOWN = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"EXIF", b"XMP ", b"ICCP"}


def _image_metadata(im: Image.Image, data: bytes, kind: AcceptedType) -> list[str]:
    """Keys of ``_labels()`` for the metadata actually present in the file."""
    found = _exif_found(im.getexif())
    info = im.info
    if info.get("xmp"):
        found.append("xmp")
    if info.get("icc_profile"):
        found.append("icc")
    if info.get("comment"):
        found.append("comment")
    if kind is JPEG:
        for marker, payload in getattr(im, "applist", []):
            if marker == "APP1" and payload.startswith(b"http://ns.adobe.com/x"):
                found.append("xmp")
            elif marker == "APP1" and not payload.startswith(b"Exif\0"):
                found.append("other")
            elif marker == "APP13":
                found.append("iptc")
            elif marker == "APP11":  # JUMBF boxes: C2PA manifests live here
                found.append("c2pa")
            elif marker == "APP2" and payload.startswith(b"MPF\0"):
                found.append("extra_images")
            elif marker == "APP2" and not payload.startswith(b"ICC_PROFILE\0"):
                found.append("other")
            elif marker == "COM":
                found.append("comment")
            elif marker not in ("APP0", "APP1", "APP2", "APP14"):  # JFIF and Adobe: no data
                found.append("other")
    elif kind is PNG:
        for chunk, payload, _end in _png_chunks(data):
            if chunk == b"iTXt" and payload.startswith(b"XML:com.adobe.xmp\0"):
                found.append("xmp")
            elif chunk in _PNG_GROUP:
                found.append(_PNG_GROUP[chunk])
            elif chunk not in _PNG_HARMLESS and chunk[:1].islower():  # ancillary, unknown
                found.append("other")
    elif kind is WEBP:
        found += ["other" for chunk, _payload in _riff_chunks(data) if chunk not in _WEBP_KNOWN]
    if _appended(data, kind):
        found.append("appended")
    labels = _labels()
    return [labels[key] for key in labels if key in found]


# EXIF orientation (tag 0x0112) → the transposition that shows the picture upright (EXIF 2.32
# §4.6.4, the same table as ImageOps.exif_transpose, which only handles one frame).
_ORIENT = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_90,),
}


def _to_srgb(frame: Image.Image, icc: bytes | None) -> Image.Image:
    """Convert from the embedded colour profile to sRGB so the picture keeps its colours once
    the profile (which can name the device) is dropped. A profile Pillow cannot use is dropped
    as is: the colours may shift slightly, the content does not."""
    if not icc or frame.mode not in ("RGB", "RGBA", "CMYK"):
        return frame
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(
            frame,
            source,
            ImageCms.createProfile("sRGB"),
            outputMode="RGBA" if frame.mode == "RGBA" else "RGB",
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return frame
    return converted if converted is not None else frame


def _clean_frame(frame: Image.Image, orientation: int, icc: bytes | None) -> Image.Image:
    for method in _ORIENT.get(orientation, ()):
        frame = frame.transpose(method)
    frame = _to_srgb(frame, icc)  # a CMYK JPEG without a profile stays CMYK: no guessing
    # Keep only what describes pixels; every metadata key is dropped here, so Pillow's encoders
    # (some fall back to ``im.info`` for comments or ICC) have nothing to write back. In place,
    # not on a copy: the opened image is ours alone and a copy of 50 MP costs 150 MB.
    frame.info = {k: v for k, v in frame.info.items() if k in ("transparency",)}
    return frame


def _image(name: str, data: bytes, kind: AcceptedType, max_pixels: int) -> tuple[bytes, list[str]]:
    what = str(kind.label)
    try:
        # Pillow warns (then raises) on images over its own global limit; the warning is turned
        # into an error here, and our tighter limit is checked before anything is decoded.
        # catch_warnings is process-wide: a race only changes whether another thread's Pillow
        # warning is printed.
        with warnings.catch_warnings():
            # Pillow's other warnings (a truncated EXIF block, an invalid APNG) are about the
            # upload's structure; they end as a refusal or a clean copy, not in the server log.
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=[_PILLOW_FORMAT[kind.media_type]])
            width, height = im.size
            frames = int(getattr(im, "n_frames", 1))
            if width * height * frames > max_pixels:
                raise _pixels_refusal(name, width, height, frames, max_pixels)
            im.load()
            stripped = _image_metadata(im, data, kind)
            working = _reencode(im, kind, data)
    except FileRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _refuse(
            "pixels",
            _(
                "“%(name)s” cannot be attached: the picture has more than %(limit)s million "
                "pixels, more than we can safely open. Attach a smaller version."
            ),
            name=name,
            limit=max_pixels // 1_000_000,
        ) from None
    except Exception:  # a hostile file may make any decoder fail in any way
        raise _refuse(
            "damaged",
            _(
                "“%(name)s” cannot be attached: it looks like %(what)s but it is damaged or "
                "incomplete and cannot be opened. Try exporting or copying it again."
            ),
            name=name,
            what=what,
        ) from None
    return working, stripped


def _pixels_refusal(name: str, width: int, height: int, frames: int, limit: int) -> FileRefused:
    if frames > 1:
        return _refuse(
            "pixels",
            _(
                "“%(name)s” cannot be attached: the animation has %(frames)s pictures of "
                "%(width)s × %(height)s pixels, more than the %(limit)s million pixels we can "
                "safely open. Attach a smaller version."
            ),
            name=name,
            frames=frames,
            width=width,
            height=height,
            limit=limit // 1_000_000,
        )
    return _refuse(
        "pixels",
        _(
            "“%(name)s” cannot be attached: the picture is %(width)s × %(height)s pixels, more "
            "than the %(limit)s million pixels we can safely open. Attach a smaller version."
        ),
        name=name,
        width=width,
        height=height,
        limit=limit // 1_000_000,
    )


def _reencode(im: Image.Image, kind: AcceptedType, data: bytes) -> bytes:
    """Encode the pixels again, with nothing else: the only way to be sure no metadata, trailing
    data or malformed structure reaches the caseworker's viewer."""
    orientation = int(im.getexif().get(0x0112, 1) or 1)
    icc = im.info.get("icc_profile")
    out = io.BytesIO()
    if kind is JPEG:
        # Keep the original chroma subsampling so re-encoding costs as little quality as it can.
        sampling = JpegImagePlugin.get_sampling(im)
        clean = _clean_frame(im, orientation, icc)
        if clean.mode not in ("RGB", "L", "CMYK"):
            clean = clean.convert("RGB")
        options: dict[str, Any] = {"subsampling": sampling if sampling >= 0 else 2}
        tables = getattr(im, "quantization", None)
        try:
            # The original's quantisation tables keep its quality and size (a phone photo at
            # quality 92 does not grow by a fifth by being saved at 95).
            if not tables:
                raise ValueError("no quantisation tables")
            clean.save(out, "JPEG", qtables=tables, **options)
        except (ValueError, TypeError, OSError):
            out = io.BytesIO()
            clean.save(out, "JPEG", quality=JPEG_QUALITY, **options)
        return out.getvalue()
    animated = bool(getattr(im, "is_animated", False))
    if animated:
        frames = []
        durations = []
        for frame in ImageSequence.Iterator(im):
            durations.append(int(frame.info.get("duration", 100) or 100))
            frames.append(_clean_frame(frame.convert("RGBA"), orientation, None))
        extra: dict[str, Any] = {
            "save_all": True,
            "append_images": frames[1:],
            "duration": durations,
            "loop": int(im.info.get("loop", 0) or 0),
        }
        clean = frames[0]
    else:
        clean = _clean_frame(im, orientation, icc)
        extra = {}
        if "transparency" in clean.info:
            extra["transparency"] = clean.info["transparency"]
    if kind is PNG:
        clean.save(out, "PNG", **extra)
    else:
        lossless = _webp_lossless(data)
        if clean.mode not in ("RGB", "RGBA"):
            clean = clean.convert("RGBA")
        clean.save(
            out, "WEBP", lossless=lossless, quality=100 if lossless else JPEG_QUALITY, **extra
        )
    return out.getvalue()


# --- PDF --------------------------------------------------------------------------------------


def _walk_pdf(pdf: pikepdf.Pdf) -> Iterator[Any]:
    """Every dictionary and stream of the file: all indirect objects (also unreferenced ones,
    which a hostile file may use to hide things) and the direct ones nested inside them.
    Iterative, because nesting depth is chosen by whoever made the file."""
    stack: list[Any] = [pdf.trailer, *pdf.objects]
    while stack:
        obj = stack.pop()
        if isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
            yield obj
            children = obj.values()
        elif isinstance(obj, pikepdf.Array):
            children = list(obj)
        else:
            continue
        for child in children:
            if isinstance(child, pikepdf.Dictionary | pikepdf.Stream | pikepdf.Array) and (
                not child.is_indirect
            ):
                stack.append(child)


def _is_javascript(action: Any) -> bool:
    """Does this action, or one chained after it with /Next, run JavaScript?"""
    todo, seen = [action], 0
    while todo and seen < 1000:
        item = todo.pop()
        seen += 1
        if isinstance(item, pikepdf.Array):
            todo.extend(item)
        elif isinstance(item, pikepdf.Dictionary):
            if "/JS" in item or item.get("/S") == pikepdf.Name.JavaScript:
                return True
            if "/Next" in item:
                todo.append(item.Next)
    return False


def _active_content(pdf: pikepdf.Pdf) -> list[str]:
    """What in the PDF could run or open something when a caseworker views it."""
    found: set[str] = set()
    root = pdf.Root
    if "/OpenAction" in root and _is_javascript(root.OpenAction):
        found.add("open_js")
    names = root.get("/Names")
    if isinstance(names, pikepdf.Dictionary):
        if "/JavaScript" in names:
            found.add("doc_js")
        if "/EmbeddedFiles" in names:
            found.add("embedded")
    acroform = root.get("/AcroForm")
    if isinstance(acroform, pikepdf.Dictionary) and "/XFA" in acroform:
        found.add("xfa")
    for obj in _walk_pdf(pdf):
        kind = obj.get("/S")
        if "/JS" in obj or kind == pikepdf.Name.JavaScript:
            found.add("js")
        if kind == pikepdf.Name.Launch:
            found.add("launch")
        if (
            "/EF" in obj
            or obj.get("/Type") == pikepdf.Name.EmbeddedFile
            or obj.get("/Subtype") == pikepdf.Name.FileAttachment
        ):
            found.add("embedded")
        additional = obj.get("/AA")
        if isinstance(additional, pikepdf.Dictionary) and any(
            _is_javascript(action) for action in additional.values()
        ):
            found.add("aa_js")
    if found & {"open_js", "doc_js", "aa_js"}:
        found.discard("js")  # already said more precisely
    labels = {
        "open_js": _("JavaScript that runs when the document is opened (OpenAction)"),
        "aa_js": _("JavaScript that runs automatically on page or form events (AA)"),
        "doc_js": _("document-level JavaScript"),
        "js": _("JavaScript in a link, bookmark, button or form field"),
        "launch": _("an action that launches a program or file (Launch)"),
        "embedded": _("embedded files"),
        "xfa": _("an XFA form, which can carry scripts"),
    }
    return [labels[key] for key in labels if key in found]


_INFO_GROUPS = {
    "/Author": "pdf_author",
    "/Creator": "pdf_creator",
    "/Producer": "pdf_producer",
    "/Title": "pdf_title",
    "/Subject": "pdf_subject",
    "/Keywords": "pdf_keywords",
    "/CreationDate": "pdf_dates",
    "/ModDate": "pdf_dates",
}
# Markup annotations carry their author's name in /T (PDF 32000-1 §12.5.6.2); on form fields
# /T is the field's name and is kept.
_MARKUP_ANNOTATIONS = {
    "/Text",
    "/FreeText",
    "/Line",
    "/Square",
    "/Circle",
    "/Polygon",
    "/PolyLine",
    "/Highlight",
    "/Underline",
    "/Squiggly",
    "/StrikeOut",
    "/Stamp",
    "/Caret",
    "/Ink",
    "/FileAttachment",
    "/Sound",
    "/Redact",
}


def _strip_pdf(pdf: pikepdf.Pdf) -> list[str]:
    """Remove identifying metadata in place; return the keys of ``_labels()`` found."""
    found: list[str] = []
    info = pdf.trailer.get("/Info")
    if isinstance(info, pikepdf.Dictionary):
        for key, value in info.items():
            if isinstance(value, pikepdf.String) and not str(value).strip():
                continue  # an empty property reveals nothing
            found.append(_INFO_GROUPS.get(key, "pdf_other"))
    if "/Info" in pdf.trailer:
        del pdf.trailer["/Info"]
    holders = list(_walk_pdf(pdf))
    for obj in holders:
        if "/Metadata" in obj:
            found.append("xmp")
            del obj["/Metadata"]
        if "/PieceInfo" in obj:
            found.append("piece_info")
            del obj["/PieceInfo"]
        if "/T" in obj and str(obj.get("/Subtype")) in _MARKUP_ANNOTATIONS:
            found.append("annotation_authors")
            del obj["/T"]
    if "/ID" in pdf.trailer:
        found.append("file_id")
        # qpdf keeps the first half of /ID across saves; it can tie this copy to the file it
        # came from. Without it qpdf writes a new one.
        del pdf.trailer["/ID"]
    labels = _labels()
    return [labels[key] for key in labels if key in found]


def _pdf(name: str, data: bytes) -> tuple[bytes, list[str]]:
    damaged = _(
        "“%(name)s” cannot be attached: the PDF is damaged or not a valid PDF file. "
        "Try saving or printing it to a new PDF."
    )
    try:
        # No repair: qpdf would rebuild a broken file by guessing, and the caseworker's viewer
        # might guess differently, so a file needing repair is refused as damaged.
        pdf = pikepdf.open(io.BytesIO(data), attempt_recovery=False)
    except pikepdf.PasswordError:
        raise _encrypted(name) from None
    except Exception:  # qpdf raises many types on hostile input
        raise _refuse("pdf_damaged", damaged, name=name) from None
    try:
        with pdf:
            if pdf.is_encrypted:
                raise _encrypted(name)
            if len(pdf.pages) == 0:
                raise _refuse("pdf_damaged", damaged, name=name)
            active = _active_content(pdf)
            if active:
                raise _refuse(
                    "pdf_active",
                    _(
                        "“%(name)s” cannot be attached: the PDF contains %(what)s. Active content "
                        "like this can attack the computer of whoever opens the file. Print it to "
                        "a new PDF, which leaves such content out, and attach that."
                    ),
                    name=name,
                    what=join_items(active, "semicolon"),
                )
            stripped = _strip_pdf(pdf)
            out = io.BytesIO()
            # Streams are copied as they are, never decoded: a few kilobytes of compressed data
            # can expand to gigabytes. A deterministic /ID makes the same upload give the same
            # working copy.
            pdf.save(
                out,
                stream_decode_level=pikepdf.StreamDecodeLevel.none,
                deterministic_id=True,
                fix_metadata_version=False,
            )
    except FileRefused:
        raise
    except Exception:  # objects are read lazily, so damage may surface here
        raise _refuse("pdf_damaged", damaged, name=name) from None
    return out.getvalue(), stripped


def _encrypted(name: str) -> FileRefused:
    return _refuse(
        "pdf_encrypted",
        _(
            "“%(name)s” cannot be attached: the PDF is encrypted or protected by a password, so "
            "it cannot be checked. Save a copy without a password and attach that."
        ),
        name=name,
    )


# --- entry point ------------------------------------------------------------------------------


def check_upload(
    name: str, data: bytes, *, max_bytes: int, max_pixels: int = MAX_IMAGE_PIXELS
) -> CheckedFile:
    """Check one uploaded file and make its working copy, or raise ``FileRefused``.

    ``name`` is what the browser sent (untrusted); ``data`` the whole content (the caller stops
    reading the request after ``max_bytes`` + 1 bytes, so memory stays bounded). Nothing is
    written anywhere; ``original`` is ``data`` itself.
    """
    data = bytes(data)
    display = clean_name(name)
    shown = display or _("(no name)")
    if not data:
        raise _refuse("empty", _("“%(name)s” is empty, so there is nothing to attach."), name=shown)
    if len(data) > max_bytes:
        size_mb, limit_mb = _megabytes(len(data), max_bytes)
        raise _refuse(
            "too_large",
            _(
                "“%(name)s” is %(size)s MB, over the limit of %(limit)s MB per file. Attach a "
                "smaller version (for example a photo at a lower resolution) or split it."
            ),
            name=shown,
            size=size_mb,
            limit=limit_mb,
        )
    kind = _sniff(shown, data)
    if kind is TEXT:
        # Before the name check, so "page.html" is told it is a web page, not a misnamed text.
        markup = _markup_kind(data)
        if markup:
            raise _refuse(
                "markup",
                _(
                    "“%(name)s” cannot be attached: it appears to be %(what)s. Save it as PDF "
                    "or plain text and attach that."
                ),
                name=shown,
                what=markup,
            )
    final_name = _checked_name(display, kind, shown)
    if kind is TEXT:
        # Plain text carries no hidden metadata: the working copy is the original.
        working, stripped = data, list[str]()
    elif kind is PDF:
        working, stripped = _pdf(final_name, data)
    else:
        working, stripped = _image(final_name, data, kind, max_pixels)
    return CheckedFile(
        name=final_name,
        media_type=kind.media_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        original=data,
        working=working,
        working_sha256=hashlib.sha256(working).hexdigest(),
        stripped=tuple(stripped),
    )
