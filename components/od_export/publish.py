"""Publishing an export to its destination (like Pusher): whole, and only its own files.

Every export holds `manifest.json`: each of its other files with its size and
sha256 (`write_manifest`). `publish_export(artifact_uri, destination)` then:
- copies the export into a staging folder beside the destination, checking
  every copied byte against the manifest;
- links into the staging folder the destination's files that the previous
  manifest does not list (the user's own files stay), unless the new export
  has a file of that name;
- swaps the staging folder in: on Linux one atomic exchange of the two
  folders (renameat2 RENAME_EXCHANGE), elsewhere two renames. A reader sees
  the whole previous export or the whole new one, never a mix;
- deletes the previous export, whose only files are then the ones its
  manifest listed.
Destinations on other file systems (gs://...) have no atomic rename: there
each file is copied to `.<name>.partial` and renamed over `<name>`, then the
files of the previous manifest that the new export lacks are deleted.
See docs/run.md.
"""

import ctypes
import errno
import hashlib
import json
import os
import shutil
import uuid

import tensorflow as tf

from odweights.errors import OdWeightsError

MANIFEST_FILE = "manifest.json"

_CHUNK_BYTES = 16 * 1024 * 1024
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def export_files(directory: str) -> list:
    """The file names (no folders, no hidden files) of an export directory, sorted."""
    return sorted(
        name
        for name in tf.io.gfile.listdir(directory)
        if not name.startswith(".")
        and not name.endswith("/")
        and not tf.io.gfile.isdir(os.path.join(directory, name))
    )


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with tf.io.gfile.GFile(path, "rb") as file:
        while True:
            chunk = file.read(_CHUNK_BYTES)
            if not chunk:
                return digest.hexdigest()
            digest.update(chunk)


def files_sha256(directory: str) -> dict[str, str]:
    """{file name: sha256} of every file of an export directory."""
    return {name: file_sha256(os.path.join(directory, name)) for name in export_files(directory)}


def _manifest_entries(directory: str) -> dict[str, dict]:
    """{name: {size, sha256}} of every file of `directory` but the manifest."""
    return {
        name: {
            "size": tf.io.gfile.stat(os.path.join(directory, name)).length,
            "sha256": file_sha256(os.path.join(directory, name)),
        }
        for name in export_files(directory)
        if name != MANIFEST_FILE
    }


def _write_manifest_file(directory: str, files: dict[str, dict]) -> str:
    """Writes `directory/manifest.json`; returns its sha256."""
    text = json.dumps({"files": files}, indent=2, sort_keys=True) + "\n"
    with tf.io.gfile.GFile(os.path.join(directory, MANIFEST_FILE), "w") as file:
        file.write(text)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_manifest(directory: str) -> dict[str, dict]:
    """Writes `directory/manifest.json` listing every other file: {name: {size, sha256}}."""
    files = _manifest_entries(directory)
    _write_manifest_file(directory, files)
    return files


def read_manifest(directory: str) -> dict[str, dict] | None:
    """{name: {size, sha256}} of the export in `directory`; None without a readable one."""
    path = os.path.join(directory, MANIFEST_FILE)
    try:
        with tf.io.gfile.GFile(path, "rb") as file:
            files = json.loads(file.read()).get("files")
    except (tf.errors.NotFoundError, ValueError, AttributeError):
        return None
    return files if isinstance(files, dict) else None


def _copy_with_sha256(source: str, target: str) -> str:
    digest = hashlib.sha256()
    with tf.io.gfile.GFile(source, "rb") as reader, tf.io.gfile.GFile(target, "wb") as writer:
        writer.write(b"")  # GFile creates the file at the first write: empty files too
        while True:
            chunk = reader.read(_CHUNK_BYTES)
            if not chunk:
                break
            digest.update(chunk)
            writer.write(chunk)
    return digest.hexdigest()


def _checked_against(manifest: dict[str, dict], hashes: dict[str, str], where: str) -> None:
    wrong = sorted(name for name, entry in manifest.items() if hashes.get(name) != entry["sha256"])
    if wrong:
        raise OdWeightsError(
            f"{', '.join(wrong)} in {where} differ(s) from the export's manifest.json; check "
            "the storage and run again"
        )


def _exchange(staging: str, destination: str) -> None:
    """Swaps the two folders: atomically where the kernel can, else with two renames."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if (
        renameat2 is not None
        and renameat2(
            _AT_FDCWD, os.fsencode(staging), _AT_FDCWD, os.fsencode(destination), _RENAME_EXCHANGE
        )
        == 0
    ):
        return
    if renameat2 is not None and ctypes.get_errno() not in (
        errno.EINVAL,
        errno.ENOSYS,
        errno.EXDEV,
        errno.ENOTSUP,
    ):
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error), destination)
    aside = f"{staging}.previous"
    os.rename(destination, aside)
    os.rename(staging, destination)
    os.rename(aside, staging)


def _publish_locally(
    artifact_uri: str, destination: str, names: list, manifest: dict[str, dict]
) -> dict[str, str]:
    parent, base = os.path.split(os.path.abspath(destination))
    os.makedirs(parent, exist_ok=True)
    staging = os.path.join(parent, f".{base}.staging-{uuid.uuid4().hex}")
    os.makedirs(staging)
    try:
        published = {
            name: _copy_with_sha256(os.path.join(artifact_uri, name), os.path.join(staging, name))
            for name in names
        }
        _checked_against(manifest, published, staging)
        if MANIFEST_FILE not in published:
            published[MANIFEST_FILE] = _write_manifest_file(staging, manifest)
        if not os.path.isdir(destination):
            os.rename(staging, destination)
            return published
        previous = read_manifest(destination) or {}
        kept = [
            name
            for name in os.listdir(destination)
            if name not in previous and name != MANIFEST_FILE and name not in published
        ]
        for name in kept:  # the user's files: linked, so they never disappear
            source = os.path.join(destination, name)
            if os.path.islink(source):
                os.symlink(os.readlink(source), os.path.join(staging, name))
            elif os.path.isfile(source):
                try:
                    os.link(source, os.path.join(staging, name))
                except OSError:
                    shutil.copy2(source, os.path.join(staging, name))
        _exchange(staging, destination)
        for name in kept:  # folders cannot be linked: moved once the new export is in
            if os.path.isdir(os.path.join(staging, name)):
                os.rename(os.path.join(staging, name), os.path.join(destination, name))
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # the previous export, or a failed stage
    return published


def _publish_file_by_file(
    artifact_uri: str, destination: str, names: list, manifest: dict[str, dict]
) -> dict[str, str]:
    tf.io.gfile.makedirs(destination)
    previous = read_manifest(destination) or {}
    published = {}
    for name in names:
        partial = os.path.join(destination, f".{name}.partial")
        published[name] = _copy_with_sha256(os.path.join(artifact_uri, name), partial)
        tf.io.gfile.rename(partial, os.path.join(destination, name), overwrite=True)
    _checked_against(manifest, published, destination)
    if MANIFEST_FILE not in published:
        published[MANIFEST_FILE] = _write_manifest_file(destination, manifest)
    for name in sorted(set(previous) - set(published)):
        if tf.io.gfile.exists(os.path.join(destination, name)):
            tf.io.gfile.remove(os.path.join(destination, name))
    return published


def publish_export(artifact_uri: str, destination: str) -> dict[str, str]:
    """Publishes the export in `artifact_uri` to `destination`; returns {file: sha256} of
    the copied bytes (see the module docstring)."""
    if not tf.io.gfile.isdir(artifact_uri):
        raise OdWeightsError(f"{artifact_uri} is not an export directory (it does not exist)")
    names = export_files(artifact_uri)
    if not names:
        raise OdWeightsError(f"{artifact_uri} holds no files: it is not a finished export")
    # An export written before manifests existed (a cached artifact) gets one on the way.
    manifest = read_manifest(artifact_uri) or _manifest_entries(artifact_uri)
    if os.path.normpath(artifact_uri) == os.path.normpath(destination):
        return files_sha256(destination)
    if "://" in destination:
        return _publish_file_by_file(artifact_uri, destination, names, manifest)
    return _publish_locally(artifact_uri, destination, names, manifest)
