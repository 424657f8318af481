"""Driver of VocExampleGen: the dataset layout, TFX's span/version resolution, and a
fingerprint of every annotation and image file, all when the component runs.

1. Layout: with no explicit input_config, the split patterns come from
   layout.voc_input_configs on the input folder (VOCdevkit, year folder or
   flat), so that compiling a pipeline never reads the data.
2. Span and version: TFX's FileBasedDriver, for `{SPAN}`/`{VERSION}` patterns.
3. Fingerprint: TFX's own covers only the files the split patterns match (for
   a VOCdevkit, the ImageSets .txt files), so an edited XML or image would be
   served stale from the cache. This one also covers Annotations/,
   JPEGImages/ and ImageSets/Main/ of every year folder used (flat layout:
   every file under the folder of the matched XML files), by file name, size
   and modification time from directory listings (fileio.list_files: bulk on
   local disks and Cloud Storage, streamed in name order), never by reading
   files.

LocalDagRunner runs VocDriver before the executor (the IR compiler records a
DRIVER_CLASS that differs from BaseDriver), and its result is part of the
cache key. Kubeflow runs no custom driver: the executor calls
`resolve_input_properties` itself (see docs/kubeflow.md for caching there).
"""

import hashlib
import posixpath
from collections.abc import Iterable, Sequence
from typing import Any

import tensorflow as tf
from tfx.components.example_gen import driver as example_gen_driver
from tfx.components.example_gen import utils as example_gen_utils
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from odweights.components.voc_example_gen import layout
from odweights.fileio import list_files

SPLITS_KEY = "splits"

_DEVKIT_FOLDERS = (layout.ANNOTATIONS, layout.JPEG_IMAGES, layout.IMAGE_SETS)


def join_splits(splits: Sequence[str]) -> str:
    """('train', 'val') -> 'train,val': the `splits` execution property."""
    return ",".join(splits)


def _dataset_roots(matched: Iterable[str]) -> list[str]:
    """Folders whose files make up the input of the matched split/annotation files."""
    roots = set()
    for path in matched:
        if layout.is_split_file(path):
            year_root = layout.year_root_of_split_file(path)
            roots.update(posixpath.join(year_root, folder) for folder in _DEVKIT_FOLDERS)
        else:
            roots.add(posixpath.dirname(path))
    return sorted(roots)


def _roots_digest(base: str, roots: tuple[str, ...]) -> tuple[int, int, str]:
    """(files, bytes, sha256) of every file under the roots, in order of path.

    The roots are sorted and none is a prefix of another, so their listings, each
    in path order, follow one another in path order: one file at a time is held.
    """
    digest, num_files, total_bytes = hashlib.sha256(), 0, 0
    for root in roots:
        for path, size, mtime_nsec in list_files(root):
            relative = path[len(base) + 1 :] if path.startswith(base + "/") else path
            digest.update(f"{relative}\t{size}\t{mtime_nsec}\n".encode())
            num_files += 1
            total_bytes += size
    return num_files, total_bytes, digest.hexdigest()


def split_fingerprint(
    input_base: str,
    split: example_gen_pb2.Input.Split,
    digests: dict[tuple[str, ...], tuple[int, int, str]] | None = None,
) -> str:
    """Fingerprint of one split; `digests` shares the listings between splits (the
    splits of a VOCdevkit read the same year folders)."""
    digests = {} if digests is None else digests
    base = input_base.rstrip("/")
    roots = tuple(_dataset_roots(tf.io.gfile.glob(posixpath.join(base, split.pattern))))
    if roots not in digests:
        digests[roots] = _roots_digest(base, roots)
    num_files, total_bytes, sha256 = digests[roots]
    return f"split:{split.name},num_files:{num_files},total_bytes:{total_bytes},sha256:{sha256}"


def compute_input_fingerprint(input_base: str, input_config: example_gen_pb2.Input | str) -> str:
    """The `input_fingerprint` VocExampleGen records, recomputed from the files.

    `input_config` is the resolved one of the execution (its `input_config`
    property, JSON or proto: {SPAN} already replaced by the span number).
    """
    if isinstance(input_config, str):
        proto = example_gen_pb2.Input()
        proto_utils.json_to_proto(input_config, proto)
        input_config = proto
    digests: dict[tuple[str, ...], tuple[int, int, str]] = {}
    return "\n".join(split_fingerprint(input_base, split, digests) for split in input_config.splits)


def _detect_layout(exec_properties: dict[str, Any]) -> None:
    """Fills in input_config and output_config from the folder when none was given."""
    if exec_properties.get(standard_component_specs.INPUT_CONFIG_KEY):
        return
    splits = tuple(exec_properties[SPLITS_KEY].split(","))
    _, input_config, output_config = layout.voc_input_configs(
        exec_properties[standard_component_specs.INPUT_BASE_KEY], splits
    )
    exec_properties[standard_component_specs.INPUT_CONFIG_KEY] = proto_utils.proto_to_json(
        input_config
    )
    exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY] = proto_utils.proto_to_json(
        output_config
    )


class VocDriver(example_gen_driver.FileBasedDriver):
    """Layout detection, TFX's span resolution, and a fingerprint of annotations and images."""

    def resolve_exec_properties(
        self, exec_properties: dict[str, Any], pipeline_info, component_info
    ) -> dict[str, Any]:
        _detect_layout(exec_properties)
        exec_properties = super().resolve_exec_properties(
            exec_properties, pipeline_info, component_info
        )
        exec_properties[example_gen_utils.FINGERPRINT_PROPERTY_NAME] = compute_input_fingerprint(
            exec_properties[standard_component_specs.INPUT_BASE_KEY],
            exec_properties[standard_component_specs.INPUT_CONFIG_KEY],
        )
        return exec_properties


def resolve_input_properties(exec_properties: dict[str, Any], examples) -> dict[str, Any]:
    """The executor's side of VocDriver, for orchestrators that run no custom driver
    (Kubeflow): the resolved properties, also recorded on the `examples` artifacts
    (span, version, input_fingerprint) as the driver records them. Where the driver
    ran, the properties hold its fingerprint and are returned as they are."""
    if exec_properties.get(example_gen_utils.FINGERPRINT_PROPERTY_NAME):
        return exec_properties
    resolved = VocDriver(None).resolve_exec_properties(dict(exec_properties), None, None)
    for artifact in examples:
        example_gen_driver.update_output_artifact(resolved, artifact.mlmd_artifact)
    return resolved
