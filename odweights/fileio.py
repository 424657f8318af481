"""Local files through Python's own file objects (fastest), other file systems
(gs://, s3://, hdfs://) through tf.io.gfile."""

import tensorflow as tf

WRITE_BUFFER_BYTES = 256 << 10
"""Buffer of a local file opened for writing: one write call per ~12 JPEG examples,
and bounded memory when a worker holds one file per output shard open."""


def _is_local(path: str) -> bool:
    return "://" not in path


def read_bytes(path: str) -> bytes:
    if _is_local(path):
        with open(path, "rb") as handle:
            return handle.read()
    with tf.io.gfile.GFile(path, "rb") as handle:
        return handle.read()


def open_for_writing(path: str):
    """A binary file object to write path, buffered."""
    if _is_local(path):
        return open(path, "wb", buffering=WRITE_BUFFER_BYTES)  # pylint: disable=consider-using-with
    return tf.io.gfile.GFile(path, "wb")
