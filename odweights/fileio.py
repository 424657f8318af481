"""Local files through Python's own file objects (fastest), other file systems
(gs://, s3://, hdfs://) through tf.io.gfile."""

import os
import posixpath
from collections.abc import Iterator

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


def open_for_reading(path: str):
    """A binary file object to read path, buffered and seekable."""
    if _is_local(path):
        return open(path, "rb")  # pylint: disable=consider-using-with
    return tf.io.gfile.GFile(path, "rb")


def open_for_writing(path: str):
    """A binary file object to write path, buffered."""
    if _is_local(path):
        return open(path, "wb", buffering=WRITE_BUFFER_BYTES)  # pylint: disable=consider-using-with
    return tf.io.gfile.GFile(path, "wb")


def _gcs_bucket_and_prefix(path: str) -> tuple[str, str]:
    """gs://bucket/a/b -> ('bucket', 'a/b')."""
    bucket, _, prefix = path[len("gs://") :].partition("/")
    return bucket, prefix.rstrip("/")


def _gcs_client():
    """A Cloud Storage client with the machine's default credentials (imported here: only
    gs:// paths need it)."""
    import google.auth  # pylint: disable=import-outside-toplevel
    from google.cloud import storage  # pylint: disable=import-outside-toplevel

    credentials, project = google.auth.default()
    return storage.Client(credentials=credentials, project=project)


def access_problem(path: str) -> str:
    """Why `path` cannot be read, named by its real cause, or "" if nothing is known.

    For gs:// paths it asks Cloud Storage itself: no credentials on this
    machine, no such bucket, or permission denied (tf.io.gfile reports all of
    them as a missing folder). Other paths: "".
    """
    if not path.startswith("gs://"):
        return ""
    import google.auth.exceptions  # pylint: disable=import-outside-toplevel
    from google.api_core import exceptions  # pylint: disable=import-outside-toplevel

    bucket, prefix = _gcs_bucket_and_prefix(path)
    try:
        client = _gcs_client()
    except google.auth.exceptions.DefaultCredentialsError:
        return (
            f"no Google Cloud credentials on this machine to read {path}: run "
            "`gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS "
            "to a service account key file"
        )
    try:
        next(iter(client.list_blobs(bucket, prefix=prefix, max_results=1)), None)
    except exceptions.NotFound:
        return f"no such bucket: gs://{bucket} (from {path})"
    except exceptions.Forbidden as error:
        return f"permission denied reading {path}: {error.message}"
    except Exception as error:  # pylint: disable=broad-except
        return f"cannot reach Cloud Storage for {path}: {type(error).__name__}: {error}"
    return ""


def list_files(root: str) -> Iterator[tuple[str, int, int]]:
    """(path, size in bytes, modification time in ns) of every file under `root`, in
    order of path.

    From directory listings, never one request per file where the file system
    answers in bulk: local folders through os.walk, gs:// through Cloud Storage's
    object listing (1,000 objects with their sizes and times per request, already
    in name order, so the files stream through in constant memory). Other file
    systems: tf.io.gfile, one stat per file.
    """
    root = root.rstrip("/")
    if root.startswith("gs://"):
        bucket, prefix = _gcs_bucket_and_prefix(root)
        for blob in _gcs_client().list_blobs(bucket, prefix=prefix + "/"):
            if not blob.name.endswith("/"):  # "folder" placeholder objects
                updated_ns = int(blob.updated.timestamp() * 1_000_000) * 1000
                yield f"gs://{bucket}/{blob.name}", blob.size, updated_ns
        return
    files = []
    walk = os.walk if _is_local(root) else tf.io.gfile.walk
    for directory, _, names in walk(root):
        for name in names:
            path = posixpath.join(directory, name)
            if _is_local(root):
                stat = os.stat(path)
                files.append((path, stat.st_size, stat.st_mtime_ns))
            else:
                stat = tf.io.gfile.stat(path)
                files.append((path, stat.length, stat.mtime_nsec))
    yield from sorted(files)
