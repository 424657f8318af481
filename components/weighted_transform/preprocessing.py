"""The preprocessing_fn of WeightedTransform: OD API keys unchanged + one weight per box.

The class -> weight lookup is a `tf.lookup.StaticHashTable` built inside the
transform graph, so `tft.TFTransformOutput(...).transform_features_layer()`
applies the same weights at training time. A class text without a weight stops
the run (an assertion in the graph): a silent weight of 0 would delete boxes.
"""

from collections.abc import Mapping
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from odweights import features

CLASS_WEIGHTS_KEY = "class_weights"
"""custom_config key: {class name: weight, a finite number > 0}, filled in by the executor."""

_MISSING_WEIGHT = -1.0


def preprocessing_fn(inputs: Mapping[str, Any], custom_config: Mapping[str, Any]) -> dict[str, Any]:
    """Passes every OD API key through, adds image/object/weight, drops the auxiliary keys
    that exist only for StatisticsGen (features.AUXILIARY_KEYS)."""
    class_weights = custom_config.get(CLASS_WEIGHTS_KEY)
    if not class_weights:
        raise ValueError(
            f"custom_config has no {CLASS_WEIGHTS_KEY!r}: WeightedTransform's executor "
            "fills it from the ClassWeights input; run the preprocessing_fn through "
            "WeightedTransform"
        )
    outputs = {key: inputs[key] for key in features.PER_IMAGE_KEYS + features.PER_BOX_KEYS}
    outputs[features.WEIGHT] = box_weights(inputs[features.CLASS_TEXT], class_weights)
    return outputs


def box_weights(class_text: tf.SparseTensor, class_weights: Mapping[str, float]) -> tf.SparseTensor:
    """The weight of each box's class, with the same indices as `class_text` (box order)."""
    names = sorted(class_weights)

    def make_table():
        return tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(names, dtype=tf.string),
                tf.constant([float(class_weights[name]) for name in names], dtype=tf.float32),
            ),
            default_value=_MISSING_WEIGHT,
        )

    if tf.inside_function():  # TF2 tracing: the table must be tracked to be saved
        table = tft.make_and_track_object(make_table, name="class_weight_table")
    else:  # tf.compat.v1 graph: the graph's table initializers are saved with it
        table = make_table()
    weights = table.lookup(class_text.values)
    missing = weights < 0
    check = tf.debugging.Assert(
        tf.logical_not(tf.reduce_any(missing)),
        [
            f"{features.CLASS_TEXT} holds classes that have no weight (known classes: "
            f"{', '.join(names)}); the weights must come from the same data and label "
            "map as the examples. Classes without a weight:",
            tf.boolean_mask(class_text.values, missing),
        ],
        summarize=20,
    )
    with tf.control_dependencies([check]):
        weights = tf.identity(weights)
    return tf.SparseTensor(class_text.indices, weights, class_text.dense_shape)
