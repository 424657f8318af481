"""The files of a ClassWeights artifact: `class_weights.json` and `class_weights.png`.

WeightGen writes them; WeightedTransform, OdExport and the application read the
weights back with `load_class_weights`. The file format is shared, so it lives in
the base rather than in any one component.
"""

import json
import os
from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from odweights.errors import BadInputError

CLASS_WEIGHTS_FILE = "class_weights.json"
CHART_FILE = "class_weights.png"

SIGNIFICANT_DIGITS = 12


def fixed_float(value: float | None) -> float | None:
    """A float rounded to 12 significant digits, so the JSON text never depends on
    the last bits of a floating-point computation."""
    if value is None:
        return None
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def dumps(document: Mapping[str, Any]) -> str:
    """Deterministic JSON text: sorted keys, fixed indentation, UTF-8 names kept."""
    return (
        json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    )


def write_class_weights(artifact_uri: str, document: Mapping[str, Any], png: bytes) -> None:
    tf.io.gfile.makedirs(artifact_uri)
    with tf.io.gfile.GFile(os.path.join(artifact_uri, CLASS_WEIGHTS_FILE), "wb") as file:
        file.write(dumps(document).encode("utf-8"))
    with tf.io.gfile.GFile(os.path.join(artifact_uri, CHART_FILE), "wb") as file:
        file.write(png)


def load_class_weights(artifact_uri: str) -> dict[str, Any]:
    """The parsed class_weights.json of a ClassWeights artifact (its `uri`)."""
    path = os.path.join(artifact_uri, CLASS_WEIGHTS_FILE)
    if not tf.io.gfile.exists(path):
        raise BadInputError(
            f"{path} does not exist: {artifact_uri} is not the URI of a ClassWeights "
            "artifact written by WeightGen"
        )
    with tf.io.gfile.GFile(path, "rb") as file:
        return json.loads(file.read().decode("utf-8"))
