"""The baseline: a serial Pascal VOC to TFRecord converter of the classic kind.

Written the way object_detection/dataset_tools/create_pascal_tf_record.py
works, plus a hard-coded per-class weight on every box: one process, one loop;
for each image id listed in ImageSets/Main/<split>.txt it parses the XML, reads
the image file, checks its format, builds one tf.Example with the OD API keys
and writes it to one uncompressed TFRecord file. No validation beyond that,
no metadata, no parallelism: the speed that odweights is compared against.

Usage: python benchmarks/serial_converter.py --voc-dir DIR --output FILE
Prints one JSON line with its own timings (epoch seconds) on stdout.
"""

import argparse
import hashlib
import io
import json
import os
import sys
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator

_STARTED = time.time()

import PIL.Image  # noqa: E402
import tensorflow as tf  # noqa: E402

from odweights import features  # noqa: E402

# The classic answer to class imbalance: a hand-written table of weights.
# Classes missing from it get DEFAULT_WEIGHT.
HARD_CODED_WEIGHTS = {"person": 0.2, "car": 0.5}
DEFAULT_WEIGHT = 1.0


def year_folders(voc_dir: str) -> list[str]:
    """The VOC year folders under voc_dir (VOCdevkit), or voc_dir itself."""
    if os.path.isdir(os.path.join(voc_dir, "Annotations")):
        return [voc_dir]
    return sorted(
        os.path.join(voc_dir, name)
        for name in os.listdir(voc_dir)
        if os.path.isdir(os.path.join(voc_dir, name, "Annotations"))
    )


def listed_ids(year_dir: str, splits: list[str]) -> Iterator[str]:
    for split in splits:
        path = os.path.join(year_dir, "ImageSets", "Main", f"{split}.txt")
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                image_id = line.strip()
                if image_id:
                    yield image_id


def _bytes(values: list[bytes]) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


def _floats(values: list[float]) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=values))


def _ints(values: list[int]) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def example_from_xml(
    year_dir: str, xml_text: bytes, label_ids: dict[str, int]
) -> tuple[tf.train.Example, int]:
    """One annotation file and its image as a tf.Example, and its box count."""
    root = ElementTree.fromstring(xml_text)
    filename = root.findtext("filename")
    with open(os.path.join(year_dir, "JPEGImages", filename), "rb") as image_file:
        encoded = image_file.read()
    image_format = PIL.Image.open(io.BytesIO(encoded)).format
    if image_format not in ("JPEG", "PNG"):
        raise ValueError(f"{filename}: image format {image_format} is not JPEG or PNG")
    size = root.find("size")
    width = int(size.findtext("width"))
    height = int(size.findtext("height"))
    xmin, ymin, xmax, ymax = [], [], [], []
    texts, labels, weights, difficult, truncated, poses = [], [], [], [], [], []
    for obj in root.iter("object"):
        name = obj.findtext("name")
        box = obj.find("bndbox")
        xmin.append(float(box.findtext("xmin")) / width)
        ymin.append(float(box.findtext("ymin")) / height)
        xmax.append(float(box.findtext("xmax")) / width)
        ymax.append(float(box.findtext("ymax")) / height)
        texts.append(name.encode("utf8"))
        labels.append(label_ids.setdefault(name, len(label_ids) + 1))
        weights.append(HARD_CODED_WEIGHTS.get(name, DEFAULT_WEIGHT))
        difficult.append(int(obj.findtext("difficult") or 0))
        truncated.append(int(obj.findtext("truncated") or 0))
        poses.append((obj.findtext("pose") or "Unspecified").encode("utf8"))
    example = tf.train.Example(
        features=tf.train.Features(
            feature={
                features.HEIGHT: _ints([height]),
                features.WIDTH: _ints([width]),
                features.FILENAME: _bytes([filename.encode("utf8")]),
                features.SOURCE_ID: _bytes([filename.encode("utf8")]),
                features.KEY_SHA256: _bytes([hashlib.sha256(encoded).hexdigest().encode("utf8")]),
                features.ENCODED: _bytes([encoded]),
                features.FORMAT: _bytes([image_format.lower().encode("utf8")]),
                features.BBOX_XMIN: _floats(xmin),
                features.BBOX_XMAX: _floats(xmax),
                features.BBOX_YMIN: _floats(ymin),
                features.BBOX_YMAX: _floats(ymax),
                features.CLASS_TEXT: _bytes(texts),
                features.CLASS_LABEL: _ints(labels),
                features.DIFFICULT: _ints(difficult),
                features.TRUNCATED: _ints(truncated),
                features.VIEW: _bytes(poses),
                features.WEIGHT: _floats(weights),
            }
        )
    )
    return example, len(texts)


def convert(voc_dir: str, output: str, splits: list[str]) -> dict[str, float]:
    """Converts every listed image; returns counts and timings."""
    label_ids: dict[str, int] = {}
    images = boxes = 0
    first_image_done = None
    with tf.io.TFRecordWriter(output) as writer:
        for year_dir in year_folders(voc_dir):
            for image_id in listed_ids(year_dir, splits):
                path = os.path.join(year_dir, "Annotations", f"{image_id}.xml")
                with open(path, "rb") as xml_file:
                    example, box_count = example_from_xml(year_dir, xml_file.read(), label_ids)
                writer.write(example.SerializeToString())
                images += 1
                boxes += box_count
                if first_image_done is None:
                    first_image_done = time.time()
    return {
        "images": images,
        "boxes": boxes,
        "classes": len(label_ids),
        "first_image_done": first_image_done,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voc-dir", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--splits", default="train,val")
    args = parser.parse_args(argv)
    imports_done = time.time()
    result = convert(args.voc_dir, args.output, args.splits.split(","))
    result.update(started=_STARTED, imports_done=imports_done, finished=time.time())
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
