"""Publishing an export to its destination (like Pusher), with sha256 of every file.

`publish_export(artifact_uri, destination)` makes `destination` hold exactly
this export's files:
- every file of the artifact is copied to `<destination>/.<name>.partial` and
  renamed over `<destination>/<name>`, so a reader never sees half a file;
- then every `*.record-SSSSS-of-NNNNN` file in the destination that is not part
  of this export (an earlier run's shards, another shard count) is deleted;
- nothing else in the destination is touched (other files stay).
"""

import hashlib
import os
from typing import Dict

import tensorflow as tf

from odweights.components.od_export.sharding import is_record_file
from odweights.errors import OdWeightsError

_CHUNK_BYTES = 16 * 1024 * 1024


def export_files(directory: str) -> list:
    """The file names (no folders, no hidden files) of an export directory, sorted."""
    return sorted(name for name in tf.io.gfile.listdir(directory)
                  if not name.startswith(".") and not name.endswith("/")
                  and not tf.io.gfile.isdir(os.path.join(directory, name)))


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with tf.io.gfile.GFile(path, "rb") as file:
        while True:
            chunk = file.read(_CHUNK_BYTES)
            if not chunk:
                return digest.hexdigest()
            digest.update(chunk)


def files_sha256(directory: str) -> Dict[str, str]:
    """{file name: sha256} of every file of an export directory."""
    return {name: file_sha256(os.path.join(directory, name)) for name in export_files(directory)}


def _copy_with_sha256(source: str, target: str) -> str:
    partial = os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.partial")
    digest = hashlib.sha256()
    with tf.io.gfile.GFile(source, "rb") as reader, tf.io.gfile.GFile(partial, "wb") as writer:
        writer.write(b"")  # GFile creates the file at the first write: empty files too
        while True:
            chunk = reader.read(_CHUNK_BYTES)
            if not chunk:
                break
            digest.update(chunk)
            writer.write(chunk)
    tf.io.gfile.rename(partial, target, overwrite=True)
    return digest.hexdigest()


def publish_export(artifact_uri: str, destination: str) -> Dict[str, str]:
    """Copies the export in `artifact_uri` to `destination`; returns {file: sha256}.

    Stale record files of earlier runs in `destination` are removed (see the
    module docstring); the returned hashes are those of the copied bytes.
    """
    if not tf.io.gfile.isdir(artifact_uri):
        raise OdWeightsError(f"{artifact_uri} is not an export directory (it does not exist)")
    names = export_files(artifact_uri)
    if not names:
        raise OdWeightsError(f"{artifact_uri} holds no files: it is not a finished export")
    if os.path.normpath(artifact_uri) == os.path.normpath(destination):
        return files_sha256(destination)
    tf.io.gfile.makedirs(destination)
    published = {name: _copy_with_sha256(os.path.join(artifact_uri, name),
                                         os.path.join(destination, name))
                 for name in names}
    for name in tf.io.gfile.listdir(destination):
        if is_record_file(name) and name not in published:
            tf.io.gfile.remove(os.path.join(destination, name))
    return published
