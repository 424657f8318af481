"""`odweights run` on a dataset built to catch exports that would tell the detector
something false (see docs/ingest.md and docs/run.md), through the real pipeline.

One dataset, three runs into one OUT: a run stopped by Ctrl-C after the VOC
ExampleGen, the same command again (it resumes from the cache), and a run that
stops for too many rejections. The checks of what is refused before anything
heavy is loaded need no pipeline.
"""

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys

import pytest
import tensorflow as tf
import voc_fixtures as vf
from PIL import Image

from odweights import errors, features
from odweights.app import cli
from odweights.components.od_export.publish import MANIFEST_FILE, file_sha256

pytestmark = pytest.mark.e2e

LABEL_MAP = b"item { id: 1 name: 'cat' display_name: 'Cat' }\r\nitem {\n  id: 3\n  name: 'dog'\n}\n"
MOTION_PHOTO_TAIL = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8
INVERTED = ("20", "6", "5", "25")


def _write_dataset(root):
    """VOC2007 with splits `train` and `val_small` (a name with '_')."""
    year = os.path.join(root, "VOCdevkit", "VOC2007")

    def image(image_id, data, objects, size=(40, 30)):
        vf.write_file(
            os.path.join(year, "Annotations", image_id + ".xml"),
            vf.voc_xml(image_id + ".jpg", size, objects),
        )
        if data is not None:
            vf.write_file(os.path.join(year, "JPEGImages", image_id + ".jpg"), data)

    train = []
    for index in range(6):
        image(f"t{index}", vf.jpeg(seed=index), [vf.obj(("cat", "dog")[index % 2])])
        train.append(f"t{index}")
    cases = {
        # boxes drawn on the stored pixels (LabelImg): kept stored, tag removed
        "exif_stored": (vf.jpeg(40, 30, seed=10, orientation=6), [vf.obj("cat")], (40, 30)),
        # boxes drawn on the upright pixels: rotated upright
        "exif_displayed": (
            vf.jpeg(40, 30, seed=11, orientation=6),
            [vf.obj("dog", box=("2", "3", "20", "35"))],
            (30, 40),
        ),
        # rotated 180 degrees: the size cannot tell
        "exif_ambiguous": (vf.jpeg(40, 30, seed=12, orientation=3), [vf.obj("cat")], (40, 30)),
        "motion_photo": (vf.jpeg(seed=13) + MOTION_PHOTO_TAIL, [vf.obj("dog")], (40, 30)),
        "bad_box": (vf.jpeg(seed=14), [vf.obj("cat"), vf.obj("dog", box=INVERTED)], (40, 30)),
        "unknown": (vf.jpeg(seed=15), [vf.obj("cat"), vf.obj("Dog")], (40, 30)),
    }
    for image_id, (data, objects, size) in cases.items():
        image(image_id, data, objects, size)
        train.append(image_id)
    for image_id in ("v0", "v1"):  # listed, but their images are missing
        image(image_id, None, [vf.obj("cat")])
    sets = os.path.join(year, "ImageSets", "Main")
    vf.write_file(os.path.join(sets, "train.txt"), "\n".join(train) + "\n")
    vf.write_file(os.path.join(sets, "val_small.txt"), "v0\nv1\n")
    vf.write_file(os.path.join(sets, "empty.txt"), "\n")
    return os.path.join(root, "VOCdevkit")


def _run_cli(argv):
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = cli.main(argv)
    return code, stdout.getvalue(), stderr.getvalue()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("trust")
    voc_dir = _write_dataset(str(root))
    label_map = root / "label_map.pbtxt"
    label_map.write_bytes(LABEL_MAP)
    out = root / "out"
    argv = [
        "run",
        "--voc-dir",
        voc_dir,
        "--output-dir",
        str(out),
        "--splits",
        "train,val_small",
        "--label-map",
        str(label_map),
        "--max-rejected-fraction",
        "0.5",
    ]
    return dict(root=root, voc_dir=voc_dir, out=str(out), argv=argv)


@pytest.fixture(scope="module")
def interrupted(dataset):
    """`odweights run` in its own process, sent SIGINT once the VOC ExampleGen is done."""
    process = subprocess.Popen(
        [sys.executable, "-m", "odweights.app.cli"] + dataset["argv"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "StatisticsGen" in line and "started" in line:
            process.send_signal(signal.SIGINT)
            break
    stdout, stderr = process.communicate(timeout=300)
    return dict(code=process.returncode, out="".join(lines) + stdout, err=stderr)


@pytest.fixture(scope="module")
def run(dataset, interrupted):
    code, out, err = _run_cli(dataset["argv"])
    assert code == 0, err
    export = os.path.join(dataset["out"], "export")
    with open(os.path.join(export, "summary.json"), encoding="utf-8") as file:
        summary = json.load(file)
    examples = {}
    for name in sorted(os.listdir(export)):
        if name.startswith("train.record-"):
            for record in tf.data.TFRecordDataset(os.path.join(export, name)):
                example = tf.train.Example.FromString(record.numpy())
                source_id = vf.feature_values(example, features.SOURCE_ID)[0].decode()
                examples[source_id.split("/")[1]] = example
    with open(os.path.join(export, "rejected.jsonl"), encoding="utf-8") as file:
        records = [json.loads(line) for line in file]
    return dict(out=out, export=export, summary=summary, examples=examples, records=records)


def test_ctrl_c_exits_130_with_one_line_and_the_next_run_resumes(interrupted, run):
    assert interrupted["code"] == errors.EXIT_INTERRUPTED, interrupted["err"]
    assert interrupted["err"].strip().splitlines() == [cli.INTERRUPTED_MESSAGE]
    assert "[1/7] VocExampleGen      done" in interrupted["out"]
    assert re.search(r"^  VocExampleGen +cached ", run["out"], re.MULTILINE)


def test_images_that_would_teach_background_are_rejected_whole(run):
    by_image = {(r["image_id"], r["object_index"]): r for r in run["records"]}
    assert by_image[("VOC2007/bad_box", None)]["reason"] == "has_rejected_object"
    assert by_image[("VOC2007/bad_box", 1)]["reason"] == "inverted_box"
    assert "bad_box" not in run["examples"]
    # a class outside the user's label map is dropped on purpose: the image stays
    assert by_image[("VOC2007/unknown", 1)]["detail"] == (
        "'Dog' is not in the label map; did you mean 'dog'"
    )
    assert vf.feature_values(run["examples"]["unknown"], features.CLASS_TEXT) == [b"cat"]
    assert run["summary"]["rejections"]["images_with_dropped_objects"] == 1


def test_exif_pixels_are_in_the_frame_of_the_boxes(run):
    stored = run["examples"]["exif_stored"]
    encoded = vf.feature_values(stored, features.ENCODED)[0]
    with Image.open(io.BytesIO(encoded)) as image:
        assert image.size == (40, 30) and image.getexif().get(0x0112) == 1
    displayed = run["examples"]["exif_displayed"]
    assert (
        vf.feature_values(displayed, features.WIDTH),
        vf.feature_values(displayed, features.HEIGHT),
    ) == ([30], [40])
    ambiguous = [r for r in run["records"] if r["image_id"] == "VOC2007/exif_ambiguous"]
    assert [r["reason"] for r in ambiguous] == ["exif_frame_ambiguous"]


def test_valid_files_are_not_rejected(run):
    motion = vf.feature_values(run["examples"]["motion_photo"], features.ENCODED)[0]
    assert motion.endswith(MOTION_PHOTO_TAIL)
    assert tf.io.decode_image(motion, channels=3).shape == (30, 40, 3)
    assert set(run["summary"]["splits"]) == {"train", "val_small"}


def test_an_emptied_evaluation_split_is_exported_empty_with_a_warning(run):
    warning = (
        "split 'val_small' has no examples: every image of it was rejected (see rejected.jsonl)"
    )
    assert run["summary"]["warnings"] == [warning]
    assert f"Warning: {warning}" in run["out"]
    assert run["summary"]["splits"]["val_small"]["records"] == 0
    assert os.path.getsize(os.path.join(run["export"], "val_small.record-00000-of-00001")) == 0


def test_the_label_map_is_the_users_byte_for_byte_and_num_classes_its_largest_id(run):
    with open(os.path.join(run["export"], "label_map.pbtxt"), "rb") as file:
        assert file.read() == LABEL_MAP
    assert run["summary"]["num_classes"] == 3
    with open(os.path.join(run["export"], "input_reader.config"), encoding="utf-8") as file:
        assert "num_classes: 3 " in file.read()


def test_the_manifest_lists_every_file_and_audit_verify_uses_it(run, dataset):
    with open(os.path.join(run["export"], MANIFEST_FILE), encoding="utf-8") as file:
        manifest = json.load(file)["files"]
    listed = {name for name in os.listdir(run["export"]) if name != MANIFEST_FILE}
    assert set(manifest) == listed - {"report.html"}  # the HTML report is written afterwards
    for name, entry in manifest.items():
        path = os.path.join(run["export"], name)
        assert entry == {"size": os.path.getsize(path), "sha256": file_sha256(path)}
    metadata = os.path.join(dataset["out"], "metadata.sqlite")
    assert _run_cli(["audit", run["export"], "--metadata", metadata, "--verify"])[0] == 0
    manifest_path = os.path.join(run["export"], MANIFEST_FILE)
    original = open(manifest_path, "rb").read()
    try:
        with open(manifest_path, "ab") as file:
            file.write(b" ")
        code, _, err = _run_cli(["audit", run["export"], "--metadata", metadata, "--verify"])
    finally:
        with open(manifest_path, "wb") as file:
            file.write(original)
    assert code == errors.EXIT_BAD_INPUT and f"{MANIFEST_FILE} changed" in err


def test_a_stopped_run_still_publishes_its_rejections(run, dataset):
    old_manifest = json.load(open(os.path.join(run["export"], MANIFEST_FILE)))["files"]
    code, _, err = _run_cli(dataset["argv"][:-2] + ["--max-rejected-fraction", "0.01"])
    assert code == errors.EXIT_BAD_INPUT
    assert "> --max-rejected-fraction 0.01" in err
    assert "\n  exif_frame_ambiguous  1\n  has_rejected_object   1\n" in err
    export = os.path.join(dataset["out"], "export")
    left = set(os.listdir(export))
    assert {"rejected.jsonl", "summary.json", MANIFEST_FILE} <= left
    assert not left & (set(old_manifest) - {"rejected.jsonl", "summary.json"})
    with open(os.path.join(export, "summary.json"), encoding="utf-8") as file:
        summary = json.load(file)
    assert summary["status"] == "stopped"
    assert summary["rejections"]["by_reason"]["missing_image"] == 2
    assert "--max-rejected-fraction" in summary["message"]
    with open(os.path.join(export, "rejected.jsonl"), encoding="utf-8") as file:
        assert len(file.read().splitlines()) == len(run["records"])


def test_refused_before_anything_heavy(dataset, tmp_path):
    inside = os.path.join(dataset["voc_dir"], "VOC2007", "out")
    code, _, err = _run_cli(["run", "--voc-dir", dataset["voc_dir"], "--output-dir", inside])
    assert code == errors.EXIT_INVALID_OPTIONS and "is inside --voc-dir" in err
    assert not os.path.exists(inside)
    code, _, err = _run_cli(
        [
            "run",
            "--voc-dir",
            dataset["voc_dir"],
            "--output-dir",
            str(tmp_path / "out"),
            "--splits",
            "train,empty",
        ]
    )
    assert code == errors.EXIT_INVALID_OPTIONS
    assert "ImageSets/Main/empty.txt list(s) no image id" in err
    assert "--splits train" in err
