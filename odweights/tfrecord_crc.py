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

That attribute is private to Beam (present in Beam 2.60 and 2.77, the Beams of
both stacks in docs/platforms.md): a Beam without it keeps its own checksum
function, with a logged reason, and nothing fails.
"""

import logging


def use_hardware_crc32c() -> bool:
    """Makes Beam's TFRecord IO in this process use google-crc32c's C implementation;
    False, with the reason logged, where Beam's own function stays."""
    try:
        import google_crc32c  # pylint: disable=import-outside-toplevel
    except ImportError:
        logging.info("google-crc32c is not installed: Beam's TFRecord IO keeps its own CRC32C")
        return False
    if google_crc32c.implementation != "c":
        logging.info(
            "google-crc32c has no C extension here: Beam's TFRecord IO keeps its own CRC32C"
        )
        return False
    from apache_beam.io import tfrecordio  # pylint: disable=import-outside-toplevel

    crc32c_fn = getattr(tfrecordio, "_default_crc32c_fn", None)
    if crc32c_fn is None or not hasattr(crc32c_fn, "fn"):
        logging.warning(
            "This Beam has no tfrecordio._default_crc32c_fn.fn: its TFRecord IO "
            "keeps its own CRC32C (slower; the same bytes)"
        )
        return False
    crc32c_fn.fn = google_crc32c.value
    return True
