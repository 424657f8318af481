"""WeightedTransform + OdExport on LocalDagRunner with SQLite ML Metadata.

Upstream artifacts (examples as the VOC ExampleGen writes them, schema,
class weights, label map, ingest report) are small files made here and
brought in with TFX's Importer. One pipeline run (three exports: plain,
rfs stochastic, rfs ceil) is shared by all assertions; a second fresh run
checks that the files are byte-identical.
"""

import hashlib
import io
import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from PIL import Image
from tfx import v1 as tfx
from tfx.types import standard_artifacts

from odweights import artifact_types, features
from odweights.components.od_export.component import OdExport
from odweights.components.weighted_transform.component import WeightedTransform
from odweights.label_map import format_label_map

pytestmark = pytest.mark.e2e

LABEL_MAP = {"bird": 1, "cat": 2, "dog": 3}
WEIGHTS = {"bird": 4.0, "cat": 0.2, "dog": 0.55}  # any finite weight > 0, above 1 too
REPEAT_FACTORS = {"bird": 2.6, "cat": 1.0, "dog": 1.3}
SEED = 7

# (source_id, split, format, [(class, xmin, ymin, xmax, ymax), ...]) in pixels.
IMAGES = [
    ("2007_000001", "train", "jpeg", [("cat", 2, 3, 20, 25), ("dog", 10, 1, 38, 29)]),
    ("2007_000002", "train", "png", [("cat", 1, 1, 39, 29)]),
    ("2007_000003", "train", "jpeg", []),
    (
        "2007_000004",
        "train",
        "jpeg",
        [("bird", 5, 5, 9, 9), ("cat", 1, 2, 3, 4), ("cat", 20, 10, 30, 20)],
    ),
    ("2007_000005", "train", "jpeg", [("dog", 3, 3, 30, 20)]),
    ("2007_000006", "train", "png", [("cat", 3, 3, 30, 20), ("cat", 4, 4, 8, 8)]),
    ("2007_000007", "train", "jpeg", [("bird", 1, 1, 10, 10)]),
    ("2007_000008", "train", "jpeg", [("dog", 2, 2, 12, 12), ("dog", 5, 6, 7, 8)]),
    ("2007_000009", "val", "jpeg", [("cat", 2, 2, 22, 22)]),
    ("2007_000010", "val", "png", [("bird", 2, 2, 22, 22), ("dog", 1, 1, 5, 5)]),
    ("2007_000011", "val", "jpeg", []),
]
WIDTH, HEIGHT = 40, 30
SPLITS = ("train", "val")

# The OD API decoder's feature spec (object_detection/data_decoders/tf_example_decoder.py).
OD_API_FEATURE_SPEC = {
    "image/encoded": tf.io.FixedLenFeature((), tf.string, default_value=""),
    "image/format": tf.io.FixedLenFeature((), tf.string, default_value="jpeg"),
    "image/filename": tf.io.FixedLenFeature((), tf.string, default_value=""),
    "image/key/sha256": tf.io.FixedLenFeature((), tf.string, default_value=""),
    "image/source_id": tf.io.FixedLenFeature((), tf.string, default_value=""),
    "image/height": tf.io.FixedLenFeature((), tf.int64, default_value=1),
    "image/width": tf.io.FixedLenFeature((), tf.int64, default_value=1),
    "image/class/text": tf.io.VarLenFeature(tf.string),
    "image/class/label": tf.io.VarLenFeature(tf.int64),
    "image/object/bbox/xmin": tf.io.VarLenFeature(tf.float32),
    "image/object/bbox/xmax": tf.io.VarLenFeature(tf.float32),
    "image/object/bbox/ymin": tf.io.VarLenFeature(tf.float32),
    "image/object/bbox/ymax": tf.io.VarLenFeature(tf.float32),
    "image/object/class/label": tf.io.VarLenFeature(tf.int64),
    "image/object/class/text": tf.io.VarLenFeature(tf.string),
    "image/object/area": tf.io.VarLenFeature(tf.float32),
    "image/object/is_crowd": tf.io.VarLenFeature(tf.int64),
    "image/object/difficult": tf.io.VarLenFeature(tf.int64),
    "image/object/group_of": tf.io.VarLenFeature(tf.int64),
    "image/object/weight": tf.io.VarLenFeature(tf.float32),
}


def _image_bytes(index, image_format):
    rng = np.random.default_rng(index)
    pixels = rng.integers(0, 255, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG" if image_format == "png" else "JPEG")
    return buffer.getvalue()


def _example(source_id, image_format, image_path, boxes):
    encoded = open(image_path, "rb").read()

    def floats(values):
        return tf.train.Feature(float_list=tf.train.FloatList(value=values))

    def ints(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

    def texts(values):
        return tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[value.encode() for value in values])
        )

    names = [box[0] for box in boxes]
    feature = {
        features.HEIGHT: ints([HEIGHT]),
        features.WIDTH: ints([WIDTH]),
        features.FILENAME: texts([os.path.basename(image_path)]),
        features.SOURCE_ID: texts([source_id]),
        features.KEY_SHA256: texts([hashlib.sha256(encoded).hexdigest()]),
        features.ENCODED: tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded])),
        features.FORMAT: texts([image_format]),
        features.BBOX_XMIN: floats([box[1] / WIDTH for box in boxes]),
        features.BBOX_YMIN: floats([box[2] / HEIGHT for box in boxes]),
        features.BBOX_XMAX: floats([box[3] / WIDTH for box in boxes]),
        features.BBOX_YMAX: floats([box[4] / HEIGHT for box in boxes]),
        features.CLASS_TEXT: texts(names),
        features.CLASS_LABEL: ints([LABEL_MAP[name] for name in names]),
        features.DIFFICULT: ints([0] * len(boxes)),
        features.TRUNCATED: ints([index % 2 for index in range(len(boxes))]),
        features.VIEW: texts(["Unspecified"] * len(boxes)),
        features.CLASSES_IN_IMAGE: texts(sorted(set(names))),
        features.OBJECTS_IN_IMAGES_WITH_CLASS: texts(
            [name for name in sorted(set(names)) for _ in names]
        ),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature))


def _class_weights_document():
    return {
        "method": "manual",
        "parameters": {},
        "split": "train",
        "num_images": 8,
        "num_objects": 12,
        "classes": [
            {
                "name": name,
                "id": class_id,
                "objects": 0,
                "images": 0,
                "raw_weight": WEIGHTS[name],
                "weight": WEIGHTS[name],
                "repeat_factor": REPEAT_FACTORS[name],
                "flags": [],
            }
            for name, class_id in sorted(LABEL_MAP.items(), key=lambda item: item[1])
        ],
    }


def write_upstream(root):
    """Files of the upstream artifacts; returns {name: dir} and the source image paths."""
    dirs = {
        name: os.path.join(root, name)
        for name in ("images", "examples", "schema", "class_weights", "label_map", "report")
    }
    for directory in dirs.values():
        os.makedirs(directory)
    sources = {}
    by_split = {split: [] for split in SPLITS}
    for index, (source_id, split, image_format, boxes) in enumerate(IMAGES):
        path = os.path.join(
            dirs["images"], f"{source_id}.{'png' if image_format == 'png' else 'jpg'}"
        )
        with open(path, "wb") as file:
            file.write(_image_bytes(index, image_format))
        sources[source_id] = path
        by_split[split].append(_example(source_id, image_format, path, boxes))
    for split, examples in by_split.items():
        os.makedirs(os.path.join(dirs["examples"], f"Split-{split}"))
        with tf.io.TFRecordWriter(
            os.path.join(dirs["examples"], f"Split-{split}", "data_tfrecord-00000-of-00001.gz"),
            options="GZIP",
        ) as writer:
            for example in examples:
                writer.write(example.SerializeToString())
    stats = tfdv.generate_statistics_from_tfrecord(
        os.path.join(dirs["examples"], "Split-*", "*.gz")
    )
    schema = tfdv.infer_schema(stats, infer_feature_shape=False)
    tfdv.write_schema_text(schema, os.path.join(dirs["schema"], "schema.pbtxt"))
    with open(os.path.join(dirs["class_weights"], "class_weights.json"), "w") as file:
        json.dump(_class_weights_document(), file, indent=2, sort_keys=True)
    with open(os.path.join(dirs["label_map"], "label_map.pbtxt"), "w") as file:
        file.write(format_label_map(LABEL_MAP))
    with open(os.path.join(dirs["report"], "rejected.jsonl"), "w") as file:
        file.write(
            json.dumps(
                {
                    "file": "Annotations/x.xml",
                    "image_id": "x",
                    "split": "train",
                    "object_index": None,
                    "reason": "missing_image",
                    "detail": "no such file",
                }
            )
            + "\n"
        )
    with open(os.path.join(dirs["report"], "totals.json"), "w") as file:
        json.dump(
            {
                "images_rejected": 1,
                "objects_rejected": 0,
                "rejected_by_reason": {"missing_image": 1, "corrupt_image": 0},
                "per_split": {
                    split: {"examples_out": len(examples)} for split, examples in by_split.items()
                },
            },
            file,
        )
    return dirs, sources


EXPORTS = {  # component id -> OdExport options
    "OdExport": dict(num_shards=3, resample="none"),
    "OdExportRfsStochastic": dict(
        num_shards=2, resample="rfs", rfs_rounding="stochastic", seed=SEED
    ),
    "OdExportRfsCeil": dict(num_shards=0, resample="rfs", rfs_rounding="ceil", keep_weights=True),
}


def run_pipeline(root, dirs):
    def importer(name, artifact_type, properties=None):
        return tfx.dsl.Importer(
            source_uri=dirs[name], artifact_type=artifact_type, properties=properties or {}
        ).with_id(f"Import_{name}")

    examples = importer(
        "examples", standard_artifacts.Examples, {"split_names": json.dumps(list(SPLITS))}
    )
    schema = importer("schema", standard_artifacts.Schema)
    class_weights = importer("class_weights", artifact_types.ClassWeights)
    label_map = importer("label_map", artifact_types.LabelMap)
    report = importer("report", artifact_types.IngestReport)
    transform = WeightedTransform(
        examples=examples.outputs["result"],
        schema=schema.outputs["result"],
        class_weights=class_weights.outputs["result"],
    )
    exports = [
        OdExport(
            transformed_examples=transform.outputs["transformed_examples"],
            label_map=label_map.outputs["result"],
            class_weights=class_weights.outputs["result"],
            report=report.outputs["result"],
            publish_dir=os.path.join(root, "publish", component_id),
            **options,
        ).with_id(component_id)
        for component_id, options in EXPORTS.items()
    ]
    metadata_path = os.path.join(root, "metadata.sqlite")
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="od_export_test",
        pipeline_root=os.path.join(root, "pipeline"),
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            metadata_path
        ),
        components=[examples, schema, class_weights, label_map, report, transform, *exports],
    )  # no beam args: non-empty ones make every Beam executor build a TFX sdist first
    tfx.orchestration.LocalDagRunner().run(pipeline)
    return metadata_path


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    return write_upstream(str(tmp_path_factory.mktemp("upstream")))


@pytest.fixture(scope="module")
def first_run(upstream, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("run1"))
    return root, run_pipeline(root, upstream[0])


def _published(root, component_id):
    return os.path.join(root, "publish", component_id)


def _read_records(directory, pattern):
    paths = sorted(tf.io.gfile.glob(os.path.join(directory, pattern)))
    assert paths, f"no {pattern} in {directory}"
    dataset = tf.data.TFRecordDataset(paths)  # no compression type, as the OD API
    return [
        (tf.io.parse_single_example(record, OD_API_FEATURE_SPEC), record.numpy())
        for record in dataset
    ]


def _dense(parsed, key):
    return tf.sparse.to_dense(parsed[key]).numpy().tolist()


def test_every_image_is_exported_as_the_od_api_reads_it(first_run, upstream):
    root, _ = first_run
    dirs, sources = upstream
    directory = _published(root, "OdExport")
    for split in SPLITS:
        records = _read_records(directory, f"{split}.record-?????-of-00003")
        expected = {
            source_id: (image_format, boxes)
            for source_id, image_split, image_format, boxes in IMAGES
            if image_split == split
        }
        seen = set()
        for parsed, raw in records:
            source_id = parsed["image/source_id"].numpy().decode()
            assert source_id not in seen
            seen.add(source_id)
            image_format, boxes = expected[source_id]
            with open(sources[source_id], "rb") as file:
                assert parsed["image/encoded"].numpy() == file.read()
            assert parsed["image/format"].numpy().decode() == image_format
            assert parsed["image/height"].numpy() == HEIGHT
            assert parsed["image/width"].numpy() == WIDTH
            names = [box[0] for box in boxes]
            assert [text.decode() for text in _dense(parsed, "image/object/class/text")] == names
            assert _dense(parsed, "image/object/class/label") == [LABEL_MAP[n] for n in names]
            for key, column, size in (
                ("xmin", 1, WIDTH),
                ("ymin", 2, HEIGHT),
                ("xmax", 3, WIDTH),
                ("ymax", 4, HEIGHT),
            ):
                np.testing.assert_array_equal(
                    np.array(_dense(parsed, f"image/object/bbox/{key}"), np.float32),
                    np.array([box[column] / size for box in boxes], np.float32),
                )
            assert _dense(parsed, "image/object/weight") == [
                float(np.float32(WEIGHTS[name])) for name in names
            ]
            assert _dense(parsed, "image/class/text") == []
            assert _dense(parsed, "image/class/label") == []
            example = tf.train.Example.FromString(raw)
            assert sorted(example.features.feature) == sorted(features.EXPORT_KEYS)
        assert seen == set(expected)


def test_files_summary_and_config(first_run):
    root, _ = first_run
    directory = _published(root, "OdExport")
    assert sorted(os.listdir(directory)) == sorted(
        [
            "class_weights.json",
            "input_reader.config",
            "label_map.pbtxt",
            "manifest.json",
            "rejected.jsonl",
            "summary.json",
        ]
        + [f"{split}.record-{shard:05d}-of-00003" for split in SPLITS for shard in range(3)]
    )
    summary = json.load(open(os.path.join(directory, "summary.json")))
    train = summary["splits"]["train"]
    assert (train["images"], train["records"], train["objects"]) == (8, 8, 12)
    assert train["background_images"] == 1
    assert train["classes"]["cat"] == {
        "images": 4,
        "objects": 6,
        "weighted_objects": round(6 * float(np.float32(0.2)), 6),
        "records": 4,
        "objects_written": 6,
        "weighted_objects_written": round(6 * float(np.float32(0.2)), 6),
    }
    assert summary["splits"]["val"]["classes"]["cat"]["objects"] == 1
    assert summary["rejections"]["by_reason"] == {"missing_image": 1, "corrupt_image": 0}
    config = open(os.path.join(directory, "input_reader.config")).read()
    assert f'input_path: "{directory}/train.record-?????-of-00003"' in config
    assert f'input_path: "{directory}/val.record-?????-of-00003"' in config
    assert f'label_map_path: "{directory}/label_map.pbtxt"' in config
    assert config.count("train_input_reader {") == 1
    assert config.count("eval_input_reader {") == 1
    # The most boxes of one image, computed in the Beam pipeline: 3 in train, 2 in val.
    assert (train["max_boxes_per_image"], summary["splits"]["val"]["max_boxes_per_image"]) == (3, 2)
    train_block, eval_block = config.split("eval_input_reader {")
    assert "max_number_of_boxes: 3" in train_block
    assert 'name: "val"' in eval_block and "max_number_of_boxes: 2" in eval_block


def _expected_copies(rounding):
    copies = {}
    for source_id, split, _, boxes in IMAGES:
        if split != "train":
            continue
        factor = max([REPEAT_FACTORS[box[0]] for box in boxes] or [1.0])
        if rounding == "ceil":
            copies[source_id] = math.ceil(factor)
        else:
            digest = hashlib.sha256(f"{SEED}\0{source_id}".encode()).digest()
            draw = int.from_bytes(digest[:8], "big") / 2.0**64
            copies[source_id] = math.floor(factor) + (draw < factor - math.floor(factor))
    return copies


@pytest.mark.parametrize(
    "component_id,rounding,num_shards",
    [("OdExportRfsStochastic", "stochastic", 2), ("OdExportRfsCeil", "ceil", 1)],
)
def test_oversampled_export_has_the_expected_copies(first_run, component_id, rounding, num_shards):
    root, _ = first_run
    directory = _published(root, component_id)
    expected = _expected_copies(rounding)
    counted = {}
    for parsed, _ in _read_records(directory, f"train.record-?????-of-{num_shards:05d}"):
        source_id = parsed["image/source_id"].numpy().decode()
        counted[source_id] = counted.get(source_id, 0) + 1
    assert counted == expected
    val = {
        parsed["image/source_id"].numpy().decode()
        for parsed, _ in _read_records(directory, f"val.record-?????-of-{num_shards:05d}")
    }
    assert len(val) == 3  # only the training split is resampled
    summary = json.load(open(os.path.join(directory, "summary.json")))
    train = summary["splits"]["train"]
    assert train["records"] == sum(expected.values())
    histogram = {}
    for count in expected.values():
        histogram[str(count)] = histogram.get(str(count), 0) + 1
    assert train["images_by_copies"] == histogram
    assert summary["resample"]["rounding"] == rounding


@pytest.mark.parametrize(
    "component_id,num_shards,box_weights",
    [
        ("OdExport", 3, "class_weights"),
        ("OdExportRfsStochastic", 2, "ones"),
        ("OdExportRfsCeil", 1, "class_weights"),
    ],
)
def test_resampled_exports_weigh_every_box_one_unless_asked_to_keep_the_weights(
    first_run, component_id, num_shards, box_weights
):
    root, _ = first_run
    directory = _published(root, component_id)
    for split in SPLITS:
        for parsed, _ in _read_records(directory, f"{split}.record-?????-of-{num_shards:05d}"):
            names = [text.decode() for text in _dense(parsed, "image/object/class/text")]
            expected = [
                1.0 if box_weights == "ones" else float(np.float32(WEIGHTS[name])) for name in names
            ]
            assert _dense(parsed, "image/object/weight") == expected
    summary = json.load(open(os.path.join(directory, "summary.json")))
    assert summary["weights"]["box_weights"] == box_weights
    assert summary["resample"]["keep_weights"] == (component_id == "OdExportRfsCeil")
    if box_weights == "ones":
        for totals in summary["splits"].values():
            assert totals["weighted_objects"] == totals["objects"]


def _store(metadata_path):
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(config)


def test_metadata_records_weights_input_and_export(first_run):
    root, metadata_path = first_run
    store = _store(metadata_path)
    types_by_id = {
        execution_type.id: execution_type.name for execution_type in store.get_execution_types()
    }
    executions = {
        types_by_id[execution.type_id].rsplit(".", 1)[-1]: execution
        for execution in store.get_executions()
    }
    transform = executions["WeightedTransform"]
    assert transform.last_known_state == metadata_store_pb2.Execution.COMPLETE
    input_keys = {}
    for event in store.get_events_by_execution_ids([transform.id]):
        if event.type == metadata_store_pb2.Event.INPUT:
            input_keys[event.path.steps[0].key] = event.artifact_id
    assert set(input_keys) == {"examples", "schema", "class_weights"}
    [weights_artifact] = store.get_artifacts_by_id([input_keys["class_weights"]])
    assert (
        store.get_artifact_types_by_id([weights_artifact.type_id])[0].name
        == artifact_types.ClassWeights.TYPE_NAME
    )

    exports = {
        artifact.custom_properties["pushed_destination"].string_value: artifact
        for artifact in store.get_artifacts_by_type(artifact_types.OdApiExport.TYPE_NAME)
    }
    destination = _published(root, "OdExport")
    export = exports[destination]
    properties = export.custom_properties
    assert properties["pushed"].int_value == 1
    hashes = dict(properties["file_sha256"].struct_value)
    assert sorted(hashes) == sorted(os.listdir(destination))
    for name, digest in hashes.items():
        with open(os.path.join(destination, name), "rb") as file:
            assert hashlib.sha256(file.read()).hexdigest() == digest
        with open(os.path.join(export.uri, name), "rb") as file:
            assert hashlib.sha256(file.read()).hexdigest() == digest
    assert dict(properties["num_examples"].struct_value) == {"train": 8, "val": 3}
    assert dict(properties["num_shards"].struct_value) == {"train": 3, "val": 3}


def test_two_runs_give_identical_files(first_run, upstream, tmp_path_factory):
    first_root, _ = first_run
    second_root = str(tmp_path_factory.mktemp("run2"))
    run_pipeline(second_root, upstream[0])
    for component_id in EXPORTS:
        first, second = _published(first_root, component_id), _published(second_root, component_id)
        assert sorted(os.listdir(first)) == sorted(os.listdir(second))
        for name in os.listdir(first):
            first_bytes = open(os.path.join(first, name), "rb").read()
            second_bytes = open(os.path.join(second, name), "rb").read()
            if name == "input_reader.config":  # holds the destination's absolute path
                second_bytes = second_bytes.replace(second.encode(), first.encode())
            if name == "manifest.json":  # lists the hash of input_reader.config
                first_bytes, second_bytes = (
                    json.dumps(
                        dict(json.loads(data)["files"], **{"input_reader.config": None})
                    ).encode()
                    for data in (first_bytes, second_bytes)
                )
            assert (
                hashlib.sha256(first_bytes).hexdigest() == hashlib.sha256(second_bytes).hexdigest()
            ), name
