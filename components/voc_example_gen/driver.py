"""Driver of VocExampleGen: TFX's span/version resolution, with a fingerprint of the
annotation and image files, not only of the files the split patterns match.

TFX's FileBasedDriver fingerprints the files matched by each split pattern
(for a VOCdevkit, the ImageSets .txt files), so editing an XML or an image
would leave TFX's cache serving stale examples. The fingerprint here also
covers Annotations/, JPEGImages/ and ImageSets/Main/ of every year folder
used (flat layout: every file under the folder of the matched XML files), by
file name, size and mtime in nanoseconds: listing and stat, never reading.

LocalDagRunner runs it as the component's custom driver: the IR compiler
records `DRIVER_CLASS` when it differs from BaseDriver, the launcher calls
`run()`, which stores this fingerprint in the `input_fingerprint` property
of the examples artifact and in the execution properties that make up the
cache key.
"""

import hashlib
import posixpath
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

import tensorflow as tf
from tfx.components.example_gen import driver as example_gen_driver
from tfx.components.example_gen import utils as example_gen_utils
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from odweights.components.voc_example_gen import layout

_DEVKIT_FOLDERS = (layout.ANNOTATIONS, layout.JPEG_IMAGES, layout.IMAGE_SETS)


def _dataset_roots(matched: Iterable[str]) -> List[str]:
    """Folders whose files make up the input of the matched split/annotation files."""
    roots = set()
    for path in matched:
        if layout.is_split_file(path):
            year_root = layout.year_root_of_split_file(path)
            roots.update(posixpath.join(year_root, folder) for folder in _DEVKIT_FOLDERS)
        else:
            roots.add(posixpath.dirname(path))
    return sorted(roots)


def _file_stats(root: str) -> Dict[str, Tuple[int, int]]:
    """{path: (size, mtime ns)} of every file under `root`."""
    stats = {}
    for directory, _, names in tf.io.gfile.walk(root):
        for name in names:
            path = posixpath.join(directory, name)
            stat = tf.io.gfile.stat(path)
            stats[path] = (stat.length, stat.mtime_nsec)
    return stats


def split_fingerprint(input_base: str, split: example_gen_pb2.Input.Split,
                      stats_by_root: Optional[Dict[str, Dict[str, Tuple[int, int]]]] = None) -> str:
    """Fingerprint of one split; `stats_by_root` shares the listings between splits
    (the splits of a VOCdevkit read the same year folders)."""
    if stats_by_root is None:
        stats_by_root = {}
    base = input_base.rstrip("/")
    matched = tf.io.gfile.glob(posixpath.join(base, split.pattern))
    stats: Dict[str, Tuple[int, int]] = {}
    for root in _dataset_roots(matched):
        if root not in stats_by_root:
            stats_by_root[root] = _file_stats(root)
        stats.update(stats_by_root[root])
    for path in matched:
        if path not in stats:
            stat = tf.io.gfile.stat(path)
            stats[path] = (stat.length, stat.mtime_nsec)
    digest = hashlib.sha256()
    for path in sorted(stats):
        size, mtime_nsec = stats[path]
        relative = path[len(base) + 1:] if path.startswith(base + "/") else path
        digest.update(f"{relative}\t{size}\t{mtime_nsec}\n".encode("utf-8"))
    total_bytes = sum(size for size, _ in stats.values())
    return (f"split:{split.name},num_files:{len(stats)},total_bytes:{total_bytes},"
            f"sha256:{digest.hexdigest()}")


def compute_input_fingerprint(input_base: str,
                              input_config: Union[example_gen_pb2.Input, str]) -> str:
    """The `input_fingerprint` VocExampleGen records, recomputed from the files.

    `input_config` is the resolved one of the execution (its `input_config`
    property, JSON or proto: {SPAN} already replaced by the span number).
    """
    if isinstance(input_config, str):
        proto = example_gen_pb2.Input()
        proto_utils.json_to_proto(input_config, proto)
        input_config = proto
    stats_by_root: Dict[str, Dict[str, Tuple[int, int]]] = {}
    return "\n".join(split_fingerprint(input_base, split, stats_by_root)
                     for split in input_config.splits)


class VocDriver(example_gen_driver.FileBasedDriver):
    """FileBasedDriver whose input fingerprint covers annotations and images."""

    def resolve_exec_properties(self, exec_properties: Dict[str, Any], pipeline_info,
                                component_info) -> Dict[str, Any]:
        exec_properties = super().resolve_exec_properties(
            exec_properties, pipeline_info, component_info)
        exec_properties[example_gen_utils.FINGERPRINT_PROPERTY_NAME] = compute_input_fingerprint(
            exec_properties[standard_component_specs.INPUT_BASE_KEY],
            exec_properties[standard_component_specs.INPUT_CONFIG_KEY])
        return exec_properties
