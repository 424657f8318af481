"""The whole pipeline on the execution models of distributed Beam runners, against one
default run: the export must be byte-identical (see docs/scale.md).

- PortableRunner with an embedded job server and LOOPBACK workers: the Fn API
  path of Flink, Spark and Dataflow Runner v2 (elements serialised between
  runner and SDK worker, bundles chosen by the runner).
- The multi-process DirectRunner: two worker processes, which split and order
  the elements differently from the in-process default.

Small data (these runs are slow); one default run shared by both tests.
"""

import io
import json
import os

import pytest

from odweights.app import run, sample_data
from odweights.app.report.writer import REPORT_FILE
from odweights.pipelines import local_runner
from odweights.pipelines.options import PipelineOptions

pytestmark = pytest.mark.e2e

NUM_IMAGES = 16
PORTABLE_RUNNER = ("--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=LOOPBACK")
MULTI_PROCESS_DIRECT_RUNNER = ("--direct_running_mode=multi_processing", "--direct_num_workers=2")
# input_reader.config names the export folder, which differs between runs.
READER_CONFIG = "input_reader.config"


def _run_export(voc_dir: str, output_dir: str, beam_args=()) -> dict:
    """{file name: bytes} of the export of one fresh `odweights run`, without report.html,
    which describes its run (paths, ML Metadata ids, times: docs/report.md)."""
    run.run(
        PipelineOptions(voc_dir=voc_dir, beam_args=tuple(beam_args)),
        output_dir,
        stream=io.StringIO(),
    )
    export_dir = os.path.join(output_dir, local_runner.EXPORT_DIR)
    export = {}
    for name in sorted(set(os.listdir(export_dir)) - {REPORT_FILE}):
        with open(os.path.join(export_dir, name), "rb") as file:
            data = file.read()
        if name == READER_CONFIG:
            data = data.replace(output_dir.encode(), b"OUT")
        elif name == "manifest.json":  # lists the hash of READER_CONFIG, which holds the path
            files = json.loads(data)["files"]
            files.pop(READER_CONFIG)
            data = json.dumps(files, sort_keys=True).encode()
        export[name] = data
    return export


@pytest.fixture(scope="module")
def voc_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("voc")
    sample_data.write_dataset(str(root), num_images=NUM_IMAGES, seed=11)
    return str(root / "VOCdevkit")


@pytest.fixture(scope="module")
def default_export(voc_dir, tmp_path_factory):
    return _run_export(voc_dir, str(tmp_path_factory.mktemp("default")))


@pytest.mark.parametrize(
    "beam_args",
    [PORTABLE_RUNNER, MULTI_PROCESS_DIRECT_RUNNER],
    ids=["portable_runner_embedded_loopback", "direct_multi_processing"],
)
def test_export_is_byte_identical_to_the_default_run(voc_dir, default_export, beam_args, tmp_path):
    export = _run_export(voc_dir, str(tmp_path / "out"), beam_args)
    assert sorted(export) == sorted(default_export)
    assert any(name.startswith("train.record-") for name in export)
    different = [name for name in export if export[name] != default_export[name]]
    assert different == []
