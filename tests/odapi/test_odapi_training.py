"""The TF Object Detection API's own training loop on an export of the sample data.

`model_lib_v2.train_loop` (what `model_main_tf2.py` runs) trains a small SSD
from random initialisation for a few steps on `odweights run`'s export, with
the exported input_reader.config pasted into the pipeline.config as it is; the
OD API's input pipeline, loss and target assigner then show what the weights
do. The OD API runs in a process of its own (odapi_probe.py). See
docs/training.md.
"""

import importlib.util
import json
import math
import os
import subprocess
import sys

import pytest

from odweights.app import cli, sample_data

pytestmark = [pytest.mark.e2e, pytest.mark.odapi]

# A capability, not a version: `make test` installs requirements-odapi.lock (the OD API
# and tf-models-official, pinned for TensorFlow 2.16) on the tfx-1.16 stack only
# (docs/platforms.md).
if not all(importlib.util.find_spec(name) for name in ("object_detection", "official")):
    pytest.skip(
        "the TF Object Detection API is not installed: requirements-odapi.lock pins it for "
        "TensorFlow 2.16, and `make test` installs it on the tfx-1.16 stack only",
        allow_module_level=True,
    )

MAX_CLAMPED_FRACTION = 0.05


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    """Exports the default sample data (2 shards), then runs odapi_probe.py on it."""
    root = tmp_path_factory.mktemp("odapi")
    sample_data.write_dataset(str(root / "sample"), num_images=300, seed=0)
    out = root / "out"
    assert (
        cli.main(
            [
                "run",
                "--voc-dir",
                str(root / "sample" / "VOCdevkit"),
                "--output-dir",
                str(out),
                "--shards",
                "2",
            ]
        )
        == 0
    )
    work = root / "probe"
    work.mkdir()
    script = os.path.join(os.path.dirname(__file__), "odapi_probe.py")
    completed = subprocess.run(
        [sys.executable, script, str(out / "export"), str(work)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    with open(work / "probe.json", encoding="utf-8") as file:
        result = json.load(file)
    with open(out / "export" / "class_weights.json", encoding="utf-8") as file:
        result["class_weights"] = json.load(file)
    return result


def test_train_loop_losses_are_finite(probe):
    assert len(probe["losses"]) == probe["train_steps"] > 0
    for step in probe["losses"]:
        assert set(step) >= {
            "Loss/localization_loss",
            "Loss/classification_loss",
            "Loss/total_loss",
        }
        assert all(math.isfinite(value) for value in step.values()), step


def test_decoded_groundtruth_weights_equal_the_records_box_for_box(probe):
    assert len(probe["record_files"]) == 2  # the input_path glob reads both shards
    assert probe["decoded_weights"] == probe["record_weights"]
    weights = [w for boxes in probe["record_weights"].values() for w in boxes]
    assert len(weights) > 500 and len(set(weights)) > 1


def test_weights_change_the_loss_on_a_fixed_batch(probe):
    """At random initialisation the focal loss is mostly background anchors
    (weight 1 either way), so the classification loss moves less than the
    localisation loss, which only matched anchors carry."""
    exported, ones = probe["batch_loss_exported"], probe["batch_loss_ones"]
    assert (
        abs(exported["Loss/total_loss"] - ones["Loss/total_loss"]) > 1e-3 * ones["Loss/total_loss"]
    )
    assert (
        abs(exported["Loss/localization_loss"] - ones["Loss/localization_loss"])
        > 1e-2 * ones["Loss/localization_loss"]
    )
    assert exported["Loss/classification_loss"] != ones["Loss/classification_loss"]


def test_default_scale_keeps_ssds_loss_normalizer_unclamped(probe):
    """SSD divides its losses by max(1, sum of the matched anchors' weights)."""
    sums = probe["matched_anchor_weight_sums"]
    assert len(sums) == len(probe["record_weights"]) // 4  # every full batch of the split
    clamped = sum(1 for total in sums if total < 1.0)
    assert clamped / len(sums) <= MAX_CLAMPED_FRACTION, (clamped, len(sums))
    assert probe["class_weights"]["normalize"] == "mean"
