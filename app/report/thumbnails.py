"""Small JPEG thumbnails with boxes drawn on them, as data: URIs for the HTML report.

Boxes are in normalised coordinates ([0, 1] inside the image); boxes that
stick out (a clipped box before clipping, a box rejected as outside the
image) widen the canvas around the image, up to OUTSIDE_MARGIN, so they stay
visible. The pixels are drawn as stored (no EXIF rotation): that is what the
boxes of the export refer to. Same image and boxes, same Pillow: same bytes.
"""

import base64
import io
import math
from collections.abc import Sequence
from typing import NamedTuple

from PIL import Image, ImageDraw, ImageFont

MAX_SIDE = 256
"""Longest side of a thumbnail in pixels, margins included."""
OUTSIDE_MARGIN = 0.25
"""How far outside the image (a fraction of its width/height) boxes are still drawn."""
JPEG_QUALITY = 80
MAX_IMAGE_BYTES = 16 * 1024 * 1024
"""Thumbnails one report holds at most (as data: URIs): with the text, the file stays
under 20 MB for any dataset, however many splits or rejection reasons it has."""
OVER_BUDGET = "not drawn: the report already holds its 16 MB of thumbnails"
_BACKGROUND = (225, 225, 225)
_LABEL_TEXT = (255, 255, 255)

KEPT = (26, 152, 80)
REJECTED = (215, 48, 39)
BEFORE_CLIPPING = (230, 120, 20)
AFTER_CLIPPING = (40, 110, 200)


class Box(NamedTuple):
    """A box in normalised image coordinates, its label and colour."""

    xmin: float
    ymin: float
    xmax: float
    ymax: float
    label: str
    colour: tuple[int, int, int]


class Decoded(NamedTuple):
    """An image as RGB, maybe reduced while decoding, and its stored size in pixels."""

    image: Image.Image
    width: int
    height: int


class Thumbnail(NamedTuple):
    data_uri: str
    width: int
    height: int


def decode(data: bytes) -> Decoded | None:
    """The image (JPEGs decoded at a reduced size); None if Pillow cannot read it."""
    try:
        image = Image.open(io.BytesIO(data))
        width, height = image.size
        image.draft("RGB", (MAX_SIDE, MAX_SIDE))
        return Decoded(image.convert("RGB"), width, height)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def _extent(boxes: Sequence[Box]) -> tuple[float, float, float, float]:
    """The drawn area in normalised coordinates: the image, widened to the boxes."""
    finite = [b for b in boxes if all(math.isfinite(v) for v in b[:4])]
    left = max(-OUTSIDE_MARGIN, min([0.0] + [b.xmin for b in finite]))
    top = max(-OUTSIDE_MARGIN, min([0.0] + [b.ymin for b in finite]))
    right = min(1.0 + OUTSIDE_MARGIN, max([1.0] + [b.xmax for b in finite]))
    bottom = min(1.0 + OUTSIDE_MARGIN, max([1.0] + [b.ymax for b in finite]))
    return left, top, right, bottom


def render(image: Image.Image, boxes: Sequence[Box]) -> Thumbnail:
    """A JPEG thumbnail (longest side <= MAX_SIDE) of `image` with `boxes` and their labels."""
    left, top, right, bottom = _extent(boxes)
    full_width = image.width * (right - left)
    full_height = image.height * (bottom - top)
    scale = MAX_SIDE / max(full_width, full_height, 1.0)
    if scale > 1.0:
        scale = 1.0
    width = max(1, round(full_width * scale))
    height = max(1, round(full_height * scale))
    inner = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    canvas = Image.new("RGB", (width, height), _BACKGROUND)
    origin = (round(-left * inner[0]), round(-top * inner[1]))
    canvas.paste(image.resize(inner, Image.Resampling.BILINEAR), origin)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default_imagefont()  # the bitmap font: 50 times faster than FreeType
    for box in boxes:
        if not all(math.isfinite(v) for v in box[:4]):
            continue
        x0, x1 = sorted((box.xmin, box.xmax))
        y0, y1 = sorted((box.ymin, box.ymax))
        corners = [
            origin[0] + x0 * inner[0],
            origin[1] + y0 * inner[1],
            origin[0] + x1 * inner[0],
            origin[1] + y1 * inner[1],
        ]
        draw.rectangle(corners, outline=box.colour, width=2)
        if box.label:  # inside the canvas even when the box starts outside it
            anchor = (
                min(max(corners[0], 0) + 2, width - 20),
                min(max(corners[1], 0) + 1, height - 12),
            )
            draw.rectangle(draw.textbbox(anchor, box.label, font=font), fill=box.colour)
            draw.text(anchor, box.label, fill=_LABEL_TEXT, font=font)
    buffer = io.BytesIO()
    canvas.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return Thumbnail(f"data:image/jpeg;base64,{encoded}", width, height)


class Budget:
    """Renders thumbnails until MAX_IMAGE_BYTES of them are in the report, then refuses."""

    def __init__(self, limit_bytes: int = MAX_IMAGE_BYTES):
        self.limit_bytes = limit_bytes
        self.used_bytes = 0

    def render(self, image: Image.Image, boxes: Sequence[Box]) -> Thumbnail | None:
        """render(image, boxes), or None once the budget is spent."""
        if self.used_bytes >= self.limit_bytes:
            return None
        thumbnail = render(image, boxes)
        if self.used_bytes + len(thumbnail.data_uri) > self.limit_bytes:
            self.used_bytes = self.limit_bytes
            return None
        self.used_bytes += len(thumbnail.data_uri)
        return thumbnail
