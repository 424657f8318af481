"""odweights.fileio: bulk listings for the input fingerprint, and access problems named
by their cause (see docs/kubeflow.md and docs/scale.md)."""

import os

from odweights import fileio


def test_list_files_gives_every_file_under_a_folder_in_path_order(tmp_path):
    for relative, data in [
        ("b/z.jpg", b"zz"),
        ("a.xml", b"a"),
        ("b/c/d.txt", b""),
        ("b-x.xml", b"xyz"),
    ]:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    listed = list(fileio.list_files(str(tmp_path) + "/"))
    paths = [path for path, _, _ in listed]
    assert paths == sorted(paths)
    assert [os.path.relpath(path, tmp_path) for path in paths] == [
        "a.xml",
        "b-x.xml",
        "b/c/d.txt",
        "b/z.jpg",
    ]
    for path, size, mtime_ns in listed:
        stat = os.stat(path)
        assert (size, mtime_ns) == (stat.st_size, stat.st_mtime_ns)


def test_access_problem_is_empty_for_other_than_cloud_storage(tmp_path):
    assert fileio.access_problem(str(tmp_path / "missing")) == ""
