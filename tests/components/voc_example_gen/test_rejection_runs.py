"""The rejection records reach rejected.jsonl through bounded sorted runs: with one run
per record and a merge two runs at a time, the file is byte for byte the one of a
single in-memory sort (see docs/scale.md)."""

import os

import pytest
import voc_fixtures as vf

from odweights import external_sort
from odweights.artifact_files import REJECTED_FILE
from odweights.components.voc_example_gen.component import VocExampleGen

pytestmark = pytest.mark.e2e


def _rejected_bytes(voc_dir, work):
    vf.run_component(
        work,
        VocExampleGen(
            input_base=voc_dir,
            splits=("train", "val"),
            label_map=vf.BAD_LABEL_MAP,
            max_rejected_fraction=1.0,
        ),
    )
    report = vf.latest_artifact(work, "odweights.IngestReport")
    with open(os.path.join(report.uri, REJECTED_FILE), "rb") as file:
        return file.read()


def test_rejections_merged_from_many_runs_equal_one_sort(tmp_path, monkeypatch):
    voc_dir = str(tmp_path / "VOCdevkit")
    expected = vf.write_bad_devkit(voc_dir)
    in_memory = _rejected_bytes(voc_dir, str(tmp_path / "work1"))
    assert len(in_memory.splitlines()) >= len(expected["records"]) > 5
    # In-process DirectRunner: the DoFns read these when they run.
    monkeypatch.setattr(external_sort, "BUFFER_BYTES", 1)
    monkeypatch.setattr(external_sort, "SORT_IN_MEMORY_BYTES", 0)
    monkeypatch.setattr(external_sort, "MERGE_FAN_IN", 2)
    assert _rejected_bytes(voc_dir, str(tmp_path / "work2")) == in_memory
