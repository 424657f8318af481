"""The schema of the VOC ExampleGen's records: TFDV's inference plus the OD API's rules.

TFDV infers types and presence from statistics (without fixed shapes: a box
feature holds one value per box, any number of boxes). The OD API's contract
(see "The OD API's data contract" in docs/training.md) then bounds the values, and the
features that StatisticsGen deliberately skips (image bytes, per-image ids) are
added with their types, so Transform parses every feature. They carry no
presence constraint, so ExampleValidator does not report them as missing from
statistics that never list them.
"""

from collections.abc import Iterable

import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from odweights import features

FEATURE_TYPES = {
    features.HEIGHT: schema_pb2.INT,
    features.WIDTH: schema_pb2.INT,
    features.FILENAME: schema_pb2.BYTES,
    features.SOURCE_ID: schema_pb2.BYTES,
    features.KEY_SHA256: schema_pb2.BYTES,
    features.ENCODED: schema_pb2.BYTES,
    features.FORMAT: schema_pb2.BYTES,
    features.BBOX_XMIN: schema_pb2.FLOAT,
    features.BBOX_XMAX: schema_pb2.FLOAT,
    features.BBOX_YMIN: schema_pb2.FLOAT,
    features.BBOX_YMAX: schema_pb2.FLOAT,
    features.CLASS_TEXT: schema_pb2.BYTES,
    features.CLASS_LABEL: schema_pb2.INT,
    features.DIFFICULT: schema_pb2.INT,
    features.TRUNCATED: schema_pb2.INT,
    features.VIEW: schema_pb2.BYTES,
    features.CLASSES_IN_IMAGE: schema_pb2.BYTES,
    features.OBJECTS_IN_IMAGES_WITH_CLASS: schema_pb2.BYTES,
}

IMAGE_FORMATS = ("jpeg", "png")


def infer_od_api_schema(
    split_statistics: Iterable[statistics_pb2.DatasetFeatureStatisticsList],
) -> schema_pb2.Schema:
    """The schema of records whose statistics are `split_statistics` (one per split).

    Splits without examples are skipped: TFDV would mark every feature deprecated,
    and an empty split is a legitimate outcome of the ingest (docs/ingest.md).
    """
    schema = None
    for stats in split_statistics:
        if not any(dataset.num_examples for dataset in stats.datasets):
            continue
        if schema is None:
            schema = tfdv.infer_schema(stats, infer_feature_shape=False)
        else:
            schema = tfdv.update_schema(schema, stats, infer_feature_shape=False)
    if schema is None:
        raise ValueError("no statistics to infer a schema from")
    add_od_api_constraints(schema)
    return schema


def add_od_api_constraints(schema: schema_pb2.Schema) -> None:
    """Adds every ExampleGen feature missing from `schema`, and bounds the values."""
    by_name = {feature.name: feature for feature in schema.feature}
    for name in features.EXAMPLE_GEN_KEYS:
        if name not in by_name:
            by_name[name] = schema.feature.add(name=name, type=FEATURE_TYPES[name])
        elif by_name[name].type != FEATURE_TYPES[name]:
            raise ValueError(
                f"statistics give feature {name!r} type "
                f"{schema_pb2.FeatureType.Name(by_name[name].type)}, the OD API needs "
                f"{schema_pb2.FeatureType.Name(FEATURE_TYPES[name])}; "
                "the examples were not written by the VOC ExampleGen"
            )
    for name in features.BBOX_KEYS:
        _set_domain(
            schema,
            by_name[name],
            "float_domain",
            schema_pb2.FloatDomain(min=0.0, max=1.0, disallow_nan=True),
        )
    for name in (features.CLASS_LABEL, features.HEIGHT, features.WIDTH):
        _set_domain(schema, by_name[name], "int_domain", schema_pb2.IntDomain(min=1))
    for name in (features.DIFFICULT, features.TRUNCATED):
        _set_domain(schema, by_name[name], "int_domain", schema_pb2.IntDomain(min=0, max=1))
    _set_domain(
        schema,
        by_name[features.FORMAT],
        "string_domain",
        schema_pb2.StringDomain(value=IMAGE_FORMATS),
    )


def _set_domain(schema: schema_pb2.Schema, feature: schema_pb2.Feature, field: str, domain) -> None:
    """Replaces the feature's domain (inline or a named top-level one) with `domain`."""
    if feature.WhichOneof("domain_info") == "domain":
        shared = [
            other
            for other in schema.feature
            if other is not feature and other.domain == feature.domain
        ]
        if not shared:
            for string_domain in [d for d in schema.string_domain if d.name == feature.domain]:
                schema.string_domain.remove(string_domain)
    getattr(feature, field).CopyFrom(domain)
