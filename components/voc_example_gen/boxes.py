"""VOC pixel boxes to the OD API's normalised boxes, with the reason a box is refused.

VOC coordinates are 1-based and inclusive; the OD API's own converter
(dataset_tools/create_pascal_tf_record.py) divides them by the image width and
height with no shift, and so does this module, so that boxes match those of
models trained on the OD API's VOC records.
"""

import math
from collections.abc import Sequence
from typing import NamedTuple


class BoxRejected(NamedTuple):
    reason: str
    detail: str


class NormalisedBox(NamedTuple):
    xmin: float
    ymin: float
    xmax: float
    ymax: float
    clipped: bool


def normalise_box(
    box: Sequence[str | None] | None, width: int, height: int, clip_tolerance: float
) -> NormalisedBox | BoxRejected:
    """(xmin, ymin, xmax, ymax) texts -> a box in [0, 1], or why it is refused.

    Checks in this order, the first failing one is the reason: missing_box,
    nan_coordinate, inverted_box, box_outside_image (beyond clip_tolerance,
    in normalised units), zero_area_box (after clipping). Coordinates outside
    [0, 1] by at most clip_tolerance are clipped and `clipped` is set.
    """
    if box is None:
        return BoxRejected("missing_box", "no <bndbox>")
    missing = [
        tag for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), box, strict=True) if not value
    ]
    if missing:
        return BoxRejected("missing_box", "no " + ", ".join(f"<{tag}>" for tag in missing))
    try:
        xmin, ymin, xmax, ymax = (float(value) for value in box)
    except ValueError:
        return BoxRejected("nan_coordinate", f"not a number in {tuple(box)}")
    if not all(math.isfinite(value) for value in (xmin, ymin, xmax, ymax)):
        return BoxRejected("nan_coordinate", f"non-finite coordinate in {tuple(box)}")
    pixels = f"x {xmin:g}..{xmax:g}, y {ymin:g}..{ymax:g}"
    if xmax < xmin or ymax < ymin:
        return BoxRejected("inverted_box", pixels)
    normalised = (xmin / width, ymin / height, xmax / width, ymax / height)
    if any(value < -clip_tolerance or value > 1.0 + clip_tolerance for value in normalised):
        return BoxRejected(
            "box_outside_image",
            f"{pixels} in a {width}x{height} image (clip_tolerance {clip_tolerance:g})",
        )
    clipped_box: tuple[float, ...] = tuple(min(1.0, max(0.0, value)) for value in normalised)
    nxmin, nymin, nxmax, nymax = clipped_box
    if nxmin >= nxmax or nymin >= nymax:
        return BoxRejected("zero_area_box", pixels)
    return NormalisedBox(nxmin, nymin, nxmax, nymax, clipped=clipped_box != normalised)
