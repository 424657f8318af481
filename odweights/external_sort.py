"""Sorting more records than a worker may hold: sorted runs on disk, merged.

A worker that produces records appends them to a buffer and, when the buffer
is full (and at the end of its bundle), writes it sorted as one run file of
length-prefixed records (`frame`): memory is the buffer, one file is open.
A run file holds one or more segments (path, offset, length), each sorted.
`sorted_records` then yields the records of any number of segments in order:
sorted in memory when they are small, else merged from disk, at most `fan_in`
segments open at once (several passes through intermediate runs when there
are more). Memory and open files stay bounded whatever the data size, and the
order is a total order of the records, so the output never depends on
bundles, buffers or workers (see docs/scale.md).
"""

import contextlib
import heapq
import os
import struct
import uuid
from collections.abc import Callable, Iterable, Iterator

from odweights import fileio
from odweights.errors import OdWeightsError

Segment = tuple[str, int, int]  # (path, offset, length in bytes)
SortKey = Callable[[bytes], object] | None  # None: the record's bytes

BUFFER_BYTES = 32 << 20
"""Records a producing worker holds before it writes them as one run."""
SORT_IN_MEMORY_BYTES = 256 << 20
"""Segments larger than this in total are merged from disk instead of sorted in memory."""
MERGE_FAN_IN = 64
"""Segments open at once while merging."""

_FRAME_LENGTH = struct.Struct(">Q")


def frame(record: bytes) -> bytes:
    """The record after its length: run files are temporary files of one executor, so
    they need no TFRecord CRC, and are read back without tf.data."""
    return _FRAME_LENGTH.pack(len(record)) + record


def unframe(data: bytes) -> Iterator[bytes]:
    """The records of framed bytes read at once; a cut record is an error, so a truncated
    file never loses records silently."""
    offset = 0
    while offset < len(data):
        end = offset + _FRAME_LENGTH.size
        if end <= len(data):
            end += _FRAME_LENGTH.unpack_from(data, offset)[0]
        if end > len(data):
            raise OdWeightsError(
                f"spill data of {len(data)} bytes ends inside the record at byte {offset}, "
                f"which needs {end}: the temporary spill file was truncated; run again"
            )
        yield data[offset + _FRAME_LENGTH.size : end]
        offset = end


def read_frames(handle, length: int) -> Iterator[bytes]:
    """The records in the next `length` bytes of framed records of a file object, one at
    a time (a merge holds one record per input); a cut record is an error, as in unframe."""
    remaining = length
    while remaining > 0:
        header = handle.read(_FRAME_LENGTH.size)
        size = _FRAME_LENGTH.unpack(header)[0] if len(header) == _FRAME_LENGTH.size else -1
        record = handle.read(size) if size >= 0 else b""
        remaining -= _FRAME_LENGTH.size + size
        if size < 0 or len(record) != size or remaining < 0:
            raise OdWeightsError(
                f"a spill segment of {length} bytes ends inside a record: the temporary "
                "spill file was truncated; run again"
            )
        yield record


def write_run(
    path: str, groups: Iterable[tuple[object, Iterable[bytes]]]
) -> list[tuple[object, Segment]]:
    """Writes (name, records) groups one after another into one file; each group's
    records must already be in order. Returns (name, segment) per group."""
    segments, offset = [], 0
    with fileio.open_for_writing(path) as handle:
        for name, records in groups:
            start = offset
            for record in records:
                framed = frame(record)
                handle.write(framed)
                offset += len(framed)
            segments.append((name, (path, start, offset - start)))
    return segments


def _segment_bytes(segment: Segment) -> bytes:
    path, offset, length = segment
    with fileio.open_for_reading(path) as handle:
        handle.seek(offset)
        return handle.read(length)


def _merged(segments: list[Segment], key: SortKey) -> Iterator[bytes]:
    """The records of sorted segments in order, one record per segment in memory."""
    with contextlib.ExitStack() as stack:
        streams = []
        for path, offset, length in segments:
            handle = stack.enter_context(fileio.open_for_reading(path))
            handle.seek(offset)
            streams.append(read_frames(handle, length))
        yield from heapq.merge(*streams, key=key)


def sorted_records(
    segments: Iterable[Segment],
    work_dir: str,
    key: SortKey = None,
    sort_bytes: int | None = None,
    fan_in: int | None = None,
) -> Iterator[bytes]:
    """Every record of the (each sorted) segments, in order of `key`.

    sort_bytes, fan_in: None for SORT_IN_MEMORY_BYTES, MERGE_FAN_IN (read when
    called). Intermediate runs of a merge in several passes go to work_dir.
    """
    sort_bytes = SORT_IN_MEMORY_BYTES if sort_bytes is None else sort_bytes
    fan_in = MERGE_FAN_IN if fan_in is None else fan_in
    segments = sorted(segments)
    if sum(length for _, _, length in segments) <= sort_bytes:
        records = [record for segment in segments for record in unframe(_segment_bytes(segment))]
        records.sort(key=key)
        return iter(records)
    while len(segments) > fan_in:
        segments = [
            write_run(
                os.path.join(work_dir, f"merge-{uuid.uuid4().hex}"),
                [(None, _merged(segments[start : start + fan_in], key))],
            )[0][1]
            for start in range(0, len(segments), fan_in)
        ]
    return _merged(segments, key)
