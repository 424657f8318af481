"""`odweights run` end to end on generated VOC data, on LocalDagRunner and BeamDagRunner.

The pipeline runs are shared through module-scoped fixtures (each costs tens
of seconds): a first run, a cached rerun into the same folder, a rerun with a
changed export option, and a fresh run on the Beam orchestrator, with the VOC
ExampleGen on two worker processes, into another folder, whose export must be
byte-identical to the first.
"""

import contextlib
import hashlib
import io
import json
import os
import time

import pytest
import tensorflow as tf
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from odweights import errors, features
from odweights.app import cli, sample_data
from odweights.app.report.writer import REPORT_FILE
from odweights.label_map import parse_label_map

pytestmark = pytest.mark.e2e

COMPONENTS = (
    "VocExampleGen",
    "StatisticsGen",
    "OdApiSchemaGen",
    "ExampleValidator",
    "WeightGen",
    "WeightedTransform",
    "OdExport",
)
NUM_IMAGES = 40


def _run_cli(argv):
    stdout, stderr = io.StringIO(), io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = cli.main(argv)
    return {
        "code": code,
        "out": stdout.getvalue(),
        "err": stderr.getvalue(),
        "seconds": time.monotonic() - started,
    }


def _export_hashes(export_dir):
    """sha256 of the exported files. report.html is left out: it describes its run (paths,
    ML Metadata ids, recorded times), so it differs between runs (docs/report.md)."""
    return {
        name: hashlib.sha256(open(os.path.join(export_dir, name), "rb").read()).hexdigest()
        for name in sorted(os.listdir(export_dir))
        if name != REPORT_FILE
    }


def _manifest(out):
    with open(os.path.join(out, "export", "manifest.json"), encoding="utf-8") as file:
        return json.load(file)["files"]


def _latest_run_states(metadata_path):
    """{component: execution state name} of the newest pipeline run, read from ML Metadata."""
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    store = metadata_store.MetadataStore(config)
    run = max(store.get_contexts_by_type("pipeline_run"), key=lambda context: context.id)
    run_executions = {e.id: e for e in store.get_executions_by_context(run.id)}
    states = {}
    for component in COMPONENTS:
        node = store.get_context_by_type_and_name("node", f"odweights.{component}")
        for execution in store.get_executions_by_context(node.id):
            if execution.id in run_executions:
                states[component] = metadata_store_pb2.Execution.State.Name(
                    execution.last_known_state
                )
    return states


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("voc")
    summary = sample_data.write_dataset(str(root), num_images=NUM_IMAGES, seed=7)
    return {"voc_dir": str(root / "VOCdevkit"), "summary": summary}


@pytest.fixture(scope="module")
def first_run(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("out1")
    result = _run_cli(["run", "--voc-dir", dataset["voc_dir"], "--output-dir", str(out)])
    assert result["code"] == 0, result["err"]
    reader = open(os.path.join(out, "export", "input_reader.config")).read()
    result.update(
        dir=str(out),
        input_reader=reader,
        manifest=_manifest(out),
        export=_export_hashes(os.path.join(out, "export")),
        states=_latest_run_states(os.path.join(out, "metadata.sqlite")),
    )
    return result


@pytest.fixture(scope="module")
def cached_run(dataset, first_run):
    """Same input and options, same folder; the published export was tampered with before."""
    export_dir = os.path.join(first_run["dir"], "export")
    with open(os.path.join(export_dir, "label_map.pbtxt"), "w") as file:
        file.write("tampered")
    os.remove(os.path.join(export_dir, "val.record-00000-of-00001"))
    result = _run_cli(["run", "--voc-dir", dataset["voc_dir"], "--output-dir", first_run["dir"]])
    assert result["code"] == 0, result["err"]
    result.update(
        export=_export_hashes(export_dir),
        states=_latest_run_states(os.path.join(first_run["dir"], "metadata.sqlite")),
    )
    return result


@pytest.fixture(scope="module")
def reshard_run(dataset, first_run, cached_run):
    """Only an export option changes: only OdExport runs again."""
    result = _run_cli(
        ["run", "--voc-dir", dataset["voc_dir"], "--output-dir", first_run["dir"], "--shards", "2"]
    )
    assert result["code"] == 0, result["err"]
    result.update(
        files=sorted(os.listdir(os.path.join(first_run["dir"], "export"))),
        states=_latest_run_states(os.path.join(first_run["dir"], "metadata.sqlite")),
    )
    return result


@pytest.fixture(scope="module")
def beam_run(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("out2")
    result = _run_cli(
        [
            "run",
            "--voc-dir",
            dataset["voc_dir"],
            "--output-dir",
            str(out),
            "--orchestrator",
            "beam",
            "--ingest-workers",
            "2",
        ]
    )
    assert result["code"] == 0, result["err"]
    result.update(
        dir=str(out),
        export=_export_hashes(os.path.join(out, "export")),
        manifest=_manifest(out),
        states=_latest_run_states(os.path.join(out, "metadata.sqlite")),
    )
    return result


def test_first_run_completes_every_component_in_ml_metadata(first_run):
    assert first_run["states"] == {component: "COMPLETE" for component in COMPONENTS}


def test_progress_lines_name_every_component_as_it_runs(first_run):
    lines = first_run["out"].splitlines()
    for index, component in enumerate(COMPONENTS, start=1):
        prefix = f"[{index}/7] {component:<18} "
        assert prefix + "started" in lines
        assert any(line.startswith(prefix + "done in ") for line in lines), component
    assert lines.index(f"[1/7] {'VocExampleGen':<18} started") < lines.index(
        f"[7/7] {'OdExport':<18} started"
    )


def test_console_shows_progress_and_summary_not_library_logs(first_run):
    assert first_run["err"] == ""
    assert "INFO" not in first_run["out"] and "WARNING" not in first_run["out"]
    log = open(os.path.join(first_run["dir"], "run.log"), encoding="utf-8").read()
    assert "Component WeightedTransform is running." in log


def test_export_files_are_what_the_od_api_reads(first_run, dataset):
    export_dir = os.path.join(first_run["dir"], "export")
    assert set(first_run["export"]) == {
        "train.record-00000-of-00001",
        "val.record-00000-of-00001",
        "label_map.pbtxt",
        "class_weights.json",
        "summary.json",
        "rejected.jsonl",
        "input_reader.config",
        "manifest.json",
    }
    assert set(first_run["manifest"]) == set(first_run["export"]) - {"manifest.json"}
    label_map = parse_label_map(open(os.path.join(export_dir, "label_map.pbtxt")).read())
    class_weights = json.load(open(os.path.join(export_dir, "class_weights.json")))
    weights = {c["name"]: c["weight"] for c in class_weights["classes"]}
    # The default scale: box-weighted mean 1 over the training split (docs/weights.md).
    assert class_weights["normalize"] == "mean"
    assert class_weights["mean_box_weight"] == pytest.approx(1.0, abs=1e-6)
    assert max(weights.values()) > 1.0  # rare classes weigh more than the average box
    expected = dataset["summary"]
    weight_sums = {}
    for split in ("train", "val"):
        records = list(
            tf.data.TFRecordDataset(  # uncompressed, as the OD API opens them
                os.path.join(export_dir, f"{split}.record-00000-of-00001")
            ).as_numpy_iterator()
        )
        assert len(records) == expected.split_images[split]
        objects = 0
        for serialized in records:
            example = tf.train.Example.FromString(serialized).features.feature
            assert not any(key.startswith(features.FORBIDDEN_PREFIX) for key in example)
            assert not set(features.AUXILIARY_KEYS) & set(example)
            classes = [v.decode() for v in example[features.CLASS_TEXT].bytes_list.value]
            box_weights = list(example[features.WEIGHT].float_list.value)
            assert box_weights == pytest.approx([weights[name] for name in classes], rel=1e-6)
            assert all(name in label_map for name in classes)
            objects += len(classes)
            weight_sums[split] = weight_sums.get(split, 0.0) + sum(box_weights)
        assert objects == expected.split_objects[split]
    # The weights the OD API reads from the records agree: their mean over the training
    # split's boxes is 1 (float32 in the records).
    assert weight_sums["train"] / expected.split_objects["train"] == pytest.approx(1.0, abs=1e-6)
    reader = open(os.path.join(export_dir, "input_reader.config")).read()
    assert f'input_path: "{os.path.join(export_dir, "train.record-?????-of-00001")}"' in reader


def test_examples_between_components_are_uncompressed_tfrecords(first_run, dataset):
    """Neither the VOC ExampleGen nor WeightedTransform spends time compressing JPEG bytes."""
    pipeline_dir = os.path.join(first_run["dir"], "pipeline")
    images = dataset["summary"].split_images
    for pattern in (
        "VocExampleGen/examples/*/Split-*/*",
        "WeightedTransform/transformed_examples/*/Split-*/*",
    ):
        paths = tf.io.gfile.glob(os.path.join(pipeline_dir, pattern))
        assert paths and not [path for path in paths if path.endswith(".gz")], paths
        records = sum(1 for _ in tf.data.TFRecordDataset(paths))  # no compression type
        assert records == images["train"] + images["val"]


def test_summary_json_and_printed_summary_agree_with_the_source(first_run, dataset):
    summary = json.load(open(os.path.join(first_run["dir"], "export", "summary.json")))
    expected = dataset["summary"]
    for split in ("train", "val"):
        assert summary["splits"][split]["images"] == expected.split_images[split]
        assert summary["splits"][split]["objects"] == expected.split_objects[split]
    assert summary["rejections"]["images"] == 0 and summary["rejections"]["objects"] == 0
    printed = first_run["out"]
    assert "Rejected: 0 images, 0 objects" in printed
    # The scale of the weights: mean_box_weight and their range.
    [weights_line] = [line for line in printed.splitlines() if line.startswith("Weights: ")]
    assert weights_line.startswith("Weights: normalize mean, mean_box_weight 1, range ")
    train_counts = expected.split_class_counts["train"]
    class_rows = {
        line.split()[0]: line.split()
        for line in printed.splitlines()
        if line.startswith("  ") and line.split()[0] in expected.class_names
    }
    for name, count in train_counts.items():
        assert int(class_rows[name][2]) == count, name
    assert os.path.join(first_run["dir"], "export", "input_reader.config") in printed


def test_second_run_reuses_every_execution_and_is_faster(first_run, cached_run):
    assert cached_run["states"] == {component: "CACHED" for component in COMPONENTS}
    assert cached_run["out"].count("reused from cache in") == 7
    assert cached_run["seconds"] < first_run["seconds"] / 2, (
        cached_run["seconds"],
        first_run["seconds"],
    )


def test_cached_export_is_published_again(first_run, cached_run):
    assert cached_run["export"] == first_run["export"]


def test_changed_export_option_reruns_only_the_export(reshard_run):
    expected = {component: "CACHED" for component in COMPONENTS}
    expected["OdExport"] = "COMPLETE"
    assert reshard_run["states"] == expected
    records = [name for name in reshard_run["files"] if ".record-" in name]
    assert records == [
        "train.record-00000-of-00002",
        "train.record-00001-of-00002",
        "val.record-00000-of-00002",
        "val.record-00001-of-00002",
    ]


def test_beam_orchestrator_runs_the_same_pipeline(beam_run):
    assert beam_run["states"] == {component: "COMPLETE" for component in COMPONENTS}
    assert f"[7/7] {'OdExport':<18} done in " in beam_run["out"]


def test_two_fresh_runs_give_byte_identical_exports(first_run, beam_run):
    """Different folders, empty metadata, other orchestrator, the VOC ExampleGen on two
    worker processes (which split and order its records differently): the same bytes.

    input_reader.config holds the absolute export path, so it differs by that path only,
    and manifest.json by that file's hash only.
    """
    different = {
        name
        for name in first_run["export"]
        if first_run["export"][name] != beam_run["export"].get(name)
    }
    assert set(beam_run["export"]) == set(first_run["export"])
    assert different == {"input_reader.config", "manifest.json"}
    manifests = [dict(run["manifest"]) for run in (first_run, beam_run)]
    for manifest in manifests:
        manifest.pop("input_reader.config")
    assert manifests[0] == manifests[1]
    second = open(os.path.join(beam_run["dir"], "export", "input_reader.config")).read()
    assert first_run["input_reader"].replace(first_run["dir"], beam_run["dir"]) == second


@pytest.fixture(scope="module")
def broken_dataset(tmp_path_factory):
    """12 images, 2 of them with malformed XML: 17% rejected, far above the default 1%."""
    root = tmp_path_factory.mktemp("broken")
    sample_data.write_dataset(str(root), num_images=12, seed=5)
    annotations = root / "VOCdevkit" / "VOC2007" / "Annotations"
    for name in sorted(os.listdir(annotations))[:2]:
        (annotations / name).write_text("<annotation><filename>broken")
    return str(root / "VOCdevkit")


@pytest.mark.parametrize("orchestrator", ["local", "beam"])
def test_bad_input_beyond_the_fraction_exits_3_with_the_reason(
    broken_dataset, orchestrator, tmp_path
):
    result = _run_cli(
        [
            "run",
            "--voc-dir",
            broken_dataset,
            "--output-dir",
            str(tmp_path),
            "--orchestrator",
            orchestrator,
        ]
    )
    assert result["code"] == errors.EXIT_BAD_INPUT, result["err"]
    assert "--max-rejected-fraction" in result["err"]
    # what went wrong is published where the export would be, on both orchestrators
    with open(os.path.join(tmp_path, "export", "summary.json"), encoding="utf-8") as file:
        assert json.load(file)["rejections"]["by_reason"]["malformed_xml"] == 2
    assert os.path.getsize(os.path.join(tmp_path, "export", "rejected.jsonl")) > 0
    assert "[while running" not in result["err"]
    assert "internal failure" not in result["err"]
    assert f"[1/7] {'VocExampleGen':<18} FAILED after" in result["out"]
