"""Fast tests of OdExport's pure helpers: sharding, rounding, summary, records, publishing."""

import hashlib
import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from odweights import external_sort, features
from odweights.components.od_export import input_reader, resampling, sharding, summary
from odweights.components.od_export.export_record import parse_export_record
from odweights.components.od_export.options import ExportOptions
from odweights.components.od_export.publish import (
    file_sha256,
    files_sha256,
    publish_export,
    read_manifest,
    write_manifest,
)
from odweights.errors import BadInputError, InvalidOptionsError, OdWeightsError


def test_record_key_is_sha256_based_and_copy_dependent():
    digest = hashlib.sha256(b"2007_000001\x000").digest()
    assert sharding.record_key("2007_000001", 0) == int.from_bytes(digest[:8], "big")
    assert sharding.record_key("2007_000001", 0) != sharding.record_key("2007_000001", 1)


def test_copies_of_one_image_spread_over_shards():
    shards = {sharding.shard_of(sharding.record_key("img", copy), 8) for copy in range(40)}
    assert len(shards) == 8


@pytest.mark.parametrize(
    "num_images,expected",
    [(0, 1), (1, 1), (1000, 1), (1001, 2), (11540, 12), (10**9, sharding.MAX_SHARDS)],
)
def test_automatic_num_shards(num_images, expected):
    assert sharding.automatic_num_shards(num_images) == expected


def test_spill_records_sort_by_key_then_copy_then_bytes():
    records = [
        sharding.spill_record(key, copy, data)
        for key, copy, data in [
            (2**63, 0, b"a"),
            (5, 1, b"a"),
            (5, 0, b"z"),
            (5, 0, b"b"),
            (2**64 - 1, 0, b""),
        ]
    ]
    assert [sharding.spilled_example(record) for record in sorted(records)] == [
        b"b",
        b"z",
        b"a",
        b"a",
        b"",
    ]


def test_unframe_returns_the_framed_records():
    records = [b"", b"a", bytes(range(256)) * 40000, b"", b"\x00" * 8]
    data = b"".join(external_sort.frame(record) for record in records)
    assert list(external_sort.unframe(data)) == records
    assert list(external_sort.unframe(b"")) == []


@pytest.mark.parametrize("cut", [1, 13, 16])  # in the body, the whole body, in the length
def test_unframe_refuses_a_truncated_spill_file(cut):
    data = external_sort.frame(b"first") + external_sort.frame(b"second record")
    with pytest.raises(OdWeightsError, match="truncated"):
        list(external_sort.unframe(data[:-cut]))


def test_shard_names_and_pattern():
    assert sharding.shard_file_name("train", 3, 10) == "train.record-00003-of-00010"
    assert sharding.shard_pattern("val", 10) == "val.record-?????-of-00010"
    assert sharding.is_record_file("train.record-00003-of-00010")
    for name in (
        "train.record-3-of-10",
        "summary.json",
        "train.record-00003-of-00010.tmp",
        "notes.txt",
    ):
        assert not sharding.is_record_file(name)


def test_image_repeat_factor_is_the_max_over_its_classes():
    factors = {"cat": 1.0, "dog": 1.4, "bird": 4.5}
    assert resampling.image_repeat_factor({"cat", "dog"}, factors) == 1.4
    assert resampling.image_repeat_factor({"bird", "dog"}, factors) == 4.5
    assert resampling.image_repeat_factor(set(), factors) == 1.0
    with pytest.raises(BadInputError, match="'cow'"):
        resampling.image_repeat_factor({"cow"}, factors)


def test_ceil_rounding():
    assert [resampling.copies(r, "ceil", 0, "x") for r in (1.0, 1.0001, 2.5, 3.0)] == [1, 2, 3, 3]


def test_stochastic_rounding_is_seeded_per_image_and_unbiased():
    ids = [f"2012_{index:06d}" for index in range(4000)]
    first = [resampling.copies(2.3, "stochastic", 5, source_id) for source_id in ids]
    assert (
        first
        == [resampling.copies(2.3, "stochastic", 5, source_id) for source_id in reversed(ids)][::-1]
    )
    assert set(first) == {2, 3}
    assert abs(np.mean(first) - 2.3) < 0.03
    other_seed = [resampling.copies(2.3, "stochastic", 6, source_id) for source_id in ids]
    assert other_seed != first
    draw = int.from_bytes(hashlib.sha256(b"5\x002012_000000").digest()[:8], "big") / 2**64
    assert first[0] == 2 + (draw < 0.3)
    assert resampling.copies(1.0, "stochastic", 5, "any") == 1


def test_copies_refuse_bad_repeat_factors():
    for factor in (0.5, math.inf, math.nan):
        with pytest.raises(BadInputError):
            resampling.copies(factor, "ceil", 0, "x")


def test_summary_sums_exactly_in_any_order():
    weights = [float(np.float32(w)) for w in (0.1, 0.2, 0.3, 1e-7, 0.7)]
    images = [
        (["cat"] * i + ["dog"], [weights[i % 5]] * i + [weights[(i + 1) % 5]], 1 + i % 3)
        for i in range(30)
    ]
    forward, backward = summary.SplitTotals(), summary.SplitTotals()
    for image in images:
        forward.add_image(*image)
    parts = [summary.SplitTotals() for _ in range(3)]
    for index, image in enumerate(reversed(images)):
        parts[index % 3].add_image(*image)
    for part in parts:
        backward.merge(part)
    assert json.dumps(forward.to_json(["cat", "dog", "bird"])) == json.dumps(
        backward.to_json(["cat", "dog", "bird"])
    )
    document = forward.to_json(["cat", "dog", "bird"])
    assert document["images"] == 30
    assert document["objects"] == sum(len(image[0]) for image in images)
    assert document["records"] == sum(image[2] for image in images)
    assert document["classes"]["bird"]["objects"] == 0
    cat_weight = sum(
        sum(w for n, w in zip(*image[:2], strict=True) if n == "cat") for image in images
    )
    assert document["classes"]["cat"]["weighted_objects"] == pytest.approx(cat_weight, abs=1e-6)
    assert document["images_by_copies"] == {"1": 10, "2": 10, "3": 10}
    assert document["max_boxes_per_image"] == 30  # the image with 29 cats and a dog


def test_summary_units_are_exact():
    assert summary.exact_units(float(np.float32(0.1))) * 2.0**-149 == float(np.float32(0.1))
    with pytest.raises(ValueError):
        summary.exact_units(2.0**-150)  # finer than the smallest float32 step


def _example(**overrides):
    feature = {
        features.HEIGHT: tf.train.Feature(int64_list=tf.train.Int64List(value=[2])),
        features.WIDTH: tf.train.Feature(int64_list=tf.train.Int64List(value=[2])),
        features.FILENAME: tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"a.jpg"])),
        features.SOURCE_ID: tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"a"])),
        features.KEY_SHA256: tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"0"])),
        features.ENCODED: tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"\xff"])),
        features.FORMAT: tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"jpeg"])),
    }
    for key in features.BBOX_KEYS + (features.WEIGHT,):
        feature[key] = tf.train.Feature(float_list=tf.train.FloatList(value=[0.5, 0.25]))
    for key in (features.CLASS_LABEL, features.DIFFICULT, features.TRUNCATED):
        feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=[1, 0]))
    for key in (features.CLASS_TEXT, features.VIEW):
        feature[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"cat", b"dog"]))
    feature.update(overrides)
    return tf.train.Example(
        features=tf.train.Features(
            feature={key: value for key, value in feature.items() if value is not None}
        )
    )


def test_parse_export_record_reserializes_deterministically():
    record = parse_export_record(_example().SerializeToString())
    assert record.source_id == "a"
    assert record.class_texts == ["cat", "dog"]
    assert record.weights == [0.5, 0.25]
    assert tf.train.Example.FromString(record.serialized) == _example()
    assert record.serialized == _example().SerializeToString(deterministic=True)


def test_parse_export_record_keeps_weights_above_one_or_writes_ones():
    heavy = tf.train.Feature(float_list=tf.train.FloatList(value=[7.5, 0.25]))
    record = parse_export_record(_example(**{features.WEIGHT: heavy}).SerializeToString())
    assert record.weights == [7.5, 0.25]
    record = parse_export_record(
        _example(**{features.WEIGHT: heavy}).SerializeToString(), unit_weights=True
    )
    assert record.weights == [1.0, 1.0]
    example = tf.train.Example.FromString(record.serialized)
    assert list(example.features.feature[features.WEIGHT].float_list.value) == [1.0, 1.0]
    assert record.serialized == example.SerializeToString(deterministic=True)


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({features.WEIGHT: None}, "missing"),
        ({features.CLASSES_IN_IMAGE: tf.train.Feature()}, "unexpected features"),
        ({"image/class/text": tf.train.Feature()}, "unexpected features"),
        (
            {features.WEIGHT: tf.train.Feature(float_list=tf.train.FloatList(value=[1.0]))},
            "1 values for 2 boxes",
        ),
        ({features.VIEW: tf.train.Feature()}, "0 values for 2 boxes"),
        (
            {features.WEIGHT: tf.train.Feature(float_list=tf.train.FloatList(value=[1.0, 0.0]))},
            "not finite numbers > 0",
        ),
        (
            {features.WEIGHT: tf.train.Feature(float_list=tf.train.FloatList(value=[-1.0, 2.0]))},
            "not finite numbers > 0",
        ),
        (
            {
                features.WEIGHT: tf.train.Feature(
                    float_list=tf.train.FloatList(value=[1.0, float("nan")])
                )
            },
            "not finite numbers > 0",
        ),
        ({features.SOURCE_ID: tf.train.Feature()}, "exactly one value"),
    ],
)
def test_parse_export_record_refuses_what_the_od_api_would_misread(overrides, message):
    with pytest.raises(BadInputError, match=message):
        parse_export_record(_example(**overrides).SerializeToString())


def test_input_reader_config_names_every_split():
    text = input_reader.input_reader_config(
        "/out/export",
        {"train": 4, "val": 1, "test": 2},
        "train",
        max_boxes={"train": 120, "val": 7, "test": 0},
    )
    assert 'input_path: "/out/export/train.record-?????-of-00004"' in text
    assert 'input_path: "/out/export/val.record-?????-of-00001"' in text
    assert 'input_path: "/out/export/test.record-?????-of-00002"' in text
    assert text.count('label_map_path: "/out/export/label_map.pbtxt"') == 3
    assert text.count("train_input_reader {") == 1 and text.count("eval_input_reader {") == 2
    od_api = pytest.importorskip("object_detection.protos.pipeline_pb2")
    from google.protobuf import text_format

    config = text_format.Parse(text, od_api.TrainEvalPipelineConfig())
    # Above the OD API's default of 100, which would drop boxes; at least 1.
    assert config.train_input_reader.max_number_of_boxes == 120
    assert [
        (reader.name, reader.max_number_of_boxes, reader.shuffle, reader.num_epochs)
        for reader in config.eval_input_reader
    ] == [("test", 1, False, 1), ("val", 7, False, 1)]
    assert not config.train_input_reader.name


def _export(directory, files):
    directory.mkdir()
    for name, data in files.items():
        (directory / name).write_bytes(data)
    write_manifest(str(directory))


def test_publish_swaps_whole_exports_and_deletes_only_listed_files(tmp_path):
    destination = tmp_path / "export"
    _export(
        tmp_path / "first",
        {
            "train.record-00000-of-00002": b"old0",
            "train.record-00001-of-00002": b"old1",
            "summary.json": b"1",
        },
    )
    publish_export(str(tmp_path / "first"), str(destination))
    manifest = json.loads((destination / "manifest.json").read_text())["files"]
    assert manifest["summary.json"] == {"size": 1, "sha256": hashlib.sha256(b"1").hexdigest()}
    # files the manifest does not list are the user's: a look-alike shard, notes, a folder
    (destination / "val.record-00000-of-00001").write_bytes(b"mine")
    (destination / "notes.txt").write_text("mine")
    (destination / "charts").mkdir()
    (destination / "charts" / "a.png").write_bytes(b"png")
    inode = os.stat(destination).st_ino

    _export(tmp_path / "second", {"train.record-00000-of-00001": b"new", "summary.json": b"22"})
    published = publish_export(str(tmp_path / "second"), str(destination))
    assert published == files_sha256(str(tmp_path / "second"))
    assert sorted(os.listdir(destination)) == [
        "charts",
        "manifest.json",
        "notes.txt",
        "summary.json",
        "train.record-00000-of-00001",
        "val.record-00000-of-00001",
    ]
    assert (destination / "summary.json").read_bytes() == b"22"
    assert (destination / "val.record-00000-of-00001").read_bytes() == b"mine"
    assert (destination / "charts" / "a.png").read_bytes() == b"png"
    assert os.stat(destination).st_ino != inode  # a new folder swapped in, not edited in place
    assert [name for name in os.listdir(tmp_path) if name.startswith(".")] == []
    assert read_manifest(str(destination)) == read_manifest(str(tmp_path / "second"))


def test_an_export_from_before_manifests_gets_one_when_published(tmp_path):
    (tmp_path / "artifact").mkdir()
    (tmp_path / "artifact" / "summary.json").write_text("{}")
    published = publish_export(str(tmp_path / "artifact"), str(tmp_path / "export"))
    assert sorted(published) == ["manifest.json", "summary.json"]
    assert read_manifest(str(tmp_path / "export")) == {
        "summary.json": {"size": 2, "sha256": hashlib.sha256(b"{}").hexdigest()}
    }
    assert published["manifest.json"] == file_sha256(str(tmp_path / "export" / "manifest.json"))


def test_publish_refuses_a_missing_export(tmp_path):
    with pytest.raises(OdWeightsError, match="not an export directory"):
        publish_export(str(tmp_path / "missing"), str(tmp_path / "export"))


@pytest.mark.parametrize(
    "options,message",
    [
        (dict(num_shards=-1), "num_shards"),
        (dict(num_shards=True), "num_shards"),
        (dict(resample="oversample"), "resample"),
        (dict(rfs_rounding="floor"), "rfs_rounding"),
        (dict(publish_dir="relative/export"), "absolute"),
        (dict(seed=1.5), "seed"),
        (dict(keep_weights=True), "applies only with resample rfs"),
        (dict(resample="rfs", keep_weights=1), "keep_weights must be True or False"),
    ],
)
def test_options_are_checked(options, message):
    with pytest.raises(InvalidOptionsError, match=message):
        ExportOptions(**options).validate()
    ExportOptions(publish_dir="gs://bucket/export").validate()
