"""Beam's TFRecord IO with google-crc32c: the same checksums, files TensorFlow reads."""

import os

import apache_beam as beam
import crcmod.predefined
import tensorflow as tf
from apache_beam.io import tfrecordio

from odweights.tfrecord_crc import use_hardware_crc32c


def test_checksums_equal_crcmods():
    assert use_hardware_crc32c()
    crcmod_crc32c = crcmod.predefined.mkPredefinedCrcFun("crc-32c")
    for size in (0, 1, 7, 8, 20_000, 1 << 20):
        data = os.urandom(size)
        assert tfrecordio._default_crc32c_fn(data) == crcmod_crc32c(data)  # pylint: disable=protected-access


def test_beam_writes_records_that_tensorflow_reads_and_checks(tmp_path):
    assert use_hardware_crc32c()
    records = [os.urandom(size) for size in (0, 3, 20_000, 70_000)]
    with beam.Pipeline() as pipeline:
        _ = (pipeline | beam.Create(records)
             | beam.io.WriteToTFRecord(str(tmp_path / "data"), num_shards=1))
    paths = tf.io.gfile.glob(str(tmp_path / "data-*"))
    read = list(tf.data.TFRecordDataset(paths).as_numpy_iterator())
    assert sorted(read) == sorted(records)
    with beam.Pipeline() as pipeline:
        _ = (pipeline | beam.io.ReadFromTFRecord(paths[0])
             | beam.combiners.ToList()
             | beam.Map(lambda got: sorted(got) == sorted(records)) | beam.Map(_assert_true))


def _assert_true(value):
    assert value is True
