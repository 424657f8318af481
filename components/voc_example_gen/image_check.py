"""Cheap checks of an image file: format, size, truncation, EXIF orientation.

The stored bytes of JPEG and PNG files are kept as they are (the OD API
decodes them with `tf.io.decode_image(..., channels=3)`), so a full decode is
not needed to accept an image: Pillow reads the header only, and truncation is
caught structurally (a JPEG's markers must lead to its EOI marker, a PNG must
end with its IEND chunk). Data after a JPEG's EOI (motion photos append a
video) is ignored by every decoder: such JPEGs are kept, and flagged. Only
images that must change are decoded: EXIF-rotated ones stored upright and
non-JPEG/PNG ones under reencode_unsupported.

EXIF orientation: the OD API's decoder ignores it, so the stored pixels must be
in the frame the boxes were drawn in (docs/ingest.md). exif_policy 'auto' finds
that frame from the annotation's <size>: the stored size keeps the stored
pixels (the orientation tag is set to 1 in place, no re-encoding), the rotated
size rotates them upright; where the size cannot tell (orientations 2-4, a
square image, no <size>) `exif_frame` decides, else the image is rejected.

What `tf.io.decode_image(..., channels=3)` does with other pixel modes (checked
with TF 2.16): grayscale (L, LA), palette (P), 16-bit (I;16), RGBA and CMYK
JPEG all decode to 3-channel uint8 (alpha dropped, CMYK converted), so they are
kept as they are and counted by mode in the totals.
"""

import io
import re
import struct
import zlib
from typing import NamedTuple

from PIL import Image, ImageOps, UnidentifiedImageError

EXIF_ORIENTATION_TAG = 0x0112
EXIF_POLICIES = ("auto", "fix", "reject", "flag")
EXIF_FRAMES = ("stored", "displayed")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"IEND\xaeB`\x82"
_JPEG_SOI = b"\xff\xd8\xff"
_JPEG_EOI = b"\xff\xd9"
# Pillow modes a PNG can store as they are; others are converted to RGB.
_PNG_MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16")


class ImageRejected(NamedTuple):
    reason: str
    detail: str


class CheckedImage(NamedTuple):
    encoded: bytes  # the bytes to store: the original file unless re-encoded
    format: str  # "jpeg" | "png"
    width: int
    height: int
    mode: str  # Pillow mode of the source image
    exif_orientation: int  # of the source image; 1 when absent
    exif_fixed: bool  # re-encoded upright (exif_policy 'fix', or 'auto' and displayed frame)
    reencoded_to_png: bool  # an unsupported format re-encoded (reencode_unsupported)
    exif_tag_removed: bool = False  # stored frame kept, orientation tag set to 1
    trailing_data: bool = False  # a JPEG with data after its EOI marker


def sniff_format(data: bytes) -> str | None:
    if data.startswith(_JPEG_SOI):
        return "jpeg"
    if data.startswith(_PNG_SIGNATURE):
        return "png"
    return None


# In entropy-coded data 0xFF is followed by 0x00 (stuffing) or a restart marker;
# any other byte after 0xFF is the next marker.
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def jpeg_end(data: bytes) -> int | None:
    """The offset just after the JPEG's EOI marker, found by walking its segments and
    scans (an EOI inside an embedded thumbnail does not count); None if it has none."""
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == 0xD9:
            return position + 2
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # no length field
            position += 2
            continue
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        position += 2 + length
        if marker == 0xDA:  # start of scan: entropy-coded data up to the next marker
            found = _NEXT_MARKER.search(data, position)
            if found is None:
                return None
            position = found.start()
    return position + 2 if data[position : position + 2] == _JPEG_EOI else None


def _truncation(data: bytes, image_format: str) -> tuple[str | None, bool]:
    """(why the file looks truncated or None, whether a JPEG has data after its EOI)."""
    if image_format == "jpeg":
        end = jpeg_end(data)
        if end is None:
            return "JPEG ends without its EOI marker (truncated file?)", False
        return None, bool(data[end:].strip(b"\x00"))
    if image_format == "png" and not data.endswith(_PNG_IEND):
        return "PNG ends without its IEND chunk (truncated file?)", False
    return None, False


def _tiff_orientation_offset(data: bytes, tiff: int) -> tuple[int, str] | None:
    """(offset of the orientation value, byte order) in the TIFF structure at `tiff`."""
    order = {b"II": "<", b"MM": ">"}.get(bytes(data[tiff : tiff + 2]))
    if order is None or tiff + 8 > len(data):
        return None
    (ifd,) = struct.unpack_from(order + "I", data, tiff + 4)
    if tiff + ifd + 2 > len(data):
        return None
    (count,) = struct.unpack_from(order + "H", data, tiff + ifd)
    for index in range(count):
        entry = tiff + ifd + 2 + 12 * index
        if entry + 12 > len(data):
            return None
        tag, value_type = struct.unpack_from(order + "HH", data, entry)
        if tag == EXIF_ORIENTATION_TAG and value_type == 3:  # SHORT, stored in place
            return entry + 8, order
    return None


def without_orientation(data: bytes, image_format: str) -> bytes | None:
    """The same file with its EXIF orientation set to 1 (pixels untouched, lossless);
    None when the tag cannot be found where EXIF puts it."""
    patched = bytearray(data)
    if image_format == "jpeg":
        position = 2
        while position + 4 <= len(data) and data[position] == 0xFF:
            marker = data[position + 1]
            if marker in (0xDA, 0xD9):
                return None
            length = int.from_bytes(data[position + 2 : position + 4], "big")
            if marker == 0xE1 and data[position + 4 : position + 10] == b"Exif\x00\x00":
                found = _tiff_orientation_offset(data, position + 10)
                if found is None:
                    return None
                offset, order = found
                struct.pack_into(order + "H", patched, offset, 1)
                return bytes(patched)
            position += 2 + length
        return None
    position = len(_PNG_SIGNATURE)
    while position + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, position)
        if data[position + 4 : position + 8] == b"eXIf":
            found = _tiff_orientation_offset(data, position + 8)
            if found is None:
                return None
            offset, order = found
            struct.pack_into(order + "H", patched, offset, 1)
            chunk = bytes(patched[position + 4 : position + 8 + length])
            struct.pack_into(">I", patched, position + 8 + length, zlib.crc32(chunk))
            return bytes(patched)
        position += 12 + length
    return None


def annotated_frame(
    orientation: int, stored_size: tuple[int, int], annotated_size: tuple[int, int] | None
) -> str | None:
    """'stored' or 'displayed' when the annotation's <size> tells the frame of its boxes;
    None when it cannot (orientations 2-4 and square images look the same in both
    frames, or no <size>). A size that matches neither frame is 'stored': the size
    check then reports the mismatch."""
    displayed = stored_size[::-1] if orientation >= 5 else stored_size
    if annotated_size is None or displayed == stored_size:
        return None
    return "displayed" if tuple(annotated_size) == displayed else "stored"


def _orientation(image: Image.Image, data: bytes, image_format: str) -> int:
    if image_format == "png" and b"eXIf" not in data:
        return 1  # Pillow would decode the whole PNG to look for a trailing eXIf chunk
    try:
        value = image.getexif().get(EXIF_ORIENTATION_TAG, 1)
    except Exception:  # pylint: disable=broad-except  # unreadable EXIF: TF ignores it too
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _encode(image: Image.Image, image_format: str) -> bytes:
    buffer = io.BytesIO()
    if image_format == "jpeg":
        if image.mode not in ("L", "RGB", "CMYK"):
            image = image.convert("RGB")
        image.save(buffer, "JPEG", quality=95)
    else:
        if image.mode not in _PNG_MODES:
            image = image.convert("RGBA" if "A" in image.mode else "RGB")
        image.save(buffer, "PNG")
    return buffer.getvalue()


def check_image(
    data: bytes,
    exif_policy: str = "auto",
    reencode_unsupported: bool = False,
    annotated_size: tuple[int, int] | None = None,
    exif_frame: str | None = None,
) -> CheckedImage | ImageRejected:
    """Checks image bytes; the result is what to store, or why the image is refused.

    `annotated_size`: the annotation's (width, height), if it gives one;
    `exif_frame`: the frame the boxes were drawn in where the size cannot tell.
    """
    image_format = sniff_format(data)
    try:
        image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as error:
        return ImageRejected("corrupt_image", f"not a readable image: {error}")
    if image_format is None:
        if not reencode_unsupported:
            return ImageRejected(
                "unsupported_format",
                f"{image.format} image; only JPEG and PNG are stored "
                "(set reencode_unsupported=True to convert it to PNG)",
            )
        try:
            image.load()
            encoded = _encode(image, "png")
        except (OSError, ValueError, SyntaxError) as error:
            return ImageRejected(
                "corrupt_image", f"{image.format} image cannot be decoded: {error}"
            )
        return CheckedImage(
            encoded,
            "png",
            image.width,
            image.height,
            image.mode,
            1,
            exif_fixed=False,
            reencoded_to_png=True,
        )
    truncation, trailing_data = _truncation(data, image_format)
    if truncation:
        return ImageRejected("corrupt_image", truncation)
    orientation = _orientation(image, data, image_format)
    if orientation == 1 or exif_policy == "flag":
        return CheckedImage(
            data,
            image_format,
            image.width,
            image.height,
            image.mode,
            orientation,
            exif_fixed=False,
            reencoded_to_png=False,
            trailing_data=trailing_data,
        )
    if exif_policy == "reject":
        return ImageRejected(
            "exif_orientation",
            f"EXIF orientation {orientation}: the stored pixels are not upright "
            "(exif_policy='fix' re-encodes them upright)",
        )
    if exif_policy == "auto":
        frame = annotated_frame(orientation, image.size, annotated_size) or exif_frame
        if frame is None:
            return ImageRejected(
                "exif_frame_ambiguous",
                f"EXIF orientation {orientation}, and the annotation's <size> cannot tell "
                "whether its boxes were drawn on the stored or the rotated pixels; say "
                "which with exif_frame (--exif-frame stored|displayed)",
            )
        if frame == "stored":
            return _stored_frame(image, data, image_format, orientation, trailing_data)
    try:
        upright = ImageOps.exif_transpose(image)
        encoded = _encode(upright, image_format)
    except (OSError, ValueError, SyntaxError) as error:
        return ImageRejected("corrupt_image", f"cannot be decoded to fix its orientation: {error}")
    return CheckedImage(
        encoded,
        image_format,
        upright.width,
        upright.height,
        image.mode,
        orientation,
        exif_fixed=True,
        reencoded_to_png=False,
    )


def _stored_frame(
    image: Image.Image, data: bytes, image_format: str, orientation: int, trailing_data: bool
) -> CheckedImage | ImageRejected:
    """The stored pixels without the orientation tag: patched in place, or re-encoded
    (without EXIF) when the tag is not where EXIF puts it."""
    encoded = without_orientation(data, image_format)
    if encoded is None:
        try:
            image.load()
            encoded = _encode(image, image_format)
        except (OSError, ValueError, SyntaxError) as error:
            return ImageRejected(
                "corrupt_image", f"cannot be decoded to drop its EXIF orientation: {error}"
            )
        trailing_data = False
    return CheckedImage(
        encoded,
        image_format,
        image.width,
        image.height,
        image.mode,
        orientation,
        exif_fixed=False,
        reencoded_to_png=False,
        exif_tag_removed=True,
        trailing_data=trailing_data,
    )
