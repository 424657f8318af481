"""What the report shows of the exported TFRecords, read in one streaming pass per split.

The sample of examples is drawn from the exported records themselves (what
the OD API will read), not from the XML: the first SAMPLE_SIZE records of the
split in file order, which the export's hash-keyed order makes a fixed,
pseudo-random choice. The same pass counts difficult and truncated boxes and
finds re-encoded images and clipped boxes; every list it keeps is bounded.
"""

import dataclasses
import math
import os
import posixpath
import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import google_crc32c

from odweights import features
from odweights.app.report import thumbnails
from odweights.components.od_export.sharding import shard_file_name
from odweights.errors import OdWeightsError
from odweights.fileio import open_for_reading

SAMPLE_SIZE = 24
MAX_FLAGGED = 12
"""Examples shown per data-quality flag (re-encoded images, clipped boxes)."""
MAX_CLIP_LOOKUPS = 200
"""XML files read per split to find clipped boxes: bounds the cost on large datasets."""
_IMAGE_EXTENSIONS = {"jpeg": (".jpg", ".jpeg", ".jpe"), "png": (".png",)}


@dataclasses.dataclass
class Shown:
    """One drawn example: its thumbnail and caption lines."""

    thumbnail: thumbnails.Thumbnail | None
    title: str
    lines: list[str]


@dataclasses.dataclass
class SplitRecords:
    split: str
    records: int = 0
    objects: int = 0
    difficult: int = 0
    truncated: int = 0
    without_objects: int = 0
    sample: list[Shown] = dataclasses.field(default_factory=list)
    reencoded: list[Shown] = dataclasses.field(default_factory=list)
    clipped: list[Shown] = dataclasses.field(default_factory=list)


_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")


def _masked_crc(data: bytes) -> int:
    """The TFRecord checksum: CRC32C, rotated right by 15 bits, plus a constant."""
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_tfrecords(path: str) -> Iterator[bytes]:
    """The records of an uncompressed TFRecord file, one at a time, checksums verified.

    A plain reader: eager tf.data costs ~1.7 ms a record, this ~10 µs, and TF's
    own iterator is deprecated (it warns on the console of `odweights report`).
    """
    corrupt = OdWeightsError(
        f"{path} is truncated or corrupt (a TFRecord checksum does not "
        "match): run `odweights run` again to write the export anew"
    )
    with open_for_reading(path) as file:
        while True:
            header = file.read(_LENGTH.size + _CRC.size)
            if not header:
                return
            if len(header) != _LENGTH.size + _CRC.size or _CRC.unpack_from(header, _LENGTH.size)[
                0
            ] != _masked_crc(header[: _LENGTH.size]):
                raise corrupt
            length = _LENGTH.unpack_from(header)[0]
            data = file.read(length)
            footer = file.read(_CRC.size)
            if (
                len(data) != length
                or len(footer) != _CRC.size
                or _CRC.unpack(footer)[0] != _masked_crc(data)
            ):
                raise corrupt
            yield data


def _features(serialized: bytes):
    """The feature map of a serialized tf.Example."""
    import tensorflow as tf

    return tf.train.Example.FromString(serialized).features.feature


def _values(feature, key: str):
    if key not in feature:
        return []
    kind = feature[key].WhichOneof("kind")
    return getattr(feature[key], kind).value if kind else []


def _first(feature, key: str, default):
    values = _values(feature, key)
    return values[0] if len(values) else default


class _Example:
    """The features of an exported tf.Example that the report draws and captions. Read
    only for the records it draws or checks: that costs twice the parse itself."""

    def __init__(self, feature):
        def text(key):
            return _first(feature, key, b"").decode("utf-8", "replace")

        self.encoded = _first(feature, features.ENCODED, b"")
        self.format = text(features.FORMAT)
        self.filename = text(features.FILENAME)
        self.source_id = text(features.SOURCE_ID)
        self.width = _first(feature, features.WIDTH, 0)
        self.height = _first(feature, features.HEIGHT, 0)
        # Lists of unequal length (not an export of odweights) are drawn as far as they agree.
        self.boxes = list(
            zip(
                _values(feature, features.BBOX_XMIN),
                _values(feature, features.BBOX_YMIN),
                _values(feature, features.BBOX_XMAX),
                _values(feature, features.BBOX_YMAX),
                strict=False,
            )
        )
        self.classes = [
            name.decode("utf-8", "replace") for name in _values(feature, features.CLASS_TEXT)
        ]
        self.weights = list(_values(feature, features.WEIGHT))


def _boxes_with_weights(example: _Example) -> list[thumbnails.Box]:
    return [
        thumbnails.Box(*box, label=f"{name} {weight:.3g}", colour=thumbnails.KEPT)
        for box, name, weight in zip(example.boxes, example.classes, example.weights, strict=False)
    ]


def counted(count: int, noun: str) -> str:
    """'1 box', '2 boxes', '3 images': the count and the noun in its number."""
    if count == 1:
        return f"1 {noun}"
    return f"{count:,} {noun}es" if noun.endswith(("s", "x")) else f"{count:,} {noun}s"


def _shown(
    example: _Example, boxes: Sequence[thumbnails.Box], lines: list[str], budget: thumbnails.Budget
) -> Shown:
    decoded = thumbnails.decode(example.encoded)
    if decoded is None:
        return Shown(None, example.source_id, lines + ["the image cannot be decoded"])
    thumbnail = budget.render(decoded.image, boxes)
    return Shown(
        thumbnail, example.source_id, lines + ([] if thumbnail else [thumbnails.OVER_BUDGET])
    )


def _is_reencoded(example: _Example) -> bool:
    """Written as a format its file name does not have (GIF/BMP/... re-encoded to PNG)."""
    extension = posixpath.splitext(example.filename.lower())[1]
    known = _IMAGE_EXTENSIONS.get(example.format)
    return bool(known) and bool(extension) and extension not in known


def _on_border(example: _Example) -> bool:
    return any(value in (0.0, 1.0) for box in example.boxes for value in box)


def clipped_boxes(example: _Example, annotation) -> list[thumbnails.Box]:
    """Before (as in the XML) and after (as exported) boxes of the objects that were clipped."""
    width, height = example.width, example.height  # the ingest normalises by the image's size
    if annotation is None or not width or not height:
        return []
    exported = set(
        (round(b[0], 5), round(b[1], 5), round(b[2], 5), round(b[3], 5)) for b in example.boxes
    )
    drawn = []
    for obj in annotation.objects:
        try:
            xmin, ymin, xmax, ymax = (float(value) for value in obj.box or ())
        except (TypeError, ValueError):
            continue
        raw = (xmin / width, ymin / height, xmax / width, ymax / height)
        if not all(math.isfinite(v) for v in raw) or all(0.0 <= v <= 1.0 for v in raw):
            continue
        after = tuple(min(1.0, max(0.0, value)) for value in raw)
        if tuple(round(v, 5) for v in after) not in exported:
            continue
        drawn.append(
            thumbnails.Box(*raw, label=f"{obj.name} before", colour=thumbnails.BEFORE_CLIPPING)
        )
        drawn.append(thumbnails.Box(*after, label="", colour=thumbnails.AFTER_CLIPPING))
    return drawn


def scan_split(
    export_dir: str,
    split: str,
    num_shards: int,
    find_annotation: Callable[[str], object] | None,
    totals: Mapping[str, Any],
    budget: thumbnails.Budget,
) -> SplitRecords:
    """Streams the split's record files once. The checks for clipped boxes and
    re-encoded images run only when the ingest `totals` count some;
    `find_annotation(source_id)` gives the XML (or None) of a clipped candidate."""
    import tensorflow as tf

    check_clipped = find_annotation is not None and int(totals.get("boxes_clipped") or 0) > 0
    reencoded = int(totals.get("reencoded_to_png") or 0) > 0
    result = SplitRecords(split)
    lookups = 0
    paths = [
        os.path.join(export_dir, shard_file_name(split, shard, num_shards))
        for shard in range(num_shards)
    ]
    paths = [path for path in paths if tf.io.gfile.exists(path)]  # a deleted shard: not shown
    for serialized in (record for path in paths for record in read_tfrecords(path)):
        feature = _features(serialized)
        num_boxes = len(_values(feature, features.CLASS_TEXT))
        result.records += 1
        result.objects += num_boxes
        # The ingest writes the flags as 0 or 1: their sum counts the flagged boxes.
        result.difficult += sum(_values(feature, features.DIFFICULT))
        result.truncated += sum(_values(feature, features.TRUNCATED))
        result.without_objects += int(not num_boxes)
        wanted = (
            len(result.sample) < SAMPLE_SIZE
            or (reencoded and len(result.reencoded) < MAX_FLAGGED)
            or (check_clipped and len(result.clipped) < MAX_FLAGGED and lookups < MAX_CLIP_LOOKUPS)
        )
        if not wanted:
            continue
        example = _Example(feature)
        if len(result.sample) < SAMPLE_SIZE:
            result.sample.append(
                _shown(
                    example,
                    _boxes_with_weights(example),
                    [example.filename, counted(num_boxes, "box")],
                    budget,
                )
            )
        if reencoded and len(result.reencoded) < MAX_FLAGGED and _is_reencoded(example):
            result.reencoded.append(
                _shown(
                    example,
                    _boxes_with_weights(example),
                    [f"{example.filename} written as {example.format.upper()}"],
                    budget,
                )
            )
        if (
            check_clipped
            and len(result.clipped) < MAX_FLAGGED
            and lookups < MAX_CLIP_LOOKUPS
            and _on_border(example)
        ):
            lookups += 1
            drawn = clipped_boxes(example, find_annotation(example.source_id))
            if drawn:
                result.clipped.append(
                    _shown(
                        example,
                        drawn,
                        [f"{example.filename}: {counted(len(drawn) // 2, 'box')} clipped"],
                        budget,
                    )
                )
    return result
