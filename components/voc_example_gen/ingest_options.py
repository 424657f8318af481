"""The VOC ExampleGen's ingest options: defaults and checks, without loading
TensorFlow, shared by the component and `odweights run` (exit 2 within a second)."""

from collections.abc import Sequence

from odweights.components.voc_example_gen.image_check import EXIF_FRAMES, EXIF_POLICIES
from odweights.errors import InvalidOptionsError
from odweights.label_map import parse_label_map
from odweights.numeric import is_number

DEFAULT_MAX_REJECTED_FRACTION = 0.01
DEFAULT_CLIP_TOLERANCE = 0.01
DEFAULT_EXIF_POLICY = "auto"


def training_split(splits: Sequence[str]) -> str:
    """The split the class weights are computed on: `train` if chosen, else the first."""
    return "train" if "train" in splits else splits[0]


def check_ingest_options(
    label_map_text: str | None,
    max_rejected_fraction: float,
    clip_tolerance: float,
    exif_policy: str,
    exif_frame: str | None = None,
) -> None:
    """Raises InvalidOptionsError for an option the VOC ExampleGen cannot use."""
    if label_map_text is not None:
        parse_label_map(label_map_text)
    if not (is_number(max_rejected_fraction) and 0.0 <= max_rejected_fraction <= 1.0):
        raise InvalidOptionsError(
            f"max rejected fraction must be a number in [0, 1] (0.01 allows 1% of images "
            f"and objects to be rejected), got {max_rejected_fraction!r}"
        )
    if not (is_number(clip_tolerance) and 0.0 <= clip_tolerance < 1.0):
        raise InvalidOptionsError(
            f"clip tolerance must be a number in [0, 1) (a fraction of the image's "
            f"width/height), got {clip_tolerance!r}"
        )
    if exif_policy not in EXIF_POLICIES:
        raise InvalidOptionsError(
            f"EXIF policy {exif_policy!r}: choose one of {', '.join(EXIF_POLICIES)}"
        )
    if exif_frame not in (None, "") + EXIF_FRAMES:
        raise InvalidOptionsError(
            f"EXIF frame {exif_frame!r}: choose one of {', '.join(EXIF_FRAMES)} (the frame "
            "the annotation tool drew the boxes in)"
        )
