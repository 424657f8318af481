"""One transformed example -> the bytes to export, checked against the OD API contract.

Checked per record, because the OD API checks none of it: every EXPORT_KEYS
feature present, one value per box in every per-box feature (weights included),
weights finite and > 0 (the OD API bounds them no further, see docs/weights.md),
no image-level label key, no statistics-only key.
"""

import math
from typing import NamedTuple

import tensorflow as tf

from odweights import features
from odweights.errors import BadInputError


class ExportRecord(NamedTuple):
    source_id: str
    class_texts: list[str]
    weights: list[float]
    serialized: bytes


def _fail(source_id: str | None, problem: str) -> None:
    raise BadInputError(
        f"transformed example {source_id or '(no image/source_id)'}: {problem}; the export "
        "takes WeightedTransform's transformed_examples, produced from the VOC ExampleGen's "
        "examples"
    )


def parse_export_record(serialized: bytes, unit_weights: bool = False) -> ExportRecord:
    """Checks a transformed tf.Example; returns it re-serialized deterministically.

    unit_weights: write weight 1.0 on every box instead of the class weights
    (resampled exports, which balance by repeating images instead).

    Deterministic serialization sorts the feature map by key, so the same
    example always has the same bytes (TFX's encoder does not promise an order).
    """
    example = tf.train.Example.FromString(serialized)
    feature = example.features.feature
    source_id = None
    if features.SOURCE_ID in feature and len(feature[features.SOURCE_ID].bytes_list.value) == 1:
        source_id = feature[features.SOURCE_ID].bytes_list.value[0].decode("utf-8")
    missing = [key for key in features.EXPORT_KEYS if key not in feature]
    if missing:
        _fail(source_id, f"features {', '.join(missing)} are missing")
    extra = sorted(set(feature) - set(features.EXPORT_KEYS))
    if extra:
        _fail(
            source_id,
            f"unexpected features {', '.join(extra)} (image-level labels "
            f"{features.FORBIDDEN_PREFIX}* and the statistics-only "
            f"{', '.join(features.AUXILIARY_KEYS)} must not reach the OD API)",
        )
    if source_id is None:
        _fail(source_id, f"{features.SOURCE_ID} must hold exactly one value")
    class_texts = [text.decode("utf-8") for text in feature[features.CLASS_TEXT].bytes_list.value]
    weights = list(feature[features.WEIGHT].float_list.value)
    for key in features.PER_BOX_KEYS + (features.WEIGHT,):
        kind = feature[key].WhichOneof("kind")
        length = len(getattr(feature[key], kind).value) if kind else 0
        if length != len(class_texts):
            _fail(source_id, f"{key} has {length} values for {len(class_texts)} boxes")
    if any(not (math.isfinite(weight) and weight > 0.0) for weight in weights):
        _fail(
            source_id, f"{features.WEIGHT} holds values that are not finite numbers > 0: {weights}"
        )
    if unit_weights:
        weights = [1.0] * len(weights)
        feature[features.WEIGHT].float_list.value[:] = weights
    return ExportRecord(
        source_id, class_texts, weights, example.SerializeToString(deterministic=True)
    )
