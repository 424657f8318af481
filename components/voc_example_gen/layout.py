"""Where the files of a VOC dataset are, and which split an image belongs to.

Two layouts:
- VOCdevkit (`VOC2007/`, `VOC2012/`... each with Annotations/, JPEGImages/,
  ImageSets/Main/<split>.txt) or one such year folder: one input split per
  chosen split, whose pattern matches the ImageSets/Main/<split>.txt files.
  image/source_id is `<year folder>/<id>`, e.g. `VOC2007/000005`.
- flat: a folder of XML files with their images beside them: one input split
  matching `*.xml`, and hash-bucket output splits keyed on image/source_id,
  which is the XML path relative to the folder without `.xml` (e.g. `cat_01`),
  so the split of an image never changes when other images are added. With
  a pattern such as `span-{SPAN}/*.xml` the id is relative to `span-N/`.
"""

import bisect
import hashlib
import posixpath
from collections.abc import Iterable, Mapping, Sequence

import tensorflow as tf
from tfx.proto import example_gen_pb2

from odweights import features
from odweights.components.voc_example_gen.split_names import IMAGE_SETS, check_split_names
from odweights.errors import InvalidOptionsError
from odweights.fileio import access_problem

ANNOTATIONS = "Annotations"
JPEG_IMAGES = "JPEGImages"
FLAT_PATTERN = "*.xml"


def year_root_of_split_file(split_file: str) -> str:
    """<root>/ImageSets/Main/<split>.txt -> <root>."""
    return posixpath.dirname(posixpath.dirname(posixpath.dirname(split_file)))


def annotation_path(year_root: str, image_id: str) -> str:
    return posixpath.join(year_root, ANNOTATIONS, image_id + ".xml")


def image_root(year_root: str) -> str:
    return posixpath.join(year_root, JPEG_IMAGES)


def devkit_source_id(year_root: str, image_id: str) -> str:
    return f"{posixpath.basename(year_root.rstrip('/'))}/{image_id}"


def pattern_root(input_base: str, pattern: str) -> str:
    """The folder a (resolved) split pattern starts from: its leading parts without wildcards."""
    fixed = []
    for part in pattern.split("/")[:-1]:
        if any(char in part for char in "*?["):
            break
        fixed.append(part)
    return posixpath.join(input_base.rstrip("/"), *fixed)


def flat_source_id(xml_path: str, root: str) -> str:
    """The XML path relative to the pattern root, without `.xml`: stable across spans."""
    prefix = root.rstrip("/") + "/"
    relative = (
        xml_path[len(prefix) :] if xml_path.startswith(prefix) else posixpath.basename(xml_path)
    )
    return relative[:-4] if relative.lower().endswith(".xml") else relative


def split_file_ids(text: str) -> list[str]:
    """Ids of an ImageSets file: first token of each non-blank line.

    Class files (`dog_train.txt`: `000005 -1`) work too: every listed id is used.
    """
    return [line.split()[0] for line in text.splitlines() if line.strip()]


def is_split_file(path: str) -> bool:
    return path.lower().endswith(".txt")


def hash_split_index(source_id: str, split_config: example_gen_pb2.SplitConfig) -> int:
    """The output split of an image under hash buckets, as TFX computes it.

    Same formula as TFX's ExampleGen partitioning with
    `partition_feature_name='image/source_id'`: sha256 of the serialised
    bytes feature, modulo the total number of buckets.
    """
    key = tf.train.Feature(
        bytes_list=tf.train.BytesList(value=[source_id.encode("utf-8")])
    ).SerializeToString(deterministic=True)
    bounds = []
    total = 0
    for split in split_config.splits:
        total += split.hash_buckets
        bounds.append(total)
    bucket = int(hashlib.sha256(key).hexdigest(), 16) % total
    return bisect.bisect(bounds, bucket)


def _available_splits(year_roots: Iterable[str]) -> list[str]:
    """The split files' names, for messages (class files, `<class>_<split>.txt`, left out)."""
    names = set()
    for root in year_roots:
        for path in tf.io.gfile.glob(posixpath.join(root, IMAGE_SETS, "*.txt")):
            name = posixpath.basename(path)[:-4]
            if "_" not in name:  # class files are `<class>_<split>.txt`
                names.add(name)
    return sorted(names)


def _is_year_folder(path: str) -> bool:
    return tf.io.gfile.isdir(posixpath.join(path, IMAGE_SETS))


def default_hash_buckets(splits: Sequence[str]) -> dict[str, int]:
    """8 buckets for the first split, 2 for each other one (train 8 / val 2)."""
    return {name: (8 if index == 0 else 2) for index, name in enumerate(splits)}


def voc_input_configs(
    voc_dir: str,
    splits: Sequence[str] = ("train", "val"),
    hash_buckets: Mapping[str, int] | None = None,
) -> tuple[str, example_gen_pb2.Input, example_gen_pb2.Output]:
    """(input_base, input_config, output_config) for VocExampleGen.

    `voc_dir` is a VOCdevkit folder, a single year folder, or a flat folder of
    XML files and images. For the flat layout `hash_buckets` ({split: buckets})
    sets the split proportions (default: 8 for the first split, 2 for others).
    Raises InvalidOptionsError for unknown split names and unrecognised folders,
    and for folders that cannot be read, naming the cause (fileio.access_problem).
    It reads the folder: VocExampleGen calls it when it runs, never at compile time.
    """
    check_split_names(splits)
    voc_dir = voc_dir.rstrip("/") or "/"
    if not tf.io.gfile.isdir(voc_dir):
        raise InvalidOptionsError(access_problem(voc_dir) or f"{voc_dir} is not a folder")
    if _is_year_folder(voc_dir):
        input_base, roots, prefix = voc_dir, [voc_dir], ""
    else:
        years = sorted(
            name.rstrip("/")
            for name in tf.io.gfile.listdir(voc_dir)
            if _is_year_folder(posixpath.join(voc_dir, name.rstrip("/")))
        )
        input_base, roots, prefix = voc_dir, [posixpath.join(voc_dir, y) for y in years], "*/"
    if roots:
        # a chosen name is looked up as it is: `train_small` is a split, not a class file
        unknown = [
            name
            for name in splits
            if not any(
                tf.io.gfile.exists(posixpath.join(root, IMAGE_SETS, f"{name}.txt"))
                for root in roots
            )
        ]
        if unknown:
            available = _available_splits(roots)
            raise InvalidOptionsError(
                f"split(s) {unknown} not found in {voc_dir}: no ImageSets/Main/<split>.txt; "
                f"available splits: {available or 'none'}"
            )
        input_config = example_gen_pb2.Input(
            splits=[
                example_gen_pb2.Input.Split(name=name, pattern=f"{prefix}{IMAGE_SETS}/{name}.txt")
                for name in splits
            ]
        )
        output_config = example_gen_pb2.Output()
        return input_base, input_config, output_config

    if not tf.io.gfile.glob(posixpath.join(voc_dir, FLAT_PATTERN)):
        raise InvalidOptionsError(
            f"{voc_dir} is neither a VOCdevkit folder (VOC2007/, VOC2012/ ... with "
            "ImageSets/Main), nor a year folder, nor a folder of .xml annotations"
        )
    buckets = dict(hash_buckets or default_hash_buckets(splits))
    if set(buckets) != set(splits) or any(
        not isinstance(n, int) or n < 1 for n in buckets.values()
    ):
        raise InvalidOptionsError(
            f"hash_buckets {buckets} must give a positive integer for each split of {list(splits)}"
        )
    input_config = example_gen_pb2.Input(
        splits=[example_gen_pb2.Input.Split(name="single_split", pattern=FLAT_PATTERN)]
    )
    output_config = example_gen_pb2.Output(
        split_config=example_gen_pb2.SplitConfig(
            splits=[
                example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=buckets[name])
                for name in splits
            ],
            partition_feature_name=features.SOURCE_ID,
        )
    )
    return voc_dir, input_config, output_config
