"""Beam's TFRecord IO with google-crc32c: the same checksums, files TensorFlow reads;
and a Beam without the private hook keeps its own function, with a logged reason."""

import logging
import os

import apache_beam as beam
import tensorflow as tf
from apache_beam.io import tfrecordio

from odweights.tfrecord_crc import use_hardware_crc32c


def _bitwise_crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), one bit at a time: the
    reference, independent of crcmod (Beam 2.77 installs crcmod only with its
    `tfrecord` extra)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def test_checksums_equal_the_reference():
    assert use_hardware_crc32c()
    assert _bitwise_crc32c(b"123456789") == 0xE3069283  # the check value of CRC-32C
    for size in (0, 1, 7, 8, 20_000, 100_003):
        data = os.urandom(size)
        assert tfrecordio._default_crc32c_fn(data) == _bitwise_crc32c(data)  # pylint: disable=protected-access


def test_a_beam_without_the_hook_keeps_its_own_function_and_says_why(monkeypatch, caplog):
    monkeypatch.delattr(tfrecordio, "_default_crc32c_fn")
    with caplog.at_level(logging.WARNING):
        assert use_hardware_crc32c() is False
    assert "no tfrecordio._default_crc32c_fn.fn" in caplog.text
    assert not hasattr(tfrecordio, "_default_crc32c_fn")


def test_beam_writes_records_that_tensorflow_reads_and_checks(tmp_path):
    assert use_hardware_crc32c()
    records = [os.urandom(size) for size in (0, 3, 20_000, 70_000)]
    with beam.Pipeline() as pipeline:
        _ = (
            pipeline
            | beam.Create(records)
            | beam.io.WriteToTFRecord(str(tmp_path / "data"), num_shards=1)
        )
    paths = tf.io.gfile.glob(str(tmp_path / "data-*"))
    read = list(tf.data.TFRecordDataset(paths).as_numpy_iterator())
    assert sorted(read) == sorted(records)
    with beam.Pipeline() as pipeline:
        _ = (
            pipeline
            | beam.io.ReadFromTFRecord(paths[0])
            | beam.combiners.ToList()
            | beam.Map(lambda got: sorted(got) == sorted(records))
            | beam.Map(_assert_true)
        )


def _assert_true(value):
    assert value is True
