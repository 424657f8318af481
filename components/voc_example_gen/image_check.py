"""Cheap checks of an image file: format, size, truncation, EXIF orientation.

The stored bytes of JPEG and PNG files are kept as they are (the OD API
decodes them with `tf.io.decode_image(..., channels=3)`), so a full decode is
not needed to accept an image: Pillow reads the header only, and truncation is
caught structurally (a JPEG must end with its EOI marker, a PNG with its IEND
chunk). Only images that must change are decoded: EXIF-rotated ones under
exif_policy='fix' and non-JPEG/PNG ones under reencode_unsupported.

What `tf.io.decode_image(..., channels=3)` does with other pixel modes (checked
with TF 2.16): grayscale (L, LA), palette (P), 16-bit (I;16), RGBA and CMYK
JPEG all decode to 3-channel uint8 (alpha dropped, CMYK converted), so they are
kept as they are and counted by mode in the totals.
"""

import io
from typing import NamedTuple, Optional, Union

from PIL import Image, ImageOps, UnidentifiedImageError

EXIF_ORIENTATION_TAG = 0x0112
EXIF_POLICIES = ("fix", "reject", "flag")
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
    encoded: bytes        # the bytes to store: the original file unless re-encoded
    format: str           # "jpeg" | "png"
    width: int
    height: int
    mode: str             # Pillow mode of the source image
    exif_orientation: int  # of the source image; 1 when absent
    exif_fixed: bool      # re-encoded upright (exif_policy='fix')
    reencoded_to_png: bool  # an unsupported format re-encoded (reencode_unsupported)


def sniff_format(data: bytes) -> Optional[str]:
    if data.startswith(_JPEG_SOI):
        return "jpeg"
    if data.startswith(_PNG_SIGNATURE):
        return "png"
    return None


def _truncation(data: bytes, image_format: str) -> Optional[str]:
    if image_format == "jpeg" and not data.rstrip(b"\x00").endswith(_JPEG_EOI):
        return "JPEG ends without its EOI marker (truncated file?)"
    if image_format == "png" and not data.endswith(_PNG_IEND):
        return "PNG ends without its IEND chunk (truncated file?)"
    return None


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


def check_image(data: bytes, exif_policy: str = "fix",
                reencode_unsupported: bool = False) -> Union[CheckedImage, ImageRejected]:
    """Checks image bytes; the result is what to store, or why the image is refused."""
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
                "(set reencode_unsupported=True to convert it to PNG)")
        try:
            image.load()
            encoded = _encode(image, "png")
        except (OSError, ValueError, SyntaxError) as error:
            return ImageRejected("corrupt_image", f"{image.format} image cannot be decoded: {error}")
        return CheckedImage(encoded, "png", image.width, image.height, image.mode, 1,
                            exif_fixed=False, reencoded_to_png=True)
    truncation = _truncation(data, image_format)
    if truncation:
        return ImageRejected("corrupt_image", truncation)
    orientation = _orientation(image, data, image_format)
    if orientation == 1 or exif_policy == "flag":
        return CheckedImage(data, image_format, image.width, image.height, image.mode,
                            orientation, exif_fixed=False, reencoded_to_png=False)
    if exif_policy == "reject":
        return ImageRejected(
            "exif_orientation",
            f"EXIF orientation {orientation}: the stored pixels are not upright "
            "(exif_policy='fix' re-encodes them upright)")
    try:
        upright = ImageOps.exif_transpose(image)
        encoded = _encode(upright, image_format)
    except (OSError, ValueError, SyntaxError) as error:
        return ImageRejected("corrupt_image", f"cannot be decoded to fix its orientation: {error}")
    return CheckedImage(encoded, image_format, upright.width, upright.height, image.mode,
                        orientation, exif_fixed=True, reencoded_to_png=False)
