"""OdApiSchemaGen's schema: content, and what ExampleValidator's check makes of it."""

import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_data_validation.statistics.stats_impl import generate_statistics_in_memory
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_transform.tf_metadata import schema_utils
from tfx_bsl.coders import example_coder

from odweights import features
from odweights.components.od_schema_gen.od_schema import FEATURE_TYPES, infer_od_api_schema
from odweights.components.weight_gen.statistics_counts import statistics_options


def od_example(boxes, image_format=b"jpeg", height=100):
    """An OD API tf.Example; boxes: [(class, xmin, ymin, xmax, ymax, difficult)]."""

    def feature(kind, values):
        if kind == "bytes":
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
        if kind == "int":
            return tf.train.Feature(int64_list=tf.train.Int64List(value=values))
        return tf.train.Feature(float_list=tf.train.FloatList(value=values))

    names = [box[0].encode() for box in boxes]
    example = {
        features.HEIGHT: feature("int", [height]),
        features.WIDTH: feature("int", [120]),
        features.FILENAME: feature("bytes", [b"000001.jpg"]),
        features.SOURCE_ID: feature("bytes", [b"VOC2007/000001"]),
        features.KEY_SHA256: feature("bytes", [b"0" * 64]),
        features.ENCODED: feature("bytes", [b"\xff\xd8 not decoded here"]),
        features.FORMAT: feature("bytes", [image_format]),
        features.BBOX_XMIN: feature("float", [box[1] for box in boxes]),
        features.BBOX_YMIN: feature("float", [box[2] for box in boxes]),
        features.BBOX_XMAX: feature("float", [box[3] for box in boxes]),
        features.BBOX_YMAX: feature("float", [box[4] for box in boxes]),
        features.CLASS_TEXT: feature("bytes", names),
        features.CLASS_LABEL: feature("int", [1 if n == b"cat" else 2 for n in names]),
        features.DIFFICULT: feature("int", [box[5] for box in boxes]),
        features.TRUNCATED: feature("int", [0] * len(boxes)),
        features.VIEW: feature("bytes", [b"Unspecified"] * len(boxes)),
        features.CLASSES_IN_IMAGE: feature("bytes", sorted(set(names))),
        features.OBJECTS_IN_IMAGES_WITH_CLASS: feature(
            "bytes", [name for name in sorted(set(names)) for _ in names]
        ),
    }
    return tf.train.Example(features=tf.train.Features(feature=example))


GOOD_EXAMPLES = [
    od_example([("cat", 0.1, 0.2, 0.5, 0.6, 0), ("dog", 0.0, 0.0, 1.0, 1.0, 1)]),
    od_example([("dog", 0.3, 0.3, 0.4, 0.9, 0)], image_format=b"png"),
    od_example([]),
]


def statistics(examples):
    """The statistics StatisticsGen computes for these examples (same options)."""
    decoder = example_coder.ExamplesToRecordBatchDecoder()
    batch = decoder.DecodeBatch([example.SerializeToString() for example in examples])
    return generate_statistics_in_memory(batch, statistics_options())


@pytest.fixture(scope="module")
def schema():
    return infer_od_api_schema([statistics(GOOD_EXAMPLES), statistics(GOOD_EXAMPLES[:2])])


def by_name(schema):
    return {feature.name: feature for feature in schema.feature}


def test_every_example_gen_feature_is_in_the_schema_with_its_type(schema):
    assert sorted(by_name(schema)) == sorted(features.EXAMPLE_GEN_KEYS)
    assert {name: f.type for name, f in by_name(schema).items()} == FEATURE_TYPES


def test_no_feature_has_a_fixed_shape_and_there_are_no_sparse_features(schema):
    assert not any(feature.HasField("shape") for feature in schema.feature)
    assert not schema.sparse_feature
    for name in features.PER_BOX_KEYS + features.AUXILIARY_KEYS:
        assert not by_name(schema)[name].HasField("value_count"), name


def test_od_api_value_constraints(schema):
    features_by_name = by_name(schema)
    for name in features.BBOX_KEYS:
        assert features_by_name[name].float_domain == schema_pb2.FloatDomain(
            min=0.0, max=1.0, disallow_nan=True
        )
    assert features_by_name[features.CLASS_LABEL].int_domain == schema_pb2.IntDomain(min=1)
    for name in (features.DIFFICULT, features.TRUNCATED):
        assert features_by_name[name].int_domain == schema_pb2.IntDomain(min=0, max=1)
    assert list(features_by_name[features.FORMAT].string_domain.value) == ["jpeg", "png"]
    assert features.FORMAT not in {domain.name for domain in schema.string_domain}


def test_features_without_statistics_carry_no_presence_constraint(schema):
    for name in (features.ENCODED, features.FILENAME, features.SOURCE_ID, features.KEY_SHA256):
        assert not by_name(schema)[name].HasField("presence"), name


def test_transform_parses_every_feature_as_variable_length(schema):
    feature_spec = schema_utils.schema_as_feature_spec(schema).feature_spec
    assert sorted(feature_spec) == sorted(features.EXAMPLE_GEN_KEYS)
    assert all(isinstance(spec, tf.io.VarLenFeature) for spec in feature_spec.values())
    parsed = tf.io.parse_example(
        [example.SerializeToString() for example in GOOD_EXAMPLES], feature_spec
    )
    assert parsed[features.ENCODED].values.shape == (3,)
    assert parsed[features.BBOX_XMIN].dense_shape.numpy().tolist() == [3, 2]


def test_good_data_has_no_anomaly(schema):
    anomalies = tfdv.validate_statistics(statistics(GOOD_EXAMPLES), schema)
    assert not anomalies.anomaly_info and not anomalies.HasField("dataset_anomaly_info"), anomalies


@pytest.mark.parametrize(
    "bad_example, feature",
    [
        (od_example([("cat", 0.1, 0.2, 1.5, 0.6, 0)]), features.BBOX_XMAX),
        (od_example([("cat", -0.2, 0.2, 0.5, 0.6, 0)]), features.BBOX_XMIN),
        (od_example([("cat", 0.1, 0.2, 0.5, 0.6, 2)]), features.DIFFICULT),
        (od_example([("cat", 0.1, 0.2, 0.5, 0.6, 0)], image_format=b"gif"), features.FORMAT),
        (od_example([("cat", 0.1, 0.2, 0.5, 0.6, 0)], height=0), features.HEIGHT),
    ],
)
def test_out_of_contract_values_are_anomalies(schema, bad_example, feature):
    anomalies = tfdv.validate_statistics(statistics(GOOD_EXAMPLES + [bad_example]), schema)
    assert list(anomalies.anomaly_info) == [feature]
