"""The files of a ClassWeights artifact: `class_weights.json` and `class_weights.png`.

Downstream components read the weights back with `load_class_weights`.
"""

import json
import os
from typing import Any, Dict, Mapping, Optional, Sequence

import tensorflow as tf

from odweights.components.weight_gen.weighting import (
    ClassWeight, WeightOptions, mean_box_weight)
from odweights.errors import BadInputError

CLASS_WEIGHTS_FILE = "class_weights.json"
CHART_FILE = "class_weights.png"

SIGNIFICANT_DIGITS = 12


def fixed_float(value: Optional[float]) -> Optional[float]:
    """A float rounded to 12 significant digits, so the JSON text never depends on
    the last bits of a floating-point computation."""
    if value is None:
        return None
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def _fixed_parameters(parameters: Mapping[str, Any]) -> Dict[str, Any]:
    fixed: Dict[str, Any] = {}
    for key, value in parameters.items():
        if isinstance(value, Mapping):
            fixed[key] = _fixed_parameters(value)
        elif isinstance(value, float):
            fixed[key] = fixed_float(value)
        else:
            fixed[key] = value
    return fixed


def class_weights_document(options: WeightOptions, split: str, num_images: int,
                           results: Sequence[ClassWeight]) -> Dict[str, Any]:
    """The content of class_weights.json: classes in label-map id order.

    `normalize` is the scale that applied (the method's default if none was
    chosen); `mean_box_weight` is the box-weighted mean of the final weights
    over the split, from the counts (null without boxes).
    """
    return {
        "method": options.method,
        "parameters": _fixed_parameters(options.parameters()),
        "normalize": options.scale,
        "min_weight": fixed_float(options.min_weight),
        "max_weight": fixed_float(options.max_weight),
        "mean_box_weight": fixed_float(mean_box_weight(results)),
        "split": split,
        "num_images": num_images,
        "num_objects": sum(result.objects for result in results),
        "classes": [
            {
                "name": result.name,
                "id": result.id,
                "objects": result.objects,
                "images": result.images,
                "objects_in_images_with_class": result.objects_in_images_with_class,
                "raw_weight": fixed_float(result.raw_weight),
                "weight": fixed_float(result.weight),
                "repeat_factor": fixed_float(result.repeat_factor),
                "flags": list(result.flags),
            }
            for result in sorted(results, key=lambda result: result.id)
        ],
    }


def dumps(document: Mapping[str, Any]) -> str:
    """Deterministic JSON text: sorted keys, fixed indentation, UTF-8 names kept."""
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False,
                      allow_nan=False) + "\n"


def write_class_weights(artifact_uri: str, document: Mapping[str, Any], png: bytes) -> None:
    tf.io.gfile.makedirs(artifact_uri)
    with tf.io.gfile.GFile(os.path.join(artifact_uri, CLASS_WEIGHTS_FILE), "wb") as file:
        file.write(dumps(document).encode("utf-8"))
    with tf.io.gfile.GFile(os.path.join(artifact_uri, CHART_FILE), "wb") as file:
        file.write(png)


def load_class_weights(artifact_uri: str) -> Dict[str, Any]:
    """The parsed class_weights.json of a ClassWeights artifact (its `uri`)."""
    path = os.path.join(artifact_uri, CLASS_WEIGHTS_FILE)
    if not tf.io.gfile.exists(path):
        raise BadInputError(
            f"{path} does not exist: {artifact_uri} is not the URI of a ClassWeights "
            "artifact written by WeightGen")
    with tf.io.gfile.GFile(path, "rb") as file:
        return json.loads(file.read().decode("utf-8"))
