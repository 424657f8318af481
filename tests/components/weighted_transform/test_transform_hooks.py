"""The two private hooks (TFX's TransformProcessor._EncodeAndWrite, Beam's
tfrecordio._default_crc32c_fn): used where they exist, and where a TFX or Beam
lacks them, the executor still imports and says why it writes GZIP or uses
Beam's own checksum (see docs/platforms.md)."""

import logging
import subprocess
import sys
import textwrap

from tfx.components.transform import executor as transform_executor

from odweights.components.weighted_transform import executor


def test_this_stacks_tfx_has_the_hooks_and_the_swap_lasts_one_execution():
    assert executor.missing_transform_hooks() == []
    original = transform_executor.TransformProcessor
    with executor._uncompressed_output():  # pylint: disable=protected-access
        assert transform_executor.TransformProcessor is not original
        assert issubclass(transform_executor.TransformProcessor, original)
    assert transform_executor.TransformProcessor is original


def test_a_tfx_without_the_hook_keeps_gzip_and_says_why(monkeypatch, caplog):
    monkeypatch.delattr(transform_executor.TransformProcessor, "_EncodeAndWrite")
    assert executor.missing_transform_hooks() == ["TransformProcessor._EncodeAndWrite"]
    original = transform_executor.TransformProcessor
    with caplog.at_level(logging.WARNING):
        with executor._uncompressed_output():  # pylint: disable=protected-access
            assert transform_executor.TransformProcessor is original
    assert (
        "has no TransformProcessor._EncodeAndWrite: the transformed examples stay GZIP-compressed"
    ) in caplog.text


def test_the_executor_imports_where_neither_hook_exists():
    """A fresh interpreter whose TFX and Beam lack both hooks before the executor
    module is first imported: the import succeeds and both reasons are logged."""
    script = textwrap.dedent("""
        import logging
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        from apache_beam.io import tfrecordio
        from tfx.components.transform import executor as transform_executor
        del tfrecordio._default_crc32c_fn
        del transform_executor.TransformProcessor._EncodeAndWrite
        from odweights.components.weighted_transform import executor
        with executor._uncompressed_output():
            pass
        print("imported", executor.missing_transform_hooks())
    """)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "imported ['TransformProcessor._EncodeAndWrite']" in result.stdout
    assert "no tfrecordio._default_crc32c_fn.fn" in result.stderr
    assert "has no TransformProcessor._EncodeAndWrite" in result.stderr
