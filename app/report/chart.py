"""An inline SVG chart of the classes: object count (log scale) against final weight.

One point per class with its name, so a user sees at a glance that rare
classes got the large weights. Numbers are written with fixed precision, so
the same classes give the same bytes.
"""

import math
from collections.abc import Sequence
from html import escape

WIDTH = 640
HEIGHT = 360
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 24, 16, 44
_MAX_LABELLED = 60  # more names than this would cover each other: points only


def _axis_max(largest: float) -> int:
    """The number of decades of the log axis: 10**n >= largest, at least 1."""
    return max(1, math.ceil(math.log10(max(largest, 1.0)) - 1e-12))


def _weight_ticks(largest: float) -> list[float]:
    """0 and round steps (1, 2 or 5 times a power of ten) up to at least `largest`."""
    rough = max(largest, 1e-12) / 4
    power = 10 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
    return [step * i for i in range(math.ceil(largest / step - 1e-9) + 1)]


def _label_position(
    x: float, y: float, width: float, placed: list[tuple[float, float, float, float]]
) -> tuple[float, float, str]:
    """Where a point's name goes: above right, below right, above left or below left,
    whichever overlaps no name placed before (else above right)."""
    candidates = [
        (x + 6, y - 5, "start"),
        (x + 6, y + 14, "start"),
        (x - 6, y - 5, "end"),
        (x - 6, y + 14, "end"),
    ]
    for tx, ty, anchor in candidates:
        left = tx if anchor == "start" else tx - width
        box = (left, ty - 10, left + width, ty + 2)
        if not any(
            box[0] < p[2] and p[0] < box[2] and box[1] < p[3] and p[1] < box[3] for p in placed
        ):
            placed.append(box)
            return tx, ty, anchor
    return candidates[0]


def counts_against_weights(points: Sequence[tuple[str, int, float]], title: str) -> str:
    """SVG markup for (class name, object count, final weight) points."""
    plot_width = WIDTH - _LEFT - _RIGHT
    plot_height = HEIGHT - _TOP - _BOTTOM
    decades = _axis_max(max([count for _, count, _ in points] + [1]))
    ticks = _weight_ticks(max([weight for _, _, weight in points] + [1e-12]))
    weight_max = ticks[-1] or 1.0

    def x_of(count: int) -> float:
        return _LEFT + plot_width * math.log10(max(count, 1)) / decades

    def y_of(weight: float) -> float:
        return _TOP + plot_height * (1.0 - weight / weight_max)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        'class="chart">',
        f"<title>{escape(title)}</title>",
        f'<rect x="{_LEFT}" y="{_TOP}" width="{plot_width}" height="{plot_height}" '
        'fill="#fafafa" stroke="#bbb"/>',
    ]
    for decade in range(decades + 1):
        x = x_of(10**decade)
        parts.append(
            f'<line x1="{x:.1f}" y1="{_TOP}" x2="{x:.1f}" y2="{_TOP + plot_height}" stroke="#ddd"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{_TOP + plot_height + 14}" text-anchor="middle" '
            f'font-size="11">{10**decade:,}</text>'
        )
    for weight in ticks:
        y = y_of(weight)
        parts.append(
            f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_LEFT + plot_width}" y2="{y:.1f}" '
            'stroke="#ddd"/>'
        )
        parts.append(
            f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'font-size="11">{weight:g}</text>'
        )
    parts.append(
        f'<text x="{_LEFT + plot_width / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle" '
        'font-size="12">objects of the class (log scale)</text>'
    )
    parts.append(
        f'<text x="14" y="{_TOP + plot_height / 2:.1f}" text-anchor="middle" '
        f'font-size="12" transform="rotate(-90 14 {_TOP + plot_height / 2:.1f})">'
        "final weight</text>"
    )
    labelled = len(points) <= _MAX_LABELLED
    placed: list[tuple[float, float, float, float]] = []
    for name, count, weight in points:
        x, y = x_of(count), y_of(weight)
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#d6604d">'
            f"<title>{escape(name)}: {count} objects, weight {weight:.4g}</title>"
            "</circle>"
        )
        if labelled:
            tx, ty, anchor = _label_position(x, y, 6.5 * len(name), placed)
            parts.append(
                f'<text x="{tx:.1f}" y="{ty:.1f}" text-anchor="{anchor}" '
                f'font-size="11">{escape(name)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
