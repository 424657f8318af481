"""Bounded sorting (odweights.external_sort) as OdExport writes a shard: the same bytes
whether its records are sorted in memory or merged from disk in several passes
(see docs/scale.md)."""

import os
import random

import pytest
import tensorflow as tf

from odweights import external_sort
from odweights.components.od_export import executor, sharding
from odweights.errors import OdWeightsError


def _write_spill_file(path, runs):
    """Writes framed sorted runs one after another; returns their (path, offset, length)."""
    segments, offset = [], 0
    with open(path, "wb") as handle:
        for run in runs:
            data = b"".join(external_sort.frame(record) for record in sorted(run))
            handle.write(data)
            segments.append((path, offset, len(data)))
            offset += len(data)
    return segments


@pytest.fixture
def spilled(tmp_path):
    """(segments of shard 3 of split train in 3 spill files, every record)."""
    rng = random.Random(5)
    records = [
        sharding.spill_record(
            rng.getrandbits(64), rng.randrange(3), rng.randbytes(rng.randrange(1, 300))
        )
        for _ in range(200)
    ]
    records += records[:5]  # an image exported twice with the same bytes stays twice
    rng.shuffle(records)
    segments = []
    for index in range(3):
        part = records[index::3]
        segments += _write_spill_file(
            str(tmp_path / f"spill-{index}"), [part[start::4] for start in range(4)]
        )
    return segments, records


def _shard_file_records(directory):
    path = os.path.join(directory, sharding.shard_file_name("train", 3, 8))
    return [record.numpy() for record in tf.data.TFRecordDataset(path)], path


@pytest.mark.parametrize(
    "sort_bytes,fan_in", [(external_sort.SORT_IN_MEMORY_BYTES, 64), (0, 64), (0, 2), (0, 5)]
)
def test_a_shard_is_its_records_sorted_whether_in_memory_or_merged(
    spilled, tmp_path, sort_bytes, fan_in
):
    segments, records = spilled
    out = tmp_path / f"out-{sort_bytes}-{fan_in}"
    out.mkdir()
    work = tmp_path / f"work-{sort_bytes}-{fan_in}"
    work.mkdir()
    executor._write_shard(
        (("train", 3), segments + [None]),
        str(out),
        {"train": 8},
        str(work),
        sort_bytes=sort_bytes,
        fan_in=fan_in,
    )
    written, _ = _shard_file_records(str(out))
    assert written == [sharding.spilled_example(record) for record in sorted(records)]
    # 12 segments: merged at once with fan-in 64; fan-in 5: 3 intermediate files first;
    # fan-in 2: 6, then 3, then 2 intermediate files
    expected_merge_files = 0 if sort_bytes else {64: 0, 5: 3, 2: 6 + 3 + 2}[fan_in]
    assert len(os.listdir(work)) == expected_merge_files


def test_same_bytes_on_every_path(spilled, tmp_path):
    segments, _ = spilled
    contents = set()
    for index, (sort_bytes, fan_in) in enumerate([(1 << 30, 64), (0, 3)]):
        out, work = tmp_path / f"out{index}", tmp_path / f"work{index}"
        out.mkdir()
        work.mkdir()
        executor._write_shard(
            (("train", 3), list(reversed(segments))),
            str(out),
            {"train": 8},
            str(work),
            sort_bytes=sort_bytes,
            fan_in=fan_in,
        )
        with open(_shard_file_records(str(out))[1], "rb") as file:
            contents.add(file.read())
    assert len(contents) == 1


@pytest.mark.parametrize("cut", [1, 9])
def test_read_frames_refuses_a_truncated_segment(tmp_path, cut):
    path = tmp_path / "spill"
    (segment,) = _write_spill_file(str(path), [[b"first", b"second record"]])
    with open(path, "rb") as handle:
        assert list(external_sort.read_frames(handle, segment[2])) == [b"first", b"second record"]
    path.write_bytes(path.read_bytes()[:-cut])
    with open(path, "rb") as handle, pytest.raises(OdWeightsError, match="truncated"):
        list(external_sort.read_frames(handle, segment[2]))
