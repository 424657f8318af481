"""Repeat-factor sampling (LVIS, Gupta et al. 2019) of the training split.

An image is written r_i times on average, r_i = max over its classes of the
class repeat factor (1 for an image without objects). Rounding:
- "ceil": ceil(r_i) copies (mmdetection's ClassBalancedDataset);
- "stochastic": floor(r_i) + 1 copy with probability frac(r_i) (detectron2's
  RepeatFactorTrainingSampler), the draw u = first 8 bytes of
  sha256("<seed>\\0<source_id>") / 2**64: the same seed gives the same copies
  whatever the processing order.
"""

import hashlib
import math
from collections.abc import Iterable, Mapping

from odweights.errors import BadInputError

NONE = "none"
RFS = "rfs"
RESAMPLE_MODES = (NONE, RFS)

STOCHASTIC = "stochastic"
CEIL = "ceil"
ROUNDING_MODES = (STOCHASTIC, CEIL)


def image_repeat_factor(
    class_names: Iterable[str], class_repeat_factors: Mapping[str, float]
) -> float:
    """max of the class repeat factors of the image's classes; 1.0 without objects."""
    factor = 1.0
    for name in class_names:
        if name not in class_repeat_factors:
            raise BadInputError(
                f"class {name!r} of an example has no repeat factor in class_weights.json; "
                "the weights must come from the same data and label map as the examples"
            )
        factor = max(factor, class_repeat_factors[name])
    return factor


def uniform_draw(seed: int, source_id: str) -> float:
    """A number in [0, 1) fixed by the seed and the image's source_id."""
    digest = hashlib.sha256(f"{seed}\0{source_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def copies(repeat_factor: float, rounding: str, seed: int, source_id: str) -> int:
    """How many times an image with this repeat factor is written (at least 1)."""
    if repeat_factor < 1.0 or not math.isfinite(repeat_factor):
        raise BadInputError(
            f"image {source_id!r} has repeat factor {repeat_factor}; repeat factors are "
            "finite and >= 1: recompute the class weights with WeightGen"
        )
    if rounding == CEIL:
        return math.ceil(repeat_factor)
    if rounding == STOCHASTIC:
        whole = math.floor(repeat_factor)
        return whole + (1 if uniform_draw(seed, source_id) < repeat_factor - whole else 0)
    raise ValueError(f"rounding must be one of {ROUNDING_MODES}, not {rounding!r}")
