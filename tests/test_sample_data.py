"""Tests of app/sample_data.py: determinism, distribution, formats, quirks, pixels."""

import hashlib
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest
from PIL import Image

from odweights import errors
from odweights.app import cli, sample_data

NUM_IMAGES = 300
JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
COLOUR_TOLERANCE = 60.0  # Euclidean RGB distance that still counts as the class colour


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("sample")
    summary = sample_data.write_dataset(out_dir, num_images=NUM_IMAGES, seed=0)
    return out_dir, summary


@pytest.fixture(scope="module")
def annotations(dataset):
    """{image id: parsed annotation}, read by tag name as a careful reader would."""
    _, summary = dataset
    folder = os.path.join(summary.dataset_dir, "Annotations")
    return {name[:-4]: _parse(os.path.join(folder, name)) for name in sorted(os.listdir(folder))}


def _parse(path):
    root = ElementTree.parse(path).getroot()
    size = root.find("size")
    objects = []
    for obj in root.findall("object"):
        box = obj.find("bndbox")
        objects.append(
            {
                "name": obj.findtext("name"),
                "difficult": int(obj.findtext("difficult", "0")),
                "truncated": int(obj.findtext("truncated", "0")),
                "box": tuple(
                    int(float(box.findtext(tag))) for tag in ("xmin", "ymin", "xmax", "ymax")
                ),
            }
        )
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    return {
        "filename": root.findtext("filename"),
        "width": int(size.findtext("width")),
        "height": int(size.findtext("height")),
        "depth": int(size.findtext("depth")),
        "objects": objects,
        "text": text,
        "object_elements": root.findall("object"),
    }


def _file_hashes(folder):
    hashes = {}
    for parent, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(parent, name)
            with open(path, "rb") as handle:
                hashes[os.path.relpath(path, folder)] = hashlib.sha256(handle.read()).hexdigest()
    return hashes


def _image_path(summary, annotation):
    return os.path.join(summary.dataset_dir, "JPEGImages", annotation["filename"])


def _read_split(summary, split):
    with open(os.path.join(summary.dataset_dir, "ImageSets", "Main", split + ".txt")) as handle:
        return handle.read().split("\n")


# ---------------------------------------------------------------- determinism


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(dataset, tmp_path):
    out_dir, _ = dataset
    sample_data.write_dataset(tmp_path / "again", num_images=NUM_IMAGES, seed=0)
    sample_data.write_dataset(tmp_path / "other", num_images=60, seed=1)
    first = _file_hashes(out_dir)
    assert len(first) == 2 * NUM_IMAGES + 3
    assert _file_hashes(tmp_path / "again") == first
    other = _file_hashes(tmp_path / "other")
    annotations_changed = [
        path for path in other if path.endswith(".xml") and other[path] != first[path]
    ]
    assert len(annotations_changed) == 60


def test_rewriting_the_same_dataset_is_allowed_but_mixing_datasets_is_refused(tmp_path):
    sample_data.write_dataset(tmp_path, num_images=12, seed=5)
    before = _file_hashes(tmp_path)
    sample_data.write_dataset(tmp_path, num_images=12, seed=5)
    assert _file_hashes(tmp_path) == before
    with pytest.raises(errors.InvalidOptionsError, match="delete that folder"):
        sample_data.write_dataset(tmp_path, num_images=11, seed=5)


# ---------------------------------------------------------------- distribution


def test_class_distribution_of_the_written_files_is_long_tailed(dataset, annotations):
    _, summary = dataset
    counts = {}
    for annotation in annotations.values():
        for obj in annotation["objects"]:
            counts[obj["name"]] = counts.get(obj["name"], 0) + 1
    assert counts == summary.class_counts
    assert len(counts) >= 8
    assert max(counts.values()) >= 50 * min(counts.values())
    assert list(summary.class_counts) == list(sample_data.CLASS_NAMES[:10])
    ordered = list(summary.class_counts.values())
    assert ordered == sorted(ordered, reverse=True)  # head class first
    assert sum(counts.values()) >= 2 * NUM_IMAGES  # several objects per image


@pytest.mark.parametrize("num_images", [300, 301, 377, 1000, 3000])
@pytest.mark.parametrize("num_classes", [8, 10, 40, 60])
@pytest.mark.parametrize("seed", [0, 1])
def test_head_to_tail_ratio_is_at_least_50_for_any_n_from_300(num_images, num_classes, seed):
    # The plan decides every object before any pixel is drawn; write_dataset
    # writes exactly the plan (checked on real files in the test above).
    plans = sample_data._plan_dataset(num_images, seed, num_classes)
    counts = [0] * num_classes
    for plan in plans:
        for obj in plan.objects:
            counts[obj.class_index] += 1
    assert min(counts) >= 1
    assert max(counts) >= 50 * min(counts)


def test_more_classes_than_the_name_list_get_generated_names(tmp_path):
    names = sample_data.class_names(sample_data.MAX_CLASSES)
    assert len(set(names)) == sample_data.MAX_CLASSES
    assert names[:3] == ["person", "car", "top"]
    assert names[-1] == "class_60"
    colours = sample_data.class_colours(sample_data.MAX_CLASSES)
    assert len(set(colours)) == sample_data.MAX_CLASSES
    summary = sample_data.write_dataset(tmp_path, num_images=40, seed=0, num_classes=45)
    assert list(summary.class_counts) == names[:45]
    assert min(summary.class_counts.values()) >= 1


# ---------------------------------------------------------------- formats


def test_images_are_real_jpeg_and_png_files_whose_size_matches_the_annotation(dataset, annotations):
    _, summary = dataset
    formats = {"JPEG": 0, "PNG": 0}
    for image_id, annotation in annotations.items():
        path = _image_path(summary, annotation)
        with open(path, "rb") as handle:
            head = handle.read(8)
        if path.endswith(".png"):
            assert head == PNG_MAGIC
        else:
            assert path.endswith(".jpg") and head.startswith(JPEG_MAGIC)
        with Image.open(path) as image:
            formats[image.format] += 1
            assert image.size == (annotation["width"], annotation["height"])
            assert image.mode == "RGB" and annotation["depth"] == 3
            assert (
                sample_data.MIN_SIDE <= min(image.size) <= max(image.size) <= sample_data.MAX_SIDE
            )
        assert os.path.basename(path).startswith(image_id)
    assert formats["PNG"] == summary.png_images == 30
    assert formats["JPEG"] == NUM_IMAGES - 30
    jpeg_sizes = [
        os.path.getsize(_image_path(summary, a))
        for a in annotations.values()
        if a["filename"].endswith(".jpg")
    ]
    assert 4_000 < sum(jpeg_sizes) / len(jpeg_sizes) < 25_000


def test_annotation_tool_quirks_are_all_present(annotations):
    texts = [a["text"] for a in annotations.values()]

    def files_with(pattern):
        return sum(bool(re.search(pattern, text)) for text in texts)

    assert files_with(r"<path>[A-Z]:\\data\\img\\\d{6}\.(jpg|png)</path>") > 20
    assert files_with(r"\n\t<size>") > 20  # tab indentation
    assert files_with(r"\n    <size>") > 20  # four spaces
    assert files_with(r"\n  <size>") > 20  # two spaces
    assert files_with(r"<pose>Unspecified</pose>") > 100
    assert files_with(r"<xmin>\d+\.0</xmin>") > 20  # float coordinates
    assert files_with(r"<xmin>\d+</xmin>") > 20  # integer coordinates
    assert files_with(r"<segmented>0</segmented>") == len(texts)
    assert files_with(r"<source>\s*<database>Unknown</database>") > 20
    assert files_with(r"<occluded>[01]</occluded>") > 20
    assert files_with(r"<attributes>") > 20
    assert files_with(r"<\?xml ") > 20 and files_with(r"^<annotation>") > 20
    first_children = {
        a["object_elements"][0][0].tag for a in annotations.values() if a["object_elements"]
    }
    assert {"name", "bndbox"} <= first_children
    coordinate_orders = {
        tuple(child.tag for child in obj.find("bndbox"))
        for a in annotations.values()
        for obj in a["object_elements"]
    }
    assert len(coordinate_orders) >= 2
    assert any(
        obj.find("difficult") is None for a in annotations.values() for obj in a["object_elements"]
    )


def test_empty_images_difficult_and_truncated_objects_are_present(dataset, annotations):
    _, summary = dataset
    empty = [i for i, a in annotations.items() if not a["objects"]]
    assert len(empty) == summary.empty_images == 9
    assert set(empty) <= set(_read_split(summary, "trainval"))
    objects = [o for a in annotations.values() for o in a["objects"]]
    assert sum(o["difficult"] for o in objects) == summary.difficult_objects >= 20
    assert sum(o["truncated"] for o in objects) == summary.truncated_objects >= 20
    assert max(len(a["objects"]) for a in annotations.values()) >= 5


def test_boxes_are_valid_do_not_overlap_and_only_truncated_ones_touch_the_border(annotations):
    for annotation in annotations.values():
        width, height = annotation["width"], annotation["height"]
        boxes = [o["box"] for o in annotation["objects"]]
        for obj in annotation["objects"]:
            xmin, ymin, xmax, ymax = obj["box"]
            assert 1 <= xmin < xmax <= width and 1 <= ymin < ymax <= height
            touches = xmin == 1 or ymin == 1 or xmax == width or ymax == height
            assert touches == bool(obj["truncated"]), (annotation["filename"], obj)
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1]


def _box_fits_drawing(pixels, box, colour):
    """True if the VOC box covers object pixels exactly: inside and edges in the
    class colour, the pixels just outside it (where in the image) not."""
    height, width, _ = pixels.shape
    xmin, ymin, xmax, ymax = box
    # A window one pixel larger than the box on each side (where the image
    # allows); x0..x1, y0..y1 are the box's 0-based inclusive pixels in it.
    left, top = max(xmin - 2, 0), max(ymin - 2, 0)
    window = pixels[top : min(ymax + 1, height), left : min(xmax + 1, width)]
    near = np.linalg.norm(window - np.array(colour, dtype=np.float32), axis=2) < COLOUR_TOLERANCE
    x0, y0, x1, y1 = xmin - 1 - left, ymin - 1 - top, xmax - 1 - left, ymax - 1 - top
    if near[y0 : y1 + 1, x0 : x1 + 1].mean() <= 0.99:
        return False
    edges = (
        near[y0, x0 : x1 + 1],
        near[y1, x0 : x1 + 1],
        near[y0 : y1 + 1, x0],
        near[y0 : y1 + 1, x1],
    )
    outside = (
        near[y0 - 1, x0 : x1 + 1] if y0 >= 1 else None,
        near[y1 + 1, x0 : x1 + 1] if y1 + 1 < near.shape[0] else None,
        near[y0 : y1 + 1, x0 - 1] if x0 >= 1 else None,
        near[y0 : y1 + 1, x1 + 1] if x1 + 1 < near.shape[1] else None,
    )
    return all(edge.mean() > 0.95 for edge in edges) and all(
        ring.mean() < 0.05 for ring in outside if ring is not None
    )


def test_every_box_lies_on_its_drawn_object(dataset, annotations):
    _, summary = dataset
    checked = shifted_boxes_rejected = 0
    for annotation in annotations.values():
        with Image.open(_image_path(summary, annotation)) as image:
            pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
        for obj in annotation["objects"]:
            colour = summary.class_colours[obj["name"]]
            assert _box_fits_drawing(pixels, obj["box"], colour), (annotation["filename"], obj)
            checked += 1
            # The check is sharp: the same box one pixel off does not fit.
            xmin, ymin, xmax, ymax = obj["box"]
            if not obj["truncated"]:
                shifted = [
                    (xmin + dx, ymin + dy, xmax + dx, ymax + dy)
                    for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1))
                ]
                assert not any(_box_fits_drawing(pixels, box, colour) for box in shifted)
                shifted_boxes_rejected += 1
    assert checked == summary.num_objects
    assert shifted_boxes_rejected > summary.num_objects / 2


# ---------------------------------------------------------------- splits


def test_split_files_are_sorted_disjoint_and_cover_every_annotation(dataset, annotations):
    _, summary = dataset
    splits = {}
    for split in sample_data.SPLITS:
        lines = _read_split(summary, split)
        assert lines[-1] == ""  # newline-terminated
        ids = lines[:-1]
        assert ids == sorted(set(ids))
        splits[split] = ids
        assert len(ids) == summary.split_images[split]
    assert not set(splits["train"]) & set(splits["val"])
    assert sorted(splits["train"] + splits["val"]) == splits["trainval"] == list(annotations)
    assert 0.65 < len(splits["train"]) / NUM_IMAGES < 0.75
    for split in ("train", "val"):
        counts = {name: 0 for name in summary.class_names}
        for image_id in splits[split]:
            for obj in annotations[image_id]["objects"]:
                counts[obj["name"]] += 1
        assert counts == summary.split_class_counts[split]
        assert all(counts.values()), (split, counts)  # every class in train and in val


# ---------------------------------------------------------------- layouts, CLI, errors


def test_flat_layout_puts_annotations_beside_the_images(tmp_path):
    summary = sample_data.write_dataset(tmp_path, num_images=20, seed=2, layout="flat")
    names = sorted(os.listdir(tmp_path))
    assert summary.dataset_dir == str(tmp_path)
    assert len([n for n in names if n.endswith(".xml")]) == 20
    images = [n for n in names if not n.endswith(".xml")]
    assert len(images) == 20 and {n[-4:] for n in images} == {".jpg", ".png"}
    assert not os.path.exists(tmp_path / "VOCdevkit")
    assert "Splits: none written (flat layout)" in summary.describe()
    for name in names:
        if name.endswith(".xml"):
            annotation = _parse(tmp_path / name)
            assert os.path.isfile(tmp_path / annotation["filename"])


def test_cli_writes_the_same_dataset_as_the_library(tmp_path, capsys):
    exit_code = cli.main(["sample-data", str(tmp_path / "cli"), "--images", "15", "--seed", "9"])
    printed = capsys.readouterr().out
    assert exit_code == 0
    summary = sample_data.write_dataset(tmp_path / "lib", num_images=15, seed=9)
    assert _file_hashes(tmp_path / "cli") == _file_hashes(tmp_path / "lib")
    assert printed.startswith("Wrote 15 images")
    assert printed.split("\n")[1:] == summary.describe().split("\n")[1:] + [""]


def test_cli_options_for_classes_and_layout(tmp_path, capsys):
    assert (
        cli.main(
            ["sample-data", str(tmp_path), "--images", "30", "--classes", "25", "--layout", "flat"]
        )
        == 0
    )
    assert "in 25 classes" in capsys.readouterr().out
    assert len([n for n in os.listdir(tmp_path) if n.endswith(".xml")]) == 30


def test_cli_rejects_bad_options_with_exit_code_2(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "odweights.app.cli", "sample-data", str(tmp_path), "--images", "0"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == errors.EXIT_INVALID_OPTIONS
    assert "number of images must be an integer from 1" in result.stderr
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize(
    "options",
    [
        {"num_images": 0},
        {"num_images": -3},
        {"num_images": True},
        {"num_images": 2.5},
        {"num_classes": 7},
        {"num_classes": 61},
        {"layout": "coco"},
        {"seed": "1"},
    ],
)
def test_invalid_options_raise_a_clear_error(tmp_path, options):
    with pytest.raises(errors.InvalidOptionsError, match="must be"):
        sample_data.write_dataset(tmp_path, **options)
    assert not os.listdir(tmp_path)


def test_a_single_image_works(tmp_path):
    summary = sample_data.write_dataset(tmp_path, num_images=1, seed=0)
    assert summary.num_images == 1 and summary.split_images["train"] == 1
    assert summary.num_objects >= 1


def test_describe_is_short_and_names_the_counts(dataset):
    _, summary = dataset
    text = summary.describe()
    assert 3 <= len(text.split("\n")) <= 6
    assert f"{NUM_IMAGES} images" in text and "30 PNG" in text and "9 without objects" in text
    assert f"head:tail {max(summary.class_counts.values())}:" in text
