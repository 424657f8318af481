"""A PNG of class counts (log scale) beside the resulting weights, drawn with Pillow.

One row per class, in label-map order. Same results => same bytes (no
timestamps or other metadata in the PNG).
"""

import io
import math
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

from odweights.components.weight_gen.weighting import ClassWeight

ROW_HEIGHT = 18
MARGIN = 12
HEADER_HEIGHT = 58
FOOTER_HEIGHT = 22
PANEL_WIDTH = 320
PANEL_GAP = 90  # room for the count printed after each bar
FLAGS_WIDTH = 190  # room for the weight and its flags after the last panel
MAX_NAME_WIDTH = 220

BACKGROUND = (255, 255, 255)
TEXT = (20, 20, 20)
GRID = (215, 215, 215)
UNIT_LINE = (120, 120, 120)  # weight 1: the average box under normalize mean
COUNT_BAR = (70, 110, 170)
WEIGHT_BAR = (215, 120, 40)
UNSEEN_TEXT = (180, 30, 30)


def render_png(results: Sequence[ClassWeight], title: str) -> bytes:
    """PNG bytes of the chart for `results`."""
    font = ImageFont.load_default()
    names = [_fit(result.name, font) for result in results]
    name_width = min(MAX_NAME_WIDTH, max(int(font.getlength(name)) for name in names)) + 8
    counts_left = MARGIN + name_width
    weights_left = counts_left + PANEL_WIDTH + PANEL_GAP
    width = weights_left + PANEL_WIDTH + FLAGS_WIDTH
    plot_top = HEADER_HEIGHT
    plot_bottom = plot_top + ROW_HEIGHT * len(results)
    height = plot_bottom + FOOTER_HEIGHT

    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.text((MARGIN, 8), title, fill=TEXT, font=font)
    draw.text((counts_left, 30), "objects per class (log scale)", fill=TEXT, font=font)
    axis_max = _axis_end(max(result.weight for result in results))
    draw.text(
        (weights_left, 30), f"weight on boxes (linear, 0 to {axis_max:g})", fill=TEXT, font=font
    )

    decades = max(1, math.ceil(math.log10(max(max(r.objects for r in results), 1))))
    for decade in range(decades + 1):
        x = counts_left + PANEL_WIDTH * decade / decades
        draw.line([(x, plot_top), (x, plot_bottom)], fill=GRID)
        draw.text((x - 3, plot_bottom + 4), f"1e{decade}", fill=TEXT, font=font)
    for quarter in range(5):
        tick = axis_max * quarter / 4
        x = weights_left + PANEL_WIDTH * quarter / 4
        draw.line([(x, plot_top), (x, plot_bottom)], fill=GRID)
        draw.text((x - 6, plot_bottom + 4), f"{tick:g}", fill=TEXT, font=font)
    unit_x = weights_left + PANEL_WIDTH / axis_max
    draw.line([(unit_x, plot_top - 4), (unit_x, plot_bottom)], fill=UNIT_LINE)

    for row, (result, name) in enumerate(zip(results, names, strict=True)):
        top = plot_top + row * ROW_HEIGHT + 3
        bottom = top + ROW_HEIGHT - 6
        text_y = top
        draw.text((MARGIN, text_y), name, fill=TEXT, font=font)
        if result.objects > 0:
            # log10(n) on an axis from 1e0; one object still gets a visible sliver.
            length = max(2.0, PANEL_WIDTH * math.log10(result.objects) / decades)
            draw.rectangle([counts_left, top, counts_left + length, bottom], fill=COUNT_BAR)
            draw.text((counts_left + length + 4, text_y), f"{result.objects}", fill=TEXT, font=font)
        else:
            draw.text((counts_left + 4, text_y), "0 (unseen)", fill=UNSEEN_TEXT, font=font)
        length = PANEL_WIDTH * result.weight / axis_max
        draw.rectangle([weights_left, top, weights_left + length, bottom], fill=WEIGHT_BAR)
        flags = f" ({', '.join(result.flags)})" if result.flags else ""
        draw.text(
            (weights_left + length + 4, text_y), f"{result.weight:.3g}{flags}", fill=TEXT, font=font
        )

    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def _axis_end(largest: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten that is >= the largest weight."""
    power = 10.0 ** math.floor(math.log10(largest))
    for step in (1, 2, 5, 10):
        if largest <= step * power * (1 + 1e-12):
            return step * power
    return 10 * power


def _fit(name: str, font) -> str:
    """The class name, shortened with '..' when wider than MAX_NAME_WIDTH."""
    if font.getlength(name) <= MAX_NAME_WIDTH:
        return name
    while name and font.getlength(name + "..") > MAX_NAME_WIDTH:
        name = name[:-1]
    return name + ".."
