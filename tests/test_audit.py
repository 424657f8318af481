"""`odweights audit`: lineage from an export back to the VOC input, on one real run."""

import importlib.metadata
import io
import json
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys

import pytest
import tensorflow as tf
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from PIL import Image

import odweights
from odweights import artifact_types, maker
from odweights.app import audit, cli, reproduce, sample_data
from odweights.app.report.writer import REPORT_FILE
from odweights.errors import InvalidOptionsError
from odweights.pipelines.pipeline import COMPONENT_IDS

TFX_VERSION = importlib.metadata.version("tfx")

TRAIN_RECORD = "train.record-00000-of-00001"
VAL_RECORD = "val.record-00000-of-00001"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(VOC dir, output dir) of one `odweights run` on 20 generated images."""
    folder = tmp_path_factory.mktemp("audit")
    summary = sample_data.write_dataset(str(folder / "data"), num_images=20, seed=1)
    voc_dir = os.path.dirname(summary.dataset_dir)  # the VOCdevkit folder
    output_dir = str(folder / "out")
    assert cli.main(["run", "--voc-dir", voc_dir, "--output-dir", output_dir]) == 0
    return voc_dir, output_dir


def _audit(capsys, *args):
    capsys.readouterr()
    exit_code = cli.main(["audit", *args])
    captured = capsys.readouterr()
    return exit_code, captured.out, captured.err


def _metadata(output_dir):
    return os.path.join(output_dir, "metadata.sqlite")


def test_export_type_name_is_the_components_one():
    assert audit.EXPORT_TYPE_NAME == artifact_types.OdApiExport.TYPE_NAME


@pytest.mark.e2e
def test_text_shows_the_chain_from_the_export_to_the_voc_input(run, capsys):
    voc_dir, output_dir = run
    export_dir = os.path.join(output_dir, "export")
    exit_code, out, _ = _audit(
        capsys, os.path.join(export_dir, TRAIN_RECORD), "--metadata", _metadata(output_dir)
    )
    assert exit_code == 0
    steps = re.findall(r"^\[(\d+)\] (\w+)  execution \d+  COMPLETE", out, re.MULTILINE)
    assert [int(number) for number, _ in steps] == list(range(1, len(COMPONENT_IDS) + 1))
    components = [name for _, name in steps]
    assert sorted(components) == sorted(COMPONENT_IDS)
    assert components[0] == "OdExport" and components[-1] == "VocExampleGen"
    # Every producer is listed after its consumers: the chain reads backwards.
    assert components.index("WeightGen") < components.index("StatisticsGen")
    assert components.index("WeightedTransform") < components.index("WeightGen")
    assert f"pushed_destination: {export_dir}" in out
    assert f"{TRAIN_RECORD}: " in out  # its recorded sha256
    assert "method: effective_number" in out
    assert "input_fingerprint: split:train," in out
    assert "span: 0" in out
    assert f"TFX {TFX_VERSION}" in out  # the stack's own, on either (docs/platforms.md)
    assert f"VOC input: {voc_dir}  (read by [{len(COMPONENT_IDS)}]" in out
    assert "Verification" not in out


@pytest.mark.e2e
def test_json_has_every_component_and_a_closed_chain(run, capsys):
    voc_dir, output_dir = run
    export_dir = os.path.join(output_dir, "export")
    exit_code, out, _ = _audit(capsys, export_dir, "--metadata", _metadata(output_dir), "--json")
    assert exit_code == 0
    document = json.loads(out)
    assert document["format"] == audit.FORMAT
    executions = {e["component_id"]: e for e in document["executions"]}
    assert set(executions) == set(COMPONENT_IDS)
    run_ids = {e["run_id"] for e in executions.values()}
    assert len(run_ids) == 1 and run_ids != {""}
    for execution in executions.values():
        assert execution["state"] == "COMPLETE"
        assert execution["pipeline"] == "odweights"
        assert execution["tfx_version"] == TFX_VERSION
        assert execution["start_time"] <= execution["end_time"]
    artifacts = {a["id"]: a for a in document["artifacts"]}
    execution_ids = {e["id"] for e in executions.values()}
    for execution in executions.values():
        for ids in list(execution["inputs"].values()) + list(execution["outputs"].values()):
            assert set(ids) <= set(artifacts)
        for ids in execution["inputs"].values():
            assert {artifacts[i]["produced_by"] for i in ids} <= execution_ids
        for ids in execution["outputs"].values():
            assert {artifacts[i]["produced_by"] for i in ids} == {execution["id"]}
    assert executions["VocExampleGen"]["inputs"] == {}
    assert set(executions["OdExport"]["inputs"]) == {
        "transformed_examples",
        "label_map",
        "class_weights",
        "report",
    }

    export = artifacts[document["export_artifact"]]
    assert export["type"] == artifact_types.OdApiExport.TYPE_NAME
    assert export["custom_properties"]["pushed_destination"] == export_dir
    # report.html (docs/report.md) is written after the export, from it: not an export file.
    assert set(export["custom_properties"]["file_sha256"]) == set(os.listdir(export_dir)) - {
        REPORT_FILE
    }
    [examples_id] = executions["VocExampleGen"]["outputs"]["examples"]
    examples = artifacts[examples_id]["custom_properties"]
    assert examples["images_in"] == 20 and examples["examples_out"] == 20
    [weights_id] = executions["WeightGen"]["outputs"]["class_weights"]
    assert artifacts[weights_id]["custom_properties"]["method"] == "effective_number"
    assert document["input"]["input_base"] == voc_dir
    assert document["input"]["span"] == 0
    assert document["input"]["input_fingerprint"] == examples["input_fingerprint"]
    assert "verify" not in document

    # The artifact's own folder leads to the same export.
    exit_code, out, _ = _audit(capsys, export["uri"], "--metadata", _metadata(output_dir), "--json")
    assert exit_code == 0
    assert json.loads(out)["export_artifact"] == export["id"]


@pytest.mark.e2e
def test_unknown_paths_and_metadata_are_clear_errors(run, capsys, tmp_path):
    voc_dir, output_dir = run
    exit_code, _, err = _audit(
        capsys, str(tmp_path / "nothing"), "--metadata", _metadata(output_dir)
    )
    assert exit_code == 2
    assert "does not exist" in err
    exit_code, _, err = _audit(capsys, voc_dir, "--metadata", _metadata(output_dir))
    assert exit_code == 2
    assert f"was written to {voc_dir}" in err
    assert os.path.join(output_dir, "export") in err  # the exports it knows
    stray = os.path.join(output_dir, "export", "notes.txt")
    with open(stray, "w") as file:
        file.write("not part of the export")
    try:
        exit_code, _, err = _audit(capsys, stray, "--metadata", _metadata(output_dir))
    finally:
        os.remove(stray)
    assert exit_code == 2
    assert "is not one of the files of the export" in err
    exit_code, _, err = _audit(
        capsys, os.path.join(output_dir, "export"), "--metadata", str(tmp_path / "missing.sqlite")
    )
    assert exit_code == 2
    assert "no ML Metadata file" in err
    assert not (tmp_path / "missing.sqlite").exists()
    foreign = tmp_path / "other.sqlite"
    sqlite3.connect(str(foreign)).execute("CREATE TABLE notes (text)").connection.commit()
    exit_code, _, err = _audit(
        capsys, os.path.join(output_dir, "export"), "--metadata", str(foreign)
    )
    assert exit_code == 2
    assert "is not an ML Metadata store" in err


@pytest.mark.e2e
def test_verify_passes_untouched_and_names_every_change(run, capsys):
    voc_dir, output_dir = run
    export_dir = os.path.join(output_dir, "export")
    metadata = _metadata(output_dir)
    exit_code, out, _ = _audit(capsys, export_dir, "--metadata", metadata, "--verify")
    assert exit_code == 0
    assert "Verification passed" in out
    assert re.search(rf"^  OK +{re.escape(TRAIN_RECORD)}$", out, re.MULTILINE)

    train, val = os.path.join(export_dir, TRAIN_RECORD), os.path.join(export_dir, VAL_RECORD)
    annotation = sorted(os.listdir(os.path.join(voc_dir, "VOC2007", "Annotations")))[0]
    annotation = os.path.join(voc_dir, "VOC2007", "Annotations", annotation)
    original_train, original_val = _read(train), _read(val)
    annotation_times = os.stat(annotation)
    try:
        with open(train, "ab") as file:
            file.write(b"\0")
        os.remove(val)
        os.utime(
            annotation,
            ns=(annotation_times.st_atime_ns, annotation_times.st_mtime_ns + 1_000_000_000),
        )
        exit_code, out, err = _audit(capsys, train, "--metadata", metadata, "--verify", "--json")
    finally:
        _write(train, original_train)
        _write(val, original_val)
        os.utime(annotation, ns=(annotation_times.st_atime_ns, annotation_times.st_mtime_ns))
    assert exit_code == 3
    assert f"{TRAIN_RECORD} changed" in err and f"{VAL_RECORD} missing" in err
    assert "VOC input changed" in err
    verification = json.loads(out)["verify"]
    assert not verification["ok"]
    statuses = {f["file"]: f["status"] for f in verification["files"]}
    assert statuses.pop(TRAIN_RECORD) == "changed"
    assert statuses.pop(VAL_RECORD) == "missing"
    assert statuses.pop(REPORT_FILE) == "extra"  # left alone; it fails no verification
    assert set(statuses.values()) == {"ok"}
    assert verification["input"]["status"] == "changed"

    # Restored: passes again.
    exit_code, _, _ = _audit(capsys, train, "--metadata", metadata, "--verify")
    assert exit_code == 0


def _read(path):
    with open(path, "rb") as file:
        return file.read()


def _write(path, data):
    with open(path, "wb") as file:
        file.write(data)


def test_metadata_default_is_beside_the_export_folder(tmp_path):
    out = tmp_path / "out"
    assert audit.default_metadata_path(str(out / "export" / "train.record-00000-of-00001")) == (
        str(out / "metadata.sqlite")
    )
    assert audit.default_metadata_path(str(out / "export")) == str(out / "metadata.sqlite")
    with pytest.raises(InvalidOptionsError, match="give it with --metadata FILE"):
        audit.default_metadata_path(str(out / "exports" / "train.record"))


@pytest.mark.e2e
def test_audit_without_metadata_reads_the_store_of_the_run(run, capsys):
    voc_dir, output_dir = run
    exit_code, out, _ = _audit(capsys, os.path.join(output_dir, "export", TRAIN_RECORD), "--json")
    assert exit_code == 0
    assert json.loads(out)["metadata"] == _metadata(output_dir)
    exit_code, _, err = _audit(capsys, voc_dir)
    assert exit_code == 2
    assert "--metadata FILE" in err


# --- The maker, the recorded command, reproducing (see docs/audit.md) ----------------


def _tree_state(folder):
    """{path: (size, mtime_ns)} of every file below `folder`: proof of no writes."""
    state = {}
    for root, _, names in os.walk(folder):
        for name in names:
            stat = os.stat(os.path.join(root, name))
            state[os.path.join(root, name)] = (stat.st_size, stat.st_mtime_ns)
    return state


@pytest.mark.e2e
def test_every_execution_records_its_maker_and_the_audit_prints_it_once_per_run(run, capsys):
    _, output_dir = run
    export_dir = os.path.join(output_dir, "export")
    exit_code, out, _ = _audit(capsys, export_dir, "--metadata", _metadata(output_dir), "--json")
    assert exit_code == 0
    document = json.loads(out)
    now = maker.describe()
    for execution in document["executions"]:
        recorded = execution["maker"]
        assert set(recorded) == set(maker.LABELS), execution["component_id"]
        for field in ("odweights_version", "stack", "python", *maker.DISTRIBUTIONS):
            assert recorded[field] == now[field], (execution["component_id"], field)
        # A checkout records its commit (None where git is missing, as describe() says).
        assert (recorded["git_commit"] is None) == (now["git_commit"] is None)
        assert recorded["git_dirty"] in (None, False, True)
        assert recorded["component_image"] is None
    # Each run once (a run whose code changed while it ran, once per maker).
    assert {e for run_doc in document["runs"] for e in run_doc["executions"]} == {
        e["id"] for e in document["executions"]
    }
    [command] = {json.dumps(r["command"], sort_keys=True) for r in document["runs"]}
    assert json.loads(command)["output_dir"] == output_dir

    exit_code, out, _ = _audit(capsys, export_dir, "--metadata", _metadata(output_dir))
    assert exit_code == 0
    made_by = out[out.index("Made by (once per run):") : out.index("Lineage, from the export")]
    assert made_by.count(f"odweights {odweights.__version__}") == len(document["runs"])
    assert f"TensorFlow {now['tensorflow']}, Beam {now['apache_beam']}" in made_by
    assert f"Pillow {now['pillow']}" in made_by
    assert f"--output-dir {output_dir}" in made_by


@pytest.mark.e2e
def test_reproduce_command_is_the_recorded_command_with_every_option(run, capsys):
    voc_dir, output_dir = run
    export_dir = os.path.join(output_dir, "export")
    exit_code, out, _ = _audit(
        capsys, export_dir, "--metadata", _metadata(output_dir), "--reproduce-command"
    )
    assert exit_code == 0
    [line] = out.splitlines()
    argv = shlex.split(line)
    assert argv[:2] == ["odweights", "run"]
    assert argv[-2:] == ["--output-dir", reproduce.OUTPUT_DIR_PLACEHOLDER]
    # Options no component records, so they can only come from the run itself.
    assert argv[argv.index("--orchestrator") + 1] == "local"
    assert argv[argv.index("--ingest-workers") + 1] == "1"
    assert argv[argv.index("--voc-dir") + 1] == voc_dir
    # Every option of `odweights run` that has a value is spelt out ...
    parser = cli.build_parser()
    recorded = parser.parse_args(argv[1:])
    original = parser.parse_args(
        ["run", "--voc-dir", voc_dir, "--output-dir", reproduce.OUTPUT_DIR_PLACEHOLDER]
    )
    assert cli._pipeline_options(recorded) == cli._pipeline_options(original)
    for action in recorded.run_parser._actions:
        if action.option_strings and action.default not in (None, False, [], "==SUPPRESS=="):
            assert action.option_strings[-1] in argv, action.option_strings
    # ... and --json gives the same command as a list.
    exit_code, out, _ = _audit(
        capsys, export_dir, "--metadata", _metadata(output_dir), "--reproduce-command", "--json"
    )
    assert json.loads(out)["argv"] == argv


@pytest.mark.e2e
def test_reproduce_refuses_a_folder_that_is_not_new_and_the_audited_one(run, capsys, tmp_path):
    _, output_dir = run
    export_dir = os.path.join(output_dir, "export")
    before = _tree_state(output_dir)
    holding = tmp_path / "holding"
    (holding / "export").mkdir(parents=True)
    for target, message in (
        (str(holding), "already holds an export"),
        (os.path.join(output_dir, "again"), "overlaps the audited output"),
        (output_dir, "overlaps the audited output"),
    ):
        exit_code, _, err = _audit(
            capsys, export_dir, "--metadata", _metadata(output_dir), "--reproduce", target
        )
        assert exit_code == 2, target
        assert message in err
    exit_code, _, err = _audit(
        capsys,
        export_dir,
        "--metadata",
        _metadata(output_dir),
        "--verify",
        "--reproduce",
        str(tmp_path / "new"),
    )
    assert exit_code == 2 and "choose one of --verify, --reproduce" in err
    assert _tree_state(output_dir) == before
    assert not (tmp_path / "new").exists()


@pytest.mark.e2e
def test_reproduce_makes_the_sample_export_again_file_by_file(run, capsys, tmp_path):
    _, output_dir = run
    export_dir = os.path.join(output_dir, "export")
    before = _tree_state(output_dir)
    target = str(tmp_path / "again")
    exit_code, out, err = _audit(
        capsys,
        os.path.join(export_dir, TRAIN_RECORD),
        "--metadata",
        _metadata(output_dir),
        "--reproduce",
        target,
    )
    assert exit_code == 0, err
    recorded = json.loads(
        _audit(capsys, export_dir, "--metadata", _metadata(output_dir), "--json")[1]
    )
    export = next(a for a in recorded["artifacts"] if a["id"] == recorded["export_artifact"])
    names = sorted(export["custom_properties"]["file_sha256"])
    assert TRAIN_RECORD in names and "label_map.pbtxt" in names
    for name in names:
        assert re.search(rf"^  same +{re.escape(name)}( |$)", out, re.MULTILINE), name
    assert "DIFFERS" not in out
    assert "Reproduced: every file is the same." in out
    assert f"Made by odweights {odweights.__version__}" in out  # the run's own summary
    assert _tree_state(output_dir) == before  # never writes into the audited output folder
    # The reproduction is an export of its own, with its own recorded maker.
    exit_code, out, _ = _audit(capsys, os.path.join(target, "export"), "--json")
    assert exit_code == 0
    assert all(e["maker"] for e in json.loads(out)["executions"])


def _set_recorded_version(metadata_path, component_id, field, value):
    """Rewrites one recorded maker field on the outputs of one component's execution."""
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    store = metadata_store.MetadataStore(config)
    node = store.get_context_by_type_and_name("node", f"odweights.{component_id}")
    [execution] = [
        e
        for e in store.get_executions_by_context(node.id)
        if e.last_known_state == metadata_store_pb2.Execution.COMPLETE
    ]
    ids = [
        e.artifact_id
        for e in store.get_events_by_execution_ids([execution.id])
        if e.type == metadata_store_pb2.Event.OUTPUT
    ]
    artifacts = store.get_artifacts_by_id(ids)
    for artifact in artifacts:
        recorded = artifact.custom_properties[maker.MAKER_PROPERTY].struct_value
        recorded.update({field: value})
    store.put_artifacts(artifacts)
    return execution.id


@pytest.mark.e2e
def test_reproduce_names_changed_input_and_versions_first_then_the_differing_records(
    run, capsys, tmp_path
):
    voc_dir, output_dir = run
    export_dir = os.path.join(output_dir, "export")
    # A recorded version changed in (a copy of) the metadata.
    metadata = str(tmp_path / "recorded" / "metadata.sqlite")
    os.makedirs(os.path.dirname(metadata))
    shutil.copyfile(_metadata(output_dir), metadata)
    weight_gen = _set_recorded_version(metadata, "WeightGen", "pillow", "1.0.0")
    # One input image edited: the first record of the training split.
    record = tf.train.Example.FromString(
        next(
            iter(
                tf.data.TFRecordDataset(
                    [os.path.join(export_dir, TRAIN_RECORD)]
                ).as_numpy_iterator()
            )
        )
    )
    source_id = record.features.feature["image/source_id"].bytes_list.value[0].decode()
    filename = record.features.feature["image/filename"].bytes_list.value[0].decode()
    image_path = os.path.join(voc_dir, os.path.dirname(source_id), "JPEGImages", filename)
    original, times = _read(image_path), os.stat(image_path)
    with Image.open(io.BytesIO(original)) as image:
        edited = image.copy()
    edited.paste((255, 0, 255) if edited.mode == "RGB" else 255, (0, 0, 8, 8))
    try:
        edited.save(image_path, format=Image.open(io.BytesIO(original)).format)
        exit_code, out, err = _audit(
            capsys,
            export_dir,
            "--metadata",
            metadata,
            "--reproduce",
            str(tmp_path / "again"),
            "--json",
        )
    finally:
        _write(image_path, original)
        os.utime(image_path, ns=(times.st_atime_ns, times.st_mtime_ns))
    assert exit_code == 3
    # Before the run (its progress starts with "odweights: running"): the input and
    # the version differences, each named.
    run_starts = err.index("odweights: running pipeline")
    assert -1 < err.index("VOC input fingerprint: DIFFERS") < run_starts
    pillow = f"Pillow: recorded 1.0.0, now {maker.describe()['pillow']} (executions {weight_gen})"
    assert -1 < err.index(pillow) < run_starts
    assert f"{TRAIN_RECORD}" in err.splitlines()[-1]  # the error names the differing file
    result = json.loads(out)["reproduce"]
    assert result["before"]["input"]["status"] == "changed"
    [changed_version] = [d for d in result["before"]["environment"] if d["field"] == "pillow"]
    assert changed_version["recorded"] == "1.0.0"
    statuses = {f["file"]: f["status"] for f in result["files"]}
    assert statuses.pop(TRAIN_RECORD) == "DIFFERS"
    # manifest.json lists the record file's sha256, so it differs with it.
    assert statuses.pop("manifest.json", "DIFFERS") == "DIFFERS"
    assert set(statuses.values()) == {"same"}
    [train] = result["records"]
    assert train["split"] == "train" and train["compared"]
    assert train["differ"] == [source_id]
    assert not train["only_recorded"] and not train["only_reproduced"]


@pytest.mark.e2e
def test_audit_console_shows_the_audit_only(run):
    """As a user runs it, in a fresh process: no third-party warnings on the console."""
    _, output_dir = run
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "odweights.app.cli",
            "audit",
            os.path.join(output_dir, "export"),
            "--verify",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert process.returncode == 0, process.stderr
    assert process.stderr == ""
    assert "Warning" not in process.stdout


def test_recorded_command_spells_out_every_option_and_parses_back_the_same(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    parser = cli.build_parser()
    argv = [
        "run",
        "--voc-dir",
        "data",
        "--output-dir",
        "out",
        "--label-map",
        "map.pbtxt",
        "--drop-difficult",
        "--min-weight",
        "0.1",
        "--class-weights",
        "top=1.0,dress=0.1",
        "--beam-arg=--direct_num_workers=2",
        "--beam-arg=--runner=DirectRunner",
    ]
    args = parser.parse_args(argv)
    command = cli._run_command(args)
    assert command["output_dir"] == str(tmp_path / "out") and command["cwd"] == str(tmp_path)
    options = command["options"]
    assert options[options.index("--voc-dir") + 1] == str(tmp_path / "data")
    assert options[options.index("--label-map") + 1] == str(tmp_path / "map.pbtxt")
    again = parser.parse_args(["run", *options, "--output-dir", "out"])
    expected = dict(
        vars(args), voc_dir=str(tmp_path / "data"), label_map=str(tmp_path / "map.pbtxt")
    )
    assert {k: v for k, v in vars(again).items() if k != "run_parser"} == {
        k: v for k, v in expected.items() if k != "run_parser"
    }


def test_before_the_run_names_changed_splits_and_a_changed_label_map_file(tmp_path):
    recorded = (
        "split:train,num_files:43,total_bytes:380838,sha256:aa\n"
        "split:val,num_files:43,total_bytes:380838,sha256:aa"
    )
    actual = (
        "split:train,num_files:44,total_bytes:381000,sha256:bb\n"
        "split:val,num_files:43,total_bytes:380838,sha256:cc"
    )
    assert reproduce._fingerprint_changes(recorded, actual) == [
        "split train: num_files 43 -> 44, total_bytes 380838 -> 381000",
        "split val: same number and size of files, but a name or modification time changed",
    ]
    assert reproduce._fingerprint_changes(recorded, recorded) == []

    label_map = tmp_path / "label_map.pbtxt"
    label_map.write_text("item { id: 1 name: 'car' }\n")
    document = dict(
        input=dict(execution=5),
        executions=[dict(id=5, properties=dict(label_map_text="item { id: 1 name: 'car' }\n"))],
    )
    command = dict(options=["--voc-dir", "/data", "--label-map", str(label_map)])
    assert reproduce._label_map_check(document, command)["status"] == "ok"
    label_map.write_text("item { id: 1 name: 'bus' }\n")
    assert reproduce._label_map_check(document, command)["status"] == "changed"
    label_map.unlink()
    assert reproduce._label_map_check(document, command)["status"] == "missing"
    assert reproduce._label_map_check(document, dict(options=[]))["status"] == "none"
