"""Hardware CRC32C for Beam's TFRecord reader and writer.

Every TFRecord carries CRC32C checksums of its bytes. Beam computes them with
crcmod's table (about 60 µs for a 20 KB JPEG example) unless the C extension of
python-snappy < 0.7 is installed, and a run checksums each image five times
(VOC ExampleGen write, StatisticsGen read, Transform read and write, OdExport
read): about 0.3 ms per image. google-crc32c, installed with the Google Cloud
libraries that TFX depends on, computes the same checksum with the CPU's CRC32
instruction (about 2 µs). Beam keeps the function it chose in
`tfrecordio._default_crc32c_fn.fn`, set on first use; this sets it beforehand.
The records are byte-identical either way.
"""


def use_hardware_crc32c() -> bool:
    """Makes Beam's TFRecord IO in this process use google-crc32c's C implementation;
    False (Beam's default stays) where that is not installed."""
    try:
        import google_crc32c  # pylint: disable=import-outside-toplevel
    except ImportError:
        return False
    if google_crc32c.implementation != "c":
        return False
    from apache_beam.io import tfrecordio  # pylint: disable=import-outside-toplevel
    tfrecordio._default_crc32c_fn.fn = google_crc32c.value  # pylint: disable=protected-access
    return True
