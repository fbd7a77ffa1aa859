"""Attachments: accepted types, refusals with their messages, and clean working copies.

Every sample is a real file made in tests/reporting/filesamples.py; working copies are read
back with the same libraries a caseworker's tools would use.
"""

from __future__ import annotations

import hashlib
import io
import struct

import pikepdf
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import ExifTags, Image, ImageSequence

from tests.reporting import filesamples as fs
from tnr.reporting.files import (
    ACCEPTED,
    MAX_IMAGE_PIXELS,
    NAME_MAX_CHARS,
    CheckedFile,
    FileRefused,
    check_upload,
    clean_name,
)

LIMIT = 10 * 1_000_000


def check(name: str, data: bytes, **kwargs: int) -> CheckedFile:
    return check_upload(name, data, max_bytes=kwargs.pop("max_bytes", LIMIT), **kwargs)


def refusal(name: str, data: bytes, **kwargs: int) -> FileRefused:
    with pytest.raises(FileRefused) as info:
        check(name, data, **kwargs)
    return info.value


def assert_canaries_absent(working: bytes) -> None:
    for canary in (fs.AUTHOR, fs.CAMERA_MAKE, fs.CAMERA_MODEL, fs.SERIAL):
        assert canary.encode() not in working
    assert fs.COMMENT not in working


# --- originals and hashes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("photo.jpg", fs.jpeg_with_gps),
        ("scan.png", fs.png_with_metadata),
        ("shot.webp", fs.webp_with_metadata),
        ("statement.pdf", fs.pdf_with_author),
        ("notes.txt", lambda: "Они следят за мной — مراقبة 👀\n".encode()),
    ],
)
def test_original_is_kept_byte_for_byte_with_correct_hashes(name, make):
    data = make()
    copy = bytes(data)
    checked = check(name, data)
    assert checked.original == copy
    assert data == copy  # the caller's bytes were not touched either
    assert checked.size == len(copy)
    assert checked.sha256 == hashlib.sha256(copy).hexdigest()
    assert checked.working_sha256 == hashlib.sha256(checked.working).hexdigest()


# --- photos ----------------------------------------------------------------------------------


def test_jpeg_gps_and_camera_data_are_removed_and_listed():
    data = fs.jpeg_with_gps()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # sample is real
    checked = check("photo.jpg", data)
    assert checked.media_type == "image/jpeg"
    assert checked.stripped == (
        "GPS location",
        "camera make and model",
        "camera serial number",
        "date taken",
    )
    working = Image.open(io.BytesIO(checked.working))
    assert working.format == "JPEG"
    exif = working.getexif()
    assert not exif.get_ifd(ExifTags.IFD.GPSInfo)
    assert len(exif) == 0
    assert {marker for marker, _ in working.applist} <= {"APP0"}
    assert_canaries_absent(checked.working)


@pytest.mark.parametrize("icc", [True, False])
def test_jpeg_xmp_icc_and_comment_are_removed_and_listed(icc):
    checked = check("photo.jpeg", fs.jpeg_with_everything(icc=icc))
    assert checked.stripped == (
        "GPS location",
        "camera make and model",
        "camera serial number",
        "date taken",
        "XMP metadata",
        *(["colour profile (ICC)"] if icc else []),
        "comment",
    )
    working = Image.open(io.BytesIO(checked.working))
    assert not {"exif", "xmp", "icc_profile", "comment"} & set(working.info)
    assert b"adobe:ns:meta" not in checked.working
    assert_canaries_absent(checked.working)


def test_jpeg_iptc_c2pa_and_appended_video_are_removed_and_listed():
    data = fs.jpeg_with_iptc_c2pa_and_video()
    assert Image.open(io.BytesIO(data)).size == (64, 48)  # still a picture to any viewer
    checked = check("PXL_20240305.MP.jpg", data)
    assert checked.stripped == (
        "GPS location",
        "camera make and model",
        "camera serial number",
        "date taken",
        "IPTC data (captions, keywords, names, places)",
        "content credentials (C2PA)",
        "data appended after the picture (for example a motion-photo video)",
    )
    for canary in (fs.IPTC_CANARY, fs.C2PA_CANARY, fs.VIDEO_CANARY):
        assert canary in data
        assert canary not in checked.working
    assert checked.working.endswith(b"\xff\xd9")


def test_png_with_an_archive_appended_loses_the_archive():
    checked = check("icon.png", fs.png_with_appended_zip())
    assert checked.stripped == (
        "data appended after the picture (for example a motion-photo video)",
    )
    assert b"PK\x03\x04" not in checked.working


def test_jpeg_without_metadata_reports_nothing_stripped():
    checked = check("photo.jpg", fs.plain_jpeg())
    assert checked.stripped == ()


@pytest.mark.parametrize("orientation", [6, 8])
def test_orientation_is_applied_before_exif_is_dropped(orientation):
    # Stored landscape 64 × 48, red on the left. Orientation 6 shows it rotated 90° clockwise
    # (red on top), orientation 8 rotated 90° anticlockwise (red at the bottom).
    checked = check("photo.jpg", fs.jpeg_with_gps(orientation=orientation))
    working = Image.open(io.BytesIO(checked.working)).convert("RGB")
    assert working.size == (48, 64)
    top, bottom = working.getpixel((24, 5)), working.getpixel((24, 58))
    red, blue = (top, bottom) if orientation == 6 else (bottom, top)
    assert red[0] > 200
    assert red[2] < 60
    assert blue[2] > 200
    assert blue[0] < 60
    assert 0x0112 not in Image.open(io.BytesIO(checked.working)).getexif()


def test_png_metadata_chunks_are_removed_and_pixels_kept_exactly():
    data = fs.png_with_metadata()
    checked = check("screenshot.png", data)
    assert checked.stripped == (
        "GPS location",
        "camera make and model",
        "camera serial number",
        "date taken",
        "XMP metadata",
        "text notes embedded in the image",
        "modification time",
        "content credentials (C2PA)",
    )
    assert png_chunk_types(checked.working) <= {b"IHDR", b"IDAT", b"IEND", b"PLTE", b"tRNS"}
    original, working = Image.open(io.BytesIO(data)), Image.open(io.BytesIO(checked.working))
    assert working.tobytes() == original.tobytes()  # PNG is lossless: same pixels
    assert_canaries_absent(checked.working)


def png_chunk_types(data: bytes) -> set[bytes]:
    types, pos = set(), 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        types.add(kind)
        pos += 12 + length
    return types


def test_png_transparency_survives():
    checked = check("icon.png", fs.png_palette_transparent())
    working = Image.open(io.BytesIO(checked.working)).convert("RGBA")
    assert working.getpixel((6, 0))[3] == 0  # palette index 0: transparent
    assert working.getpixel((1, 0)) == (255, 255, 255, 255)


def test_animated_png_keeps_its_frames():
    checked = check("animation.png", fs.animated_png(frames=3))
    assert checked.stripped == ("text notes embedded in the image",)
    working = Image.open(io.BytesIO(checked.working))
    reds = [frame.convert("RGBA").getpixel((0, 0))[0] for frame in ImageSequence.Iterator(working)]
    assert reds == [0, 40, 80]
    assert fs.AUTHOR.encode() not in checked.working


@pytest.mark.parametrize("lossless", [True, False])
def test_webp_exif_and_xmp_are_removed(lossless):
    data = fs.webp_with_metadata(lossless=lossless)
    checked = check("image.webp", data)
    assert checked.media_type == "image/webp"
    assert "GPS location" in checked.stripped
    assert "XMP metadata" in checked.stripped
    working = Image.open(io.BytesIO(checked.working))
    assert not {"exif", "xmp", "icc_profile"} & set(working.info)
    assert b"EXIF" not in checked.working
    assert b"XMP " not in checked.working
    if lossless:
        assert (
            working.convert("RGB").tobytes()
            == Image.open(io.BytesIO(data)).convert("RGB").tobytes()
        )
    assert_canaries_absent(checked.working)


@pytest.mark.parametrize("lossless", [True, False])
def test_animated_webp_keeps_frames_and_compression(lossless):
    data = fs.animated_webp(lossless=lossless)
    checked = check("sticker.webp", data)
    assert "GPS location" in checked.stripped
    original, working = Image.open(io.BytesIO(data)), Image.open(io.BytesIO(checked.working))
    assert working.n_frames == 3
    assert b"EXIF" not in checked.working
    if lossless:
        for index in range(3):
            original.seek(index)
            working.seek(index)
            assert working.convert("RGB").tobytes() == original.convert("RGB").tobytes()


def test_png_decompression_bomb_is_refused_before_decoding():
    bomb = fs.png_bomb(15_000)
    assert len(bomb) < 250_000  # 225 million pixels in under 250 KB
    refused = refusal("bomb.png", bomb)
    assert refused.code == "pixels"
    assert "“bomb.png”" in str(refused)
    assert "80 million pixels" in str(refused)


def test_picture_over_our_pixel_limit_names_its_size():
    # 9,000 × 9,000 = 81 M: above our limit, below the point where Pillow itself objects.
    refused = refusal("huge.png", fs.png_bomb(9_000))
    assert refused.code == "pixels"
    assert "9000 × 9000 pixels" in str(refused)
    assert MAX_IMAGE_PIXELS == 80_000_000


def test_pixel_limit_can_be_lowered_by_the_caller():
    refused = refusal("photo.jpg", fs.plain_jpeg(), max_pixels=1000)
    assert "64 × 48 pixels" in str(refused)


def test_truncated_jpeg_is_refused_as_damaged():
    refused = refusal("IMG_0042.jpg", fs.truncated_jpeg())
    assert refused.code == "damaged"
    assert str(refused).startswith("“IMG_0042.jpg” cannot be attached")
    assert "damaged or incomplete" in str(refused)


# --- disguised and refused types -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "make", "appears"),
    [
        ("holiday.jpg", fs.exe_named_jpg, "a Windows program (EXE)"),
        ("holiday.jpg", fs.elf_program, "a program (ELF executable)"),
        ("evidence.zip", fs.zip_bomb, "an archive (ZIP)"),
        ("photo.jpg", fs.zip_bomb, "an archive (ZIP)"),
    ],
)
def test_programs_and_archives_are_refused_by_content(name, make, appears):
    refused = refusal(name, make())
    assert refused.code == "type"
    assert str(refused) == (
        f"“{name}” cannot be attached: it appears to be {appears}. You can attach "
        "photos (JPEG, PNG, WebP), PDF documents and plain text (UTF-8)."
    )


def test_zip_bomb_is_refused_without_unpacking():
    bomb = fs.zip_bomb()
    assert len(bomb) < 200_000  # 100 MB of zeros inside
    refused = refusal("documents.zip", bomb, max_bytes=1_000_000)
    assert refused.code == "type"


def test_office_documents_are_refused_with_advice():
    refused = refusal("letter.docx", fs.docx())
    assert refused.code == "office"
    assert "office document (DOCX)" in str(refused)
    assert "Save it as PDF" in str(refused)


@pytest.mark.parametrize(
    ("name", "make", "appears"),
    [
        ("page.html", fs.html_page, "a web page (HTML)"),
        ("page.txt", fs.html_page, "a web page (HTML)"),
        ("logo.svg", fs.svg_image, "an SVG image"),
        ("logo.txt", fs.svg_image, "an SVG image"),
    ],
)
def test_html_and_svg_are_refused(name, make, appears):
    refused = refusal(name, make())
    assert refused.code == "markup"
    assert str(refused).startswith(f"“{name}” cannot be attached: it appears to be {appears}")


def test_text_mentioning_html_is_still_text():
    checked = check("message.txt", b"They sent me this: <script>alert(1)</script>\n")
    assert checked.media_type == "text/plain"


@pytest.mark.parametrize(
    ("name", "make", "ext", "content", "expected"),
    [
        ("photo.jpg", fs.png_palette_transparent, "jpg", "a PNG image", "png"),
        ("report.pdf", fs.plain_jpeg, "pdf", "a JPEG photo", "jpg"),
        ("notes.txt", fs.plain_pdf, "txt", "a PDF document", "pdf"),
        ("notes.html", lambda: b"just words", "html", "plain text", "txt"),
    ],
)
def test_extension_must_agree_with_content(name, make, ext, content, expected):
    refused = refusal(name, make())
    assert refused.code == "extension"
    assert str(refused) == (
        f"“{name}” cannot be attached: its name ends in .{ext} but its content is {content}. "
        f"If that is right, rename it to end in .{expected} and attach it again."
    )


def test_right_to_left_override_cannot_disguise_the_extension():
    # Displayed as "photoexe.jpg" but really ends in ".exe".
    refused = refusal("photo\u202egpj.exe", fs.plain_jpeg())
    assert refused.code == "extension"
    assert "“photogpj.exe”" in str(refused)
    assert "\u202e" not in str(refused)


def test_unrecognised_binary_is_refused():
    refused = refusal("data.bin", bytes(range(256)) * 4)
    assert refused.code == "unknown"
    assert str(refused).startswith("“data.bin” cannot be attached: its content is not a type")


# --- size and emptiness ---------------------------------------------------------------------


def test_size_limit_in_megabytes():
    data = b"a" * 2_000_001
    refused = refusal("long.txt", data, max_bytes=2_000_000)
    assert refused.code == "too_large"
    assert str(refused) == (
        "“long.txt” is 2.000001 MB, over the limit of 2 MB per file. Attach a smaller version "
        "(for example a photo at a lower resolution) or split it."
    )
    assert check("long.txt", data[:-1], max_bytes=2_000_000).size == 2_000_000


@pytest.mark.parametrize(
    ("size", "limit", "shown"),
    [
        (10_040_000, 10_000_000, "is 10.04 MB, over the limit of 10 MB"),
        (25_000_000, 10_000_000, "is 25 MB, over the limit of 10 MB"),
        (10_485_761, 10_485_760, "is 10.48 MB, over the limit of 10.4 MB"),  # 10 MiB
    ],
)
def test_size_message_never_rounds_to_the_limit(size, limit, shown):
    refused = refusal("photo.jpg", b"\xff" * size, max_bytes=limit)
    assert shown in str(refused)


def test_size_is_checked_before_content():
    refused = refusal("big.exe", fs.exe_named_jpg(), max_bytes=100)
    assert refused.code == "too_large"


def test_empty_file_is_refused():
    refused = refusal("empty.txt", b"")
    assert refused.code == "empty"
    assert "“empty.txt” is empty" in str(refused)


# --- PDF ---------------------------------------------------------------------------------------


def test_pdf_info_xmp_and_annotation_author_are_removed():
    data = fs.pdf_with_author()
    with pikepdf.open(io.BytesIO(data)) as original:
        assert original.docinfo["/Author"] == fs.AUTHOR  # the sample really carries them
        assert "/Metadata" in original.Root
        original_id = bytes(original.trailer.ID[0])
    checked = check("statement.pdf", data)
    assert checked.media_type == "application/pdf"
    assert checked.stripped == (
        "PDF author",
        "PDF creator (the application that made it)",
        "PDF producer (the software that wrote it)",
        "PDF title",
        "PDF dates (created, modified)",
        "XMP metadata",
        "names of the authors of comments",
        "file identifier",
    )
    with pikepdf.open(io.BytesIO(checked.working)) as working:
        assert "/Info" not in working.trailer
        assert "/Metadata" not in working.Root
        assert bytes(working.trailer.ID[0]) != original_id
        assert len(working.pages) == 1
        assert working.pages[0].Contents.read_bytes() == fs.PAGE_TEXT
        annotation = working.pages[0].Annots[0]
        assert "/T" not in annotation
        assert str(annotation.Contents) == "see page 2"  # the comment itself is content
        for obj in working.objects:
            assert fs.AUTHOR not in str(obj)
    assert fs.AUTHOR.encode() not in checked.working
    assert b"CanaryWriter" not in checked.working


def test_pdf_earlier_revisions_are_not_in_the_working_copy():
    data = fs.pdf_with_earlier_revision()
    assert fs.EARLIER_TEXT in data
    with pikepdf.open(io.BytesIO(data), attempt_recovery=False) as original:
        assert original.pages[0].Contents.read_bytes() == fs.PAGE_TEXT  # the update is valid
    checked = check("redacted.pdf", data)
    assert fs.EARLIER_TEXT not in checked.working
    with pikepdf.open(io.BytesIO(checked.working)) as working:
        assert working.pages[0].Contents.read_bytes() == fs.PAGE_TEXT


def test_same_pdf_gives_the_same_working_copy():
    data = fs.pdf_with_author()
    assert check("a.pdf", data).working_sha256 == check("b.pdf", data).working_sha256


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ("open", "JavaScript that runs when the document is opened (OpenAction)"),
        ("aa", "JavaScript that runs automatically on page or form events (AA)"),
        ("names", "document-level JavaScript"),
        ("link", "JavaScript in a link, bookmark, button or form field"),
        ("outline", "JavaScript in a link, bookmark, button or form field"),
    ],
)
def test_pdf_with_javascript_is_refused_saying_where(where, reason):
    refused = refusal("invoice.pdf", fs.pdf_with_javascript(where))
    assert refused.code == "pdf_active"
    assert str(refused).startswith(f"“invoice.pdf” cannot be attached: the PDF contains {reason}.")


def test_pdf_with_launch_action_is_refused():
    refused = refusal("invoice.pdf", fs.pdf_with_launch())
    assert "an action that launches a program or file (Launch)" in str(refused)


def test_pdf_with_embedded_file_is_refused():
    refused = refusal("invoice.pdf", fs.pdf_with_embedded_file())
    assert refused.code == "pdf_active"
    assert "the PDF contains embedded files." in str(refused)


@pytest.mark.parametrize("user_password", ["secret", ""])
def test_encrypted_pdf_is_refused(user_password):
    refused = refusal("locked.pdf", fs.pdf_encrypted(user_password))
    assert refused.code == "pdf_encrypted"
    assert "“locked.pdf”" in str(refused)
    assert "encrypted or protected by a password" in str(refused)


@pytest.mark.parametrize(
    "data",
    [fs.truncated_pdf(), b"%PDF-1.7\n" + b"not really a pdf\n" * 20, b"%PDF-1.4\n%%EOF\n"],
    ids=["truncated", "garbage", "empty-body"],
)
def test_malformed_pdf_is_refused(data):
    refused = refusal("broken.pdf", data)
    assert refused.code == "pdf_damaged"
    assert str(refused).startswith("“broken.pdf” cannot be attached: the PDF is damaged")


# --- plain text ---------------------------------------------------------------------------------


def test_utf8_text_is_accepted_unchanged():
    data = "Arabic: مرحبا\nPersian: می‌خواهم\nUyghur: ئۇيغۇر\n🙂\n".encode()
    checked = check("chat.txt", data)
    assert checked.media_type == "text/plain"
    assert checked.working == data
    assert checked.working_sha256 == checked.sha256
    assert checked.stripped == ()


def test_text_starting_like_a_weak_signature_is_still_text():
    # filetype alone would call this a bitmap ("BM") and the next one a program ("MZ").
    assert check("car.txt", b"BMW parked outside my flat").media_type == "text/plain"
    assert check("names.txt", b"MZ and others").media_type == "text/plain"


def test_text_that_is_not_utf8_says_so_and_where():
    refused = refusal("letter.txt", "Café Zürich".encode("latin-1"))
    assert refused.code == "not_utf8"
    assert "not valid UTF-8" in str(refused)
    assert "position 3" in str(refused)


def test_utf16_text_is_named_as_such():
    refused = refusal("letter.txt", "hello".encode("utf-16"))
    assert str(refused).startswith("“letter.txt” is UTF-16 text; plain text must be UTF-8.")


def test_terminal_escape_sequences_are_refused():
    refused = refusal("log.txt", b"ok\n\x1b]0;pwned\x07\x1b[2J")
    assert refused.code == "control"
    assert "U+001B at byte 3" in str(refused)


def test_text_without_extension_gets_one():
    assert check("notes", b"hello").name == "notes.txt"
    assert check("", fs.plain_jpeg()).name == "attachment.jpg"


# --- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("C:\\fakepath\\photo.jpg", "photo.jpg"),
        ("../../etc/passwd.txt", "passwd.txt"),
        ("a\u202eb\u2066c\u200fd.jpg", "abcd.jpg"),
        ("line\nbreak\ttab.jpg", "line break tab.jpg"),
        ("zero\x00byte.jpg", "zerobyte.jpg"),
        ("  .hidden.jpg  ", "hidden.jpg"),
        ("می\u200cخواهم.jpg", "می\u200cخواهم.jpg"),  # ZWNJ is part of Persian spelling
        ("e\u0301.jpg", "é.jpg"),  # NFC
        ("\u202e\u202e", ""),
    ],
)
def test_clean_name(raw, clean):
    assert clean_name(raw) == clean


def test_long_names_are_capped_keeping_the_extension():
    name = clean_name("ش" * 500 + ".jpeg")
    assert len(name) == NAME_MAX_CHARS
    assert name.endswith("ش.jpeg")


# --- the form's description ------------------------------------------------------------------


def test_accepted_types_for_the_form():
    assert ACCEPTED.description == "photos (JPEG, PNG, WebP), PDF documents and plain text (UTF-8)"
    assert str(ACCEPTED) == ACCEPTED.description  # what {{ accepted_files }} shows in a template
    parts = ACCEPTED.html_accept.split(",")
    assert {"image/jpeg", "image/png", "image/webp", "application/pdf", "text/plain"} <= set(parts)
    assert {".jpg", ".png", ".webp", ".pdf", ".txt"} <= set(parts)
    assert ".zip" not in parts
    assert ACCEPTED.by_media_type("application/pdf").extensions == ("pdf",)


def test_messages_and_labels_go_through_gettext(monkeypatch):
    """Every message is looked up in the catalogue before its values are filled in, so a
    translation may move the file name anywhere in the sentence."""
    from tnr.reporting import files

    monkeypatch.setattr(files, "_", lambda text: "«" + text + "»")
    refused = refusal("x.pdf", fs.pdf_with_javascript("open"))
    assert str(refused).startswith("«“x.pdf” cannot be attached: the PDF contains «JavaScript")
    assert check("photo.jpg", fs.jpeg_with_gps()).stripped[0] == "«GPS location»"
    assert ACCEPTED.description.startswith("«photos")


# --- fuzzing: nothing but FileRefused ------------------------------------------------------

SAMPLES = [
    ("photo.jpg", fs.jpeg_with_everything()),
    ("photo.png", fs.png_with_metadata()),
    ("anim.png", fs.animated_png()),
    ("photo.webp", fs.webp_with_metadata(lossless=False)),
    ("doc.pdf", fs.pdf_with_author()),
    ("doc.pdf", fs.pdf_with_javascript("link")),
    ("notes.txt", "plain words ✓\n".encode()),
]
NAMES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["a.jpg", "a.png", "a.webp", "a.pdf", "a.txt", "a", "a.exe", "a.svg"]),
)


def outcome(name: str, data: bytes) -> CheckedFile | None:
    """Whatever the input, the checker returns a CheckedFile or raises FileRefused."""
    try:
        checked = check(name, data, max_bytes=1_000_000, max_pixels=4_000_000)
    except FileRefused as refused:
        checked, message = None, str(refused)
    if checked is None:
        assert message  # every refusal explains itself
        return None
    assert checked.original == data
    return checked


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=NAMES, data=st.binary(max_size=2048))
def test_random_bytes_never_crash(name, data):
    outcome(name, data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sample=st.sampled_from(SAMPLES),
    flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=8),
    keep=st.one_of(st.just(1.0), st.floats(0.05, 1)),
)
def test_damaged_real_files_never_crash(sample, flips, keep):
    name, data = sample
    mutated = bytearray(data[: max(1, int(len(data) * keep))])
    for where, value in flips:
        mutated[int(where * len(mutated))] = value
    checked = outcome(name, bytes(mutated))
    if checked is not None and checked.media_type.startswith("image/"):
        Image.open(io.BytesIO(checked.working)).load()  # an accepted picture really opens
