"""VocExampleGen in real TFX pipelines (LocalDagRunner, SQLite ML Metadata, Beam).

One pipeline run per test function (so that pytest-xdist never repeats a run).
"""

import collections
import functools
import hashlib
import io
import json
import os
import shutil
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest
import tensorflow as tf
import voc_fixtures as vf
from PIL import Image
from tfx.proto import example_gen_pb2

from odweights import features
from odweights import label_map as label_map_lib
from odweights.app import sample_data
from odweights.components.voc_example_gen import layout
from odweights.components.voc_example_gen import rejections as rj
from odweights.components.voc_example_gen.component import VocExampleGen
from odweights.components.voc_example_gen.driver import compute_input_fingerprint
from odweights.errors import BadInputError

pytestmark = pytest.mark.e2e


def _outputs(work_dir):
    examples = vf.latest_artifact(work_dir, "Examples")
    report = vf.latest_artifact(work_dir, "odweights.IngestReport")
    label_map = vf.latest_artifact(work_dir, "odweights.LabelMap")
    with open(os.path.join(label_map.uri, label_map_lib.LABEL_MAP_FILE), "rb") as f:
        label_map_text = f.read().decode("utf-8")
    totals, records, records_text = vf.read_report(report.uri)
    return examples, report, label_map_text, totals, records, records_text


def _check_totals_everywhere(examples, report, totals, records):
    """Totals add up, and ML Metadata holds the same numbers as totals.json."""
    assert rj.invariant_violations(totals, len(records)) == []
    by_reason = collections.Counter(r["reason"] for r in records)
    assert totals["rejected_by_reason"] == {
        reason: by_reason.get(reason, 0) for reason in rj.REASONS
    }
    for artifact in (examples, report):
        properties = vf.custom_properties(artifact)
        assert json.loads(properties["ingest_totals"]) == totals
        for name in rj.GLOBAL_COUNTERS:
            assert properties[name] == totals[name], name
        for reason in rj.REASONS:
            assert properties[f"rejected_{reason}"] == by_reason.get(reason, 0), reason
        for split, counters in totals["per_split"].items():
            for name, value in counters.items():
                assert properties[f"split_{split}_{name}"] == value


def _reference_objects(xml_path):
    """The objects of a VOC XML as the OD API's create_pascal_tf_record reads them."""
    root = ElementTree.parse(xml_path).getroot()
    width = int(root.find("size/width").text)
    height = int(root.find("size/height").text)
    objects = []
    for element in root.findall("object"):
        box = element.find("bndbox")
        objects.append(
            dict(
                name=element.find("name").text.strip(),
                xmin=float(box.find("xmin").text) / width,
                xmax=float(box.find("xmax").text) / width,
                ymin=float(box.find("ymin").text) / height,
                ymax=float(box.find("ymax").text) / height,
                difficult=int(element.findtext("difficult", "0")),
                truncated=int(element.findtext("truncated", "0")),
                pose=element.findtext("pose", ""),
            )
        )
    return root.find("filename").text, width, height, objects


def _check_example_against_sources(example, year_dir, label_map):
    source_id = vf.feature_values(example, features.SOURCE_ID)[0].decode()
    assert source_id.startswith("VOC2007/")
    image_id = source_id.split("/", 1)[1]
    filename, width, height, objects = _reference_objects(
        os.path.join(year_dir, "Annotations", image_id + ".xml")
    )
    with open(os.path.join(year_dir, "JPEGImages", filename), "rb") as f:
        image_bytes = f.read()
    pil = Image.open(io.BytesIO(image_bytes))
    assert pil.size == (width, height)
    value = lambda key: vf.feature_values(example, key)  # noqa: E731
    assert set(example.features.feature) == set(features.EXAMPLE_GEN_KEYS)
    assert value(features.ENCODED) == [image_bytes]
    assert value(features.KEY_SHA256) == [hashlib.sha256(image_bytes).hexdigest().encode()]
    assert value(features.FORMAT) == [{"JPEG": b"jpeg", "PNG": b"png"}[pil.format]]
    assert value(features.HEIGHT) == [height] and value(features.WIDTH) == [width]
    assert value(features.FILENAME) == [filename.encode()]
    for key, field in (
        (features.BBOX_XMIN, "xmin"),
        (features.BBOX_XMAX, "xmax"),
        (features.BBOX_YMIN, "ymin"),
        (features.BBOX_YMAX, "ymax"),
    ):
        np.testing.assert_array_equal(
            value(key), np.array([o[field] for o in objects], dtype=np.float32)
        )
    assert value(features.CLASS_TEXT) == [o["name"].encode() for o in objects]
    assert value(features.CLASS_LABEL) == [label_map[o["name"]] for o in objects]
    assert value(features.DIFFICULT) == [o["difficult"] for o in objects]
    assert value(features.TRUNCATED) == [o["truncated"] for o in objects]
    assert value(features.VIEW) == [o["pose"].encode() for o in objects]
    assert value(features.CLASSES_IN_IMAGE) == sorted({o["name"].encode() for o in objects})
    # each class of the image once per object of the image: its statistics count D_c
    assert value(features.OBJECTS_IN_IMAGES_WITH_CLASS) == [
        name for name in sorted({o["name"].encode() for o in objects}) for _ in objects
    ]
    return image_id, [o["name"] for o in objects]


def test_sample_devkit_examples_equal_their_sources_and_cache_follows_the_files(tmp_path):
    summary = sample_data.write_dataset(str(tmp_path / "data"), num_images=24, seed=3)
    voc_dir = str(tmp_path / "data" / "VOCdevkit")
    year_dir = os.path.join(voc_dir, "VOC2007")
    work = str(tmp_path / "work")

    def make_component():  # the layout is detected when the component runs (its driver)
        return VocExampleGen(input_base=voc_dir, splits=("train", "val"))

    vf.run_component(work, make_component(), enable_cache=True)
    examples, report, label_map_text, totals, records, records_text = _outputs(work)

    # label map: ids 1..K over the sorted class names
    label_map = label_map_lib.parse_label_map(label_map_text)
    assert label_map == label_map_lib.assign_ids(summary.class_names)
    label_map_artifact = vf.latest_artifact(work, "odweights.LabelMap")
    assert vf.custom_properties(label_map_artifact)["num_classes"] == len(label_map)
    # every example equals its XML and image file; splits as in ImageSets
    for split in ("train", "val"):
        with open(os.path.join(year_dir, "ImageSets", "Main", split + ".txt")) as f:
            listed = sorted(f.read().split())
        class_counts = collections.Counter()
        ids = []
        for example in vf.read_split(examples.uri, split):
            image_id, names = _check_example_against_sources(example, year_dir, label_map)
            ids.append(image_id)
            class_counts.update(names)
        assert sorted(ids) == listed
        assert class_counts == collections.Counter(summary.split_class_counts[split])
    assert records == [] and records_text == ""
    assert totals["images_in"] == totals["examples_out"] == 24
    assert totals["objects_out"] == summary.num_objects
    assert totals["background_images"] == summary.empty_images
    _check_totals_everywhere(examples, report, totals, records)
    # the recorded fingerprint covers annotations and images, and the audit can recompute it
    properties = vf.custom_properties(examples)
    # the artifact is described as TFX's ExampleGens describe theirs; each split is one
    # uncompressed, unshuffled file (see voc_fixtures.read_split)
    assert json.loads(examples.properties["split_names"].string_value) == ["train", "val"]
    assert properties["payload_format"] == "FORMAT_TF_EXAMPLE"
    assert "file_format" not in properties  # TFX's only TFRecord value says GZIP
    assert properties["compression"] == "UNCOMPRESSED"
    assert os.listdir(os.path.join(examples.uri, "Split-val")) == ["data_tfrecord-00000-of-00001"]
    input_config = (
        vf.metadata_store_of(work)
        .get_executions()[-1]
        .custom_properties["input_config"]
        .string_value
    )
    assert properties["input_fingerprint"] == compute_input_fingerprint(voc_dir, input_config)
    assert "num_files:" in properties["input_fingerprint"]

    # unchanged files: LocalDagRunner serves the cached execution
    vf.run_component(work, make_component(), enable_cache=True)
    assert len(vf.metadata_store_of(work).get_artifacts_by_type("Examples")) == 1
    # one image changed (the split files are untouched): a new execution
    first_image = sorted(os.listdir(os.path.join(year_dir, "JPEGImages")))[0]
    image_path = os.path.join(year_dir, "JPEGImages", first_image)
    with Image.open(image_path) as image:
        image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(image_path, image.format)
    vf.run_component(work, make_component(), enable_cache=True)
    changed = vf.latest_artifact(work, "Examples")
    assert changed.id != examples.id
    assert vf.custom_properties(changed)["input_fingerprint"] != properties["input_fingerprint"]


def test_every_bad_input_case_ends_in_one_place(tmp_path):
    voc_dir = str(tmp_path / "VOCdevkit")
    expected = vf.write_bad_devkit(voc_dir)
    base, inputs, outputs = layout.voc_input_configs(voc_dir)
    work = str(tmp_path / "work")
    vf.run_component(
        work,
        VocExampleGen(
            input_base=base,
            input_config=inputs,
            output_config=outputs,
            label_map=vf.BAD_LABEL_MAP,
            max_rejected_fraction=1.0,
        ),
    )
    examples, report, label_map_text, totals, records, records_text = _outputs(work)

    assert {
        (r["image_id"], r["split"], r["object_index"], r["reason"]) for r in records
    } == expected["records"]
    assert len(records) == len(expected["records"])
    assert records_text.splitlines() == [  # sorted deterministically
        line
        for _, line in sorted(
            (rj.Rejection(**json.loads(line)).sort_key(), line)
            for line in records_text.splitlines()
        )
    ]
    # the user's label map byte for byte; the class count is its largest id
    assert label_map_text == vf.BAD_LABEL_MAP
    assert totals["num_classes"] == 7 and totals["label_map_classes"] == 3
    assert vf.custom_properties(vf.latest_artifact(work, "odweights.LabelMap"))["num_classes"] == 7
    _check_totals_everywhere(examples, report, totals, records)
    assert totals["images_not_in_split"] == expected["not_in_split"]
    assert totals["boxes_clipped"] == expected["clipped"]
    assert totals["images_with_dropped_objects"] == expected["dropped"]
    by_key = {(r["image_id"], r["object_index"]): r for r in records}
    assert by_key[("VOC2007/g_dropped", 2)]["detail"] == (
        "'Cat' is not in the label map; did you mean 'cat'"
    )
    assert by_key[("VOC2007/g_dropped", 1)]["detail"] == "'unicorn' is not in the label map"
    assert by_key[("VOC2007/g_boxes", None)]["detail"].startswith(
        "object(s) 1 (inverted_box), 2 (zero_area_box), 3 (box_outside_image), "
        "4 (nan_coordinate), 6 (empty_class_name), 8 (missing_box) rejected"
    )
    assert totals["exif_fixed"] == 1
    assert totals["image_modes"] == {"CMYK": 1, "L": 1, "RGB": 6, "RGBA": 1}
    with open(os.path.join(voc_dir, "VOC2007", "ImageSets", "Main", "train.txt")) as f:
        train_listed = len(f.read().split())
    with open(os.path.join(voc_dir, "VOC2007", "ImageSets", "Main", "val.txt")) as f:
        val_listed = len(f.read().split())
    assert totals["images_in"] == train_listed + val_listed

    kept = {}
    for split in ("train", "val"):
        for example in vf.read_split(examples.uri, split):
            kept[vf.feature_values(example, features.SOURCE_ID)[0].decode()] = example
    assert set(kept) == set(expected["kept"])
    for source_id, facts in expected["kept"].items():
        example = kept[source_id]
        value = functools.partial(vf.feature_values, example)
        assert value(features.FILENAME) == [facts["filename"].encode()]
        assert value(features.FORMAT) == [facts["format"].encode()]
        assert not [key for key in example.features.feature if key.startswith("image/class/")]
        per_box = [len(value(key)) for key in features.PER_BOX_KEYS]
        assert per_box == [facts.get("kept_objects", facts["objects"])] * len(per_box)
        decoded = tf.io.decode_image(value(features.ENCODED)[0], channels=3)
        assert decoded.shape == (value(features.HEIGHT)[0], value(features.WIDTH)[0], 3)
        if not facts.get("exif_fixed"):
            path = os.path.join(voc_dir, "VOC2007", "JPEGImages", facts["filename"])
            with open(path, "rb") as f:
                assert value(features.ENCODED) == [f.read()]
    # the EXIF-rotated image was re-encoded upright: 30 wide, 40 high as annotated
    exif = kept["VOC2007/g_exif"]
    assert (vf.feature_values(exif, features.WIDTH), vf.feature_values(exif, features.HEIGHT)) == (
        [30],
        [40],
    )
    # the clipped box is kept at 1.0; labels from the user's map
    assert vf.feature_values(kept["VOC2007/g_clipped"], features.BBOX_XMAX) == [1.0]
    assert vf.feature_values(kept["VOC2007/g_clipped"], features.CLASS_LABEL) == [2]
    dropped = kept["VOC2007/g_dropped"]
    assert vf.feature_values(dropped, features.CLASS_TEXT) == [b"cat"]
    assert vf.feature_values(dropped, features.CLASS_LABEL) == [1]
    unicode = kept["VOC2007/g_unicode_ž"]
    assert vf.feature_values(unicode, features.CLASS_LABEL) == [7]
    assert vf.feature_values(unicode, features.CLASSES_IN_IMAGE) == ["žirafa".encode()]
    assert vf.feature_values(unicode, features.OBJECTS_IN_IMAGES_WITH_CLASS) == [
        "žirafa".encode()
    ] * len(vf.feature_values(unicode, features.CLASS_TEXT))
    background = kept["VOC2007/g_background"]
    assert all(
        vf.feature_values(background, key) == []
        for key in features.PER_BOX_KEYS + features.AUXILIARY_KEYS
    )


def _tiny_devkit(root):
    """Two good images and one whose box is inverted, in train."""
    year = os.path.join(root, "VOCdevkit", "VOC2007")
    for image_id, box in (
        ("a", ("5", "6", "20", "25")),
        ("b", ("5", "6", "20", "25")),
        ("c", ("25", "6", "20", "25")),
    ):
        vf.write_file(
            os.path.join(year, "Annotations", image_id + ".xml"),
            vf.voc_xml(image_id + ".jpg", objects=[vf.obj("cat", box=box)]),
        )
        vf.write_file(os.path.join(year, "JPEGImages", image_id + ".jpg"), vf.jpeg())
    vf.write_file(os.path.join(year, "ImageSets", "Main", "train.txt"), "a\nb\nc\n")
    return os.path.join(root, "VOCdevkit")


def test_strict_fails_naming_the_first_rejection(tmp_path):
    voc_dir = _tiny_devkit(str(tmp_path))
    base, inputs, outputs = layout.voc_input_configs(voc_dir, ["train"])
    with pytest.raises(BadInputError) as error:
        vf.run_component(
            str(tmp_path / "work"),
            VocExampleGen(
                input_base=base,
                input_config=inputs,
                output_config=outputs,
                strict=True,
                max_rejected_fraction=1.0,
            ),
        )
    message = str(error.value)
    assert "--strict" in message and "VOC2007/Annotations/c.xml (train" in message
    assert "\n  has_rejected_object  1\n  inverted_box         1\n" in message
    assert "rejected.jsonl" in message


def test_max_rejected_fraction_fails_with_a_summary(tmp_path):
    voc_dir = _tiny_devkit(str(tmp_path))
    base, inputs, outputs = layout.voc_input_configs(voc_dir, ["train"])
    with pytest.raises(BadInputError) as error:
        vf.run_component(
            str(tmp_path / "work"),
            VocExampleGen(
                input_base=base,
                input_config=inputs,
                output_config=outputs,
                max_rejected_fraction=0.2,
            ),
        )
    message = str(error.value)
    # the counts by reason one per line, the CLI flag named
    assert "1 of 3 images and 1 of 3 objects" in message
    assert "Rejected by reason:\n  has_rejected_object  1\n  inverted_box         1\n" in message
    assert "> --max-rejected-fraction 0.2" in message
    assert "max_rejected_fraction" not in message.split("Rejection records: ")[0]
    assert "\n  VOC2007/Annotations/c.xml object 0 (train, VOC2007/c): inverted_box" in message
    # TFX deletes the failed execution's outputs: the records are kept where the message says
    rejected = message.split("Rejection records: ")[1]
    assert os.path.dirname(rejected) == error.value.report_dir
    with open(rejected, encoding="utf-8") as f:
        assert [json.loads(line)["reason"] for line in f] == ["has_rejected_object", "inverted_box"]


def test_flat_layout_span_patterns_and_stable_hash_splits(tmp_path):
    base = tmp_path / "flat"
    sample_data.write_dataset(str(base / "span-1"), num_images=16, seed=5, layout="flat")
    work = str(tmp_path / "work")
    _, _, outputs = layout.voc_input_configs(str(base / "span-1"))
    inputs = example_gen_pb2.Input(
        splits=[example_gen_pb2.Input.Split(name="single_split", pattern="span-{SPAN}/*.xml")]
    )

    def run_and_read():
        vf.run_component(
            work, VocExampleGen(input_base=str(base), input_config=inputs, output_config=outputs)
        )
        examples = vf.latest_artifact(work, "Examples")
        splits = {}
        for split in ("train", "val"):
            for example in vf.read_split(examples.uri, split):
                splits[vf.feature_values(example, features.SOURCE_ID)[0].decode()] = split
        return examples, splits

    examples_1, splits_1 = run_and_read()
    assert vf.custom_properties(examples_1)["span"] == 1
    assert len(splits_1) == 16 and set(splits_1.values()) == {"train", "val"}
    for source_id, split in splits_1.items():
        index = layout.hash_split_index(source_id, outputs.split_config)
        assert split == ("train", "val")[index]

    # span 2 = span 1 + new images: the images of span 1 keep their splits
    shutil.copytree(base / "span-1", base / "span-2")
    for i in range(6):
        vf.write_file(
            str(base / "span-2" / f"new_{i}.xml"),
            vf.voc_xml(f"new_{i}.jpg", objects=[vf.obj("person")]),
        )
        vf.write_file(str(base / "span-2" / f"new_{i}.jpg"), vf.jpeg(seed=i))
    examples_2, splits_2 = run_and_read()
    assert vf.custom_properties(examples_2)["span"] == 2
    assert len(splits_2) == 22
    assert {k: v for k, v in splits_2.items() if k in splits_1} == splits_1
    _, report, _, totals, records, _ = _outputs(work)
    _check_totals_everywhere(examples_2, report, totals, records)


def test_case_split_classes_stop_the_run_until_merged(tmp_path):
    year = os.path.join(str(tmp_path), "VOCdevkit", "VOC2007")
    inverted = ("20", "6", "5", "25")
    images = {
        "a": [vf.obj("car"), vf.obj("car")],
        "b": [vf.obj("Car")],
        "c": [vf.obj("bus", box=inverted)],  # its only box is bad
        "d": [vf.obj("car"), vf.obj("car", box=inverted)],
    }
    for image_id, objects in images.items():
        vf.write_file(
            os.path.join(year, "Annotations", image_id + ".xml"),
            vf.voc_xml(image_id + ".jpg", objects=objects),
        )
        vf.write_file(os.path.join(year, "JPEGImages", image_id + ".jpg"), vf.jpeg())
    vf.write_file(os.path.join(year, "ImageSets", "Main", "train.txt"), "a\nb\nc\nd\n")
    base, inputs, outputs = layout.voc_input_configs(os.path.dirname(year), ["train"])

    with pytest.raises(BadInputError) as error:
        vf.run_component(
            str(tmp_path / "work1"),
            VocExampleGen(
                input_base=base,
                input_config=inputs,
                output_config=outputs,
                max_rejected_fraction=1.0,
            ),
        )
    message = str(error.value)
    assert (
        "class names that differ only in letter case would become separate classes:\n"
        "  'car' (4 objects), 'Car' (1 objects)\n"
        "    'Car' in 1 file(s): VOC2007/Annotations/b.xml\n"
        "Fix 1: merge them, e.g. --merge-classes Car=car\n"
        "Fix 2: give a --label-map"
    ) in message

    # merged, and partial images kept: the automatic label map lists only classes with
    # an exported box; the merge is recorded in ML Metadata and the totals
    work = str(tmp_path / "work2")
    vf.run_component(
        work,
        VocExampleGen(
            input_base=base,
            input_config=inputs,
            output_config=outputs,
            max_rejected_fraction=1.0,
            merge_classes={"Car": "car"},
            keep_partial_images=True,
        ),
    )
    examples, report, label_map_text, totals, records, _ = _outputs(work)
    _check_totals_everywhere(examples, report, totals, records)
    assert label_map_lib.parse_label_map(label_map_text) == {"car": 2}  # bus was id 1
    assert totals["num_classes"] == 2 and totals["label_map_classes"] == 1
    assert totals["classes_without_exported_boxes"] == ["bus"]
    assert totals["merge_classes"] == {"Car": "car"} and totals["class_name_collisions"] == []
    assert [(r["image_id"], r["reason"]) for r in records] == [
        ("VOC2007/c", "inverted_box"),
        ("VOC2007/d", "inverted_box"),
    ]
    exported = {
        vf.feature_values(e, features.SOURCE_ID)[0].decode(): vf.feature_values(
            e, features.CLASS_TEXT
        )
        for e in vf.read_split(examples.uri, "train")
    }
    assert exported == {
        "VOC2007/a": [b"car", b"car"],
        "VOC2007/b": [b"car"],
        "VOC2007/c": [],
        "VOC2007/d": [b"car"],
    }
    execution = vf.metadata_store_of(work).get_executions()[-1]
    assert execution.custom_properties["merge_classes"].string_value == "Car=car"
    label_map_artifact = vf.latest_artifact(work, "odweights.LabelMap")
    assert vf.custom_properties(label_map_artifact)["merge_classes"] == "Car=car"
