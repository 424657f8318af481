"""WeightedTransform's preprocessing_fn on real tf.Transform (Beam), its executor helpers
and its component spec. The component inside a TFX pipeline, with ML Metadata,
is tested with the export in tests/components/od_export/."""

import functools
import json

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tfx import v1 as tfx
from tfx.types import standard_artifacts

from odweights import artifact_types, features
from odweights.components.weighted_transform import component, executor
from odweights.components.weighted_transform.preprocessing import preprocessing_fn
from odweights.errors import BadInputError

# Weights above 1 are as valid as below: a box-weighted mean of 1 puts rare classes above it.
WEIGHTS = {"cat": 0.25, "dog": 2.5, "bird": 0.5}
_STRING_KEYS = {
    features.FILENAME,
    features.SOURCE_ID,
    features.KEY_SHA256,
    features.ENCODED,
    features.FORMAT,
    features.CLASS_TEXT,
    features.VIEW,
    *features.AUXILIARY_KEYS,
}
RAW_FEATURE_SPEC = {
    key: tf.io.VarLenFeature(
        tf.string if key in _STRING_KEYS else tf.float32 if key in features.BBOX_KEYS else tf.int64
    )
    for key in features.EXAMPLE_GEN_KEYS
}


def _raw_example(index, class_names):
    boxes = len(class_names)
    return {
        features.HEIGHT: [30],
        features.WIDTH: [40],
        features.FILENAME: [f"{index}.jpg".encode()],
        features.SOURCE_ID: [f"2007_{index:06d}".encode()],
        features.KEY_SHA256: [b"0" * 64],
        # bytes that are not valid UTF-8, as JPEG data
        features.ENCODED: [bytes([0xFF, 0xD8, 0x00, 0x80, index, 0xFF, 0xD9])],
        features.FORMAT: [b"jpeg"],
        features.BBOX_XMIN: [0.1 * i for i in range(boxes)],
        features.BBOX_XMAX: [0.1 * i + 0.05 for i in range(boxes)],
        features.BBOX_YMIN: [0.2] * boxes,
        features.BBOX_YMAX: [0.3] * boxes,
        features.CLASS_TEXT: [name.encode() for name in class_names],
        features.CLASS_LABEL: [len(name) for name in class_names],
        features.DIFFICULT: [0] * boxes,
        features.TRUNCATED: [1] * boxes,
        features.VIEW: [b"Frontal"] * boxes,
        features.CLASSES_IN_IMAGE: sorted({name.encode() for name in class_names}),
        features.OBJECTS_IN_IMAGES_WITH_CLASS: [
            name.encode() for name in sorted(set(class_names)) for _ in class_names
        ],
    }


RAW_DATA = [
    _raw_example(1, ["cat", "dog", "cat"]),
    _raw_example(2, []),
    _raw_example(3, ["bird"]),
    _raw_example(4, ["dog", "bird", "cat", "dog"]),
]


def _analyze_and_transform(
    raw_data, weights, temp_dir, transform_fn_dir=None, force_tf_compat_v1=True
):
    metadata = tft.DatasetMetadata.from_feature_spec(RAW_FEATURE_SPEC)
    with tft_beam.Context(temp_dir=str(temp_dir), force_tf_compat_v1=force_tf_compat_v1):
        (transformed, transformed_metadata), transform_fn = (
            raw_data,
            metadata,
        ) | tft_beam.AnalyzeAndTransformDataset(
            functools.partial(preprocessing_fn, custom_config={"class_weights": weights}),
            output_record_batches=False,
        )
        if transform_fn_dir:
            _ = transform_fn | tft_beam.WriteTransformFn(str(transform_fn_dir))
    return transformed, transformed_metadata


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
    root = tmp_path_factory.mktemp("tft")
    data, metadata = _analyze_and_transform(RAW_DATA, WEIGHTS, root / "tmp", root / "graph")
    return data, metadata, root / "graph"


def test_od_api_keys_pass_through_unchanged(transformed):
    data, _, _ = transformed
    assert len(data) == len(RAW_DATA)
    for raw, output in zip(RAW_DATA, data, strict=True):
        assert sorted(output) == sorted(features.EXPORT_KEYS)
        for key in features.PER_IMAGE_KEYS + features.PER_BOX_KEYS:
            expected = np.array(raw[key], dtype=RAW_FEATURE_SPEC[key].dtype.as_numpy_dtype)
            np.testing.assert_array_equal(output[key], expected, err_msg=key)
        assert output[features.ENCODED][0] == raw[features.ENCODED][0]


def test_one_weight_per_box_in_box_order(transformed):
    data, _, _ = transformed
    for raw, output in zip(RAW_DATA, data, strict=True):
        expected = [np.float32(WEIGHTS[name.decode()]) for name in raw[features.CLASS_TEXT]]
        assert output[features.WEIGHT].dtype == np.float32
        np.testing.assert_array_equal(output[features.WEIGHT], expected)


def test_outputs_stay_variable_length_lists(transformed):
    _, metadata, _ = transformed
    spec = (
        metadata.schema
        and tft.tf_metadata.schema_utils.schema_as_feature_spec(metadata.schema).feature_spec
    )
    assert sorted(spec) == sorted(features.EXPORT_KEYS)
    for key, feature_spec in spec.items():
        assert isinstance(feature_spec, tf.io.VarLenFeature), key


def _check_weights_of_saved_graph(graph_dir):
    tf_transform_output = tft.TFTransformOutput(str(graph_dir))
    class_text = tf.sparse.from_dense(tf.constant([[b"dog", b"bird", b"cat"]]))
    raw = {
        key: tf.sparse.from_dense(tf.zeros([1, 3], dtype=spec.dtype))
        for key, spec in RAW_FEATURE_SPEC.items()
    }
    raw[features.CLASS_TEXT] = class_text
    outputs = tf_transform_output.transform_features_layer()(raw)
    np.testing.assert_array_equal(
        tf.sparse.to_dense(outputs[features.WEIGHT]).numpy(), [[2.5, 0.5, 0.25]]
    )


def test_transform_graph_applies_the_same_weights_at_training_time(transformed):
    _check_weights_of_saved_graph(transformed[2])


def test_tf2_mode_gives_the_same_outputs_and_graph(transformed, tmp_path):
    data, _ = _analyze_and_transform(
        RAW_DATA, WEIGHTS, tmp_path / "tmp", tmp_path / "graph", force_tf_compat_v1=False
    )
    for tf2_output, compat_output in zip(data, transformed[0], strict=True):
        assert sorted(tf2_output) == sorted(compat_output)
        for key, values in compat_output.items():
            np.testing.assert_array_equal(tf2_output[key], values, err_msg=key)
    _check_weights_of_saved_graph(tmp_path / "graph")


def test_a_class_without_weight_fails_loudly(tmp_path):
    with pytest.raises(Exception, match="classes that have no weight.*cow"):
        _analyze_and_transform([_raw_example(5, ["cat", "cow"])], WEIGHTS, tmp_path)


def test_weights_by_class_reads_class_weights_json():
    document = {
        "classes": [
            {"name": "cat", "weight": 0.25},
            {"name": "dog", "weight": 1},
            {"name": "bird", "weight": 7.5},
        ]
    }
    assert executor.weights_by_class(document) == {"cat": 0.25, "dog": 1.0, "bird": 7.5}


@pytest.mark.parametrize(
    "classes,message",
    [
        ([], "lists no classes"),
        ([{"name": "cat", "weight": 0}], "a finite number > 0"),
        ([{"name": "cat", "weight": -1.5}], "a finite number > 0"),
        ([{"name": "cat", "weight": float("inf")}], "a finite number > 0"),
        ([{"name": "cat", "weight": None}], "a finite number > 0"),
        ([{"name": "cat", "weight": 0.5}, {"name": "cat", "weight": 0.5}], "twice"),
    ],
)
def test_weights_by_class_rejects_bad_documents(classes, message):
    with pytest.raises(BadInputError, match=message):
        executor.weights_by_class({"classes": classes})


def test_custom_config_gets_the_weights_and_keeps_other_entries():
    config = json.loads(executor.custom_config_with_weights('{"other": 3}', {"b": 1.0, "a": 0.5}))
    assert config == {"other": 3, "class_weights": {"a": 0.5, "b": 1.0}}
    assert json.loads(executor.custom_config_with_weights(None, {"a": 0.5})) == {
        "class_weights": {"a": 0.5}
    }


def _channels():
    return (
        tfx.dsl.Channel(type=standard_artifacts.Examples),
        tfx.dsl.Channel(type=standard_artifacts.Schema),
        tfx.dsl.Channel(type=artifact_types.ClassWeights),
    )


def test_component_has_transforms_spec_plus_class_weights():
    examples, schema, class_weights = _channels()
    transform = component.WeightedTransform(
        examples=examples, schema=schema, class_weights=class_weights
    )
    assert set(transform.inputs) == {"examples", "schema", "class_weights"}
    assert set(transform.outputs) == {"transform_graph", "transformed_examples"}
    assert transform.exec_properties["preprocessing_fn"] == component.PREPROCESSING_FN
    assert transform.exec_properties["disable_statistics"] == 1
    assert transform.exec_properties["force_tf_compat_v1"] == 1
    with_statistics = component.WeightedTransform(
        examples=examples, schema=schema, class_weights=class_weights, disable_statistics=False
    )
    assert "post_transform_stats" in with_statistics.outputs


def test_component_refuses_weights_in_custom_config():
    examples, schema, class_weights = _channels()
    with pytest.raises(ValueError, match="class_weights channel"):
        component.WeightedTransform(
            examples=examples,
            schema=schema,
            class_weights=class_weights,
            custom_config={"class_weights": {"cat": 1.0}},
        )
