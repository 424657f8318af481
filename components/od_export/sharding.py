"""Deterministic sharding and order of the exported records.

Every record (one copy of one image) has a 64-bit key: the first 8 bytes of
sha256("<source_id>\\0<copy index>"). Its shard is key mod N and a shard's
records are sorted by (key, copy index, bytes), so the files depend only on
the records, never on processing order, and the copies of an image land in
different shards and far apart inside a shard.
"""

import hashlib
import math
import re
import struct

IMAGES_PER_SHARD = 1000
"""num_shards=0 (automatic): one shard per started 1,000 images of a split (as
counted by the VOC ExampleGen), fixed before any record is read; resampled
copies go into the same shards."""

MAX_SHARDS = 99999  # the 5-digit SSSSS/NNNNN of the file names

_RECORD_FILE = re.compile(r"^.+\.record-\d{5}-of-\d{5}$")


def fingerprint(text: str) -> int:
    """A 64-bit integer from sha256(text): stable across processes and machines."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def record_key(source_id: str, copy_index: int) -> int:
    return fingerprint(f"{source_id}\0{copy_index}")


def shard_of(key: int, num_shards: int) -> int:
    return key % num_shards


def automatic_num_shards(num_images: int) -> int:
    """ceil(num_images / 1000), at least 1."""
    return min(MAX_SHARDS, max(1, math.ceil(num_images / IMAGES_PER_SHARD)))


_SPILL_PREFIX = struct.Struct(">QI")


def spill_record(key: int, copy_index: int, serialized: bytes) -> bytes:
    """key and copy index (fixed-width, big-endian) + the example: sorting these
    bytes sorts by (key, copy index, example bytes)."""
    return _SPILL_PREFIX.pack(key, copy_index) + serialized


def spilled_example(record: bytes) -> bytes:
    return record[_SPILL_PREFIX.size :]


def shard_file_name(split: str, shard: int, num_shards: int) -> str:
    return f"{split}.record-{shard:05d}-of-{num_shards:05d}"


def shard_pattern(split: str, num_shards: int) -> str:
    """The glob the OD API's input_path takes for all shards of a split."""
    return f"{split}.record-?????-of-{num_shards:05d}"


def is_record_file(name: str) -> bool:
    """True for `<split>.record-SSSSS-of-NNNNN` names (any split, any shard count)."""
    return bool(_RECORD_FILE.match(name))
