"""`odweights compile-kubeflow`: the compiled pipeline parses, resolves, and runs.

The module compiles the pipeline once (through the CLI) and then plays the
part of a KFP v2 launcher on local files: for each task it builds the
ExecutorInput from the compiled spec (the task's parameters, its input and
output definitions, URIs under a local root), runs the task's container
command (TFX's Kubeflow v2 entrypoint), and hands each task's reported outputs to the next task.
"""

import hashlib
import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest
import tensorflow as tf
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.dsl.components.base import base_executor
from tfx.orchestration.kubeflow.v2 import compiler_utils
from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor
from tfx.utils import import_utils

from odweights import artifact_types, maker
from odweights.app import cli, sample_data
from odweights.class_weights_io import CLASS_WEIGHTS_FILE
from odweights.components.voc_example_gen.driver import compute_input_fingerprint
from odweights.components.voc_example_gen.layout import voc_input_configs
from odweights.features import CLASS_TEXT, WEIGHT
from odweights.label_map import LABEL_MAP_FILE, parse_label_map
from odweights.pipelines import kubeflow_v2_runner
from odweights.pipelines.options import PipelineOptions
from odweights.pipelines.pipeline import COMPONENT_IDS

IMAGE = "registry.example/odweights:test"
# A Beam arg that also spares each Beam executor from packaging TFX for remote
# workers (the DirectRunner ignores it); on Dataflow it gives the workers odweights.
BEAM_ARG = f"--sdk_container_image={IMAGE}"
# Every task, in dependency order, as a launcher runs them.
EXECUTED_TASKS = (
    "VocExampleGen",
    "StatisticsGen",
    "OdApiSchemaGen",
    "ExampleValidator",
    "WeightGen",
    "WeightedTransform",
    "OdExport",
)
CUSTOM_TYPES = (
    artifact_types.LabelMap,
    artifact_types.IngestReport,
    artifact_types.ClassWeights,
    artifact_types.OdApiExport,
)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """(PipelineJob, its PipelineSpec, dataset summary, pipeline root, folder)."""
    folder = tmp_path_factory.mktemp("kubeflow")
    summary = sample_data.write_dataset(str(folder / "data"), num_images=12, seed=3)
    pipeline_root = str(folder / "root")
    output = folder / "pipeline.json"
    exit_code = cli.main(
        [
            "compile-kubeflow",
            "--output",
            str(output),
            "--image",
            IMAGE,
            "--pipeline-root",
            pipeline_root,
            "--voc-dir",
            summary.dataset_dir,
            "--method",
            "inverse_frequency",
            "--max-weight",
            "3",
            f"--beam-arg={BEAM_ARG}",
        ]
    )
    assert exit_code == 0
    job = pipeline_spec_pb2.PipelineJob()
    json_format.Parse(output.read_text(), job)  # strict: no unknown fields
    spec = pipeline_spec_pb2.PipelineSpec()
    json_format.ParseDict(json_format.MessageToDict(job.pipeline_spec), spec)
    return job, spec, summary, pipeline_root, folder


def _container(spec, task_name):
    component = spec.components[spec.root.dag.tasks[task_name].component_ref.name]
    executors = json_format.MessageToDict(spec.deployment_spec)["executors"]
    return executors[component.executor_label]["container"]


def _artifact_titles(spec):
    for component in spec.components.values():
        for definitions in (
            component.input_definitions.artifacts,
            component.output_definitions.artifacts,
        ):
            for artifact_spec in definitions.values():
                schema = artifact_spec.artifact_type
                if schema.WhichOneof("kind") == "schema_title":
                    yield schema.schema_title
                else:
                    yield yaml.safe_load(schema.instance_schema)["title"]


def test_compiles_every_component_with_the_image_and_beam_args(compiled):
    job, spec, _, pipeline_root, _ = compiled
    tasks = spec.root.dag.tasks
    assert set(tasks) == set(COMPONENT_IDS)
    assert spec.schema_version == "2.1.0"
    assert spec.pipeline_info.name == "odweights"
    assert job.runtime_config.gcs_output_directory == pipeline_root
    assert list(tasks["StatisticsGen"].dependent_tasks) == ["VocExampleGen"]
    assert set(tasks["OdExport"].dependent_tasks) == {
        "VocExampleGen",
        "WeightGen",
        "WeightedTransform",
    }
    publish_dir = tasks["OdExport"].inputs.parameters["publish_dir"].runtime_value.constant
    assert publish_dir.string_value == os.path.join(pipeline_root, kubeflow_v2_runner.EXPORT_FOLDER)
    method = tasks["WeightGen"].inputs.parameters["method"].runtime_value.constant
    assert method.string_value == "inverse_frequency"
    max_weight = tasks["WeightGen"].inputs.parameters["max_weight"].runtime_value.constant
    assert max_weight.number_value == 3.0
    for name in COMPONENT_IDS:
        container = _container(spec, name)
        assert container["image"] == IMAGE
        assert container["command"][-1] == kubeflow_v2_run_executor.__name__
        # TFX appends the pipeline's Beam args to every task (non-Beam executors
        # receive them as extra flags and ignore them).
        assert container["args"][-1] == BEAM_ARG, name
        # No task runs TFX's generic ExampleGen driver (its cache key ignores images).
        assert "lifecycle" not in container, name
    # The VOC ExampleGen is never served from KFP's cache (its key cannot see the
    # files); every other task is keyed on its upstream artifacts and is cached.
    assert not tasks["VocExampleGen"].HasField("caching_options")
    for name in set(COMPONENT_IDS) - {"VocExampleGen"}:
        assert tasks[name].caching_options.enable_cache, name
    parameters = tasks["VocExampleGen"].inputs.parameters
    assert parameters["splits"].runtime_value.constant.string_value == "train,val"
    assert "input_config" not in parameters  # the layout is detected when it runs


def test_every_executor_class_path_and_command_is_importable(compiled):
    _, spec, _, _, _ = compiled
    for name in COMPONENT_IDS:
        container = _container(spec, name)
        args = container["args"]
        executor_class = import_utils.import_class_by_path(
            args[args.index("--executor_class_path") + 1]
        )
        assert issubclass(executor_class, base_executor.BaseExecutor), name
        command = container["command"]
        assert command[:2] == ["python", "-m"]
        assert importlib.util.find_spec(command[2]) is not None, command


def test_custom_artifact_types_are_valid_for_kfp_v2_and_resolve_in_the_container(compiled):
    _, spec, _, _, _ = compiled
    titles = set(_artifact_titles(spec))
    custom = {title for title in titles if title not in compiler_utils.TITLE_TO_CLASS_PATH}
    assert custom == {artifact_type.TYPE_NAME for artifact_type in CUSTOM_TYPES}
    for title in custom:
        assert re.fullmatch(artifact_types.KFP_V2_TYPE_NAME_PATTERN, title), title
        # The entrypoint imports a custom type's title as a class path.
        assert import_utils.import_class_by_path(title).TYPE_NAME == title
    for title in titles - custom:
        importlib.import_module(compiler_utils.TITLE_TO_CLASS_PATH[title].rsplit(".", 1)[0])


def test_yaml_output_is_a_pipeline_spec(compiled):
    _, spec, summary, pipeline_root, folder = compiled
    options = PipelineOptions(
        voc_dir=summary.dataset_dir,
        method="inverse_frequency",
        max_weight=3.0,
        beam_args=(BEAM_ARG,),
    )
    output = folder / "pipeline.yaml"
    kubeflow_v2_runner.compile_pipeline(options, str(output), IMAGE, pipeline_root)
    from_yaml = pipeline_spec_pb2.PipelineSpec()
    json_format.ParseDict(yaml.safe_load(output.read_text()), from_yaml)
    assert from_yaml == spec


def _without_google_credentials(monkeypatch, tmp_path):
    """This machine as a CI job or a laptop without Google Cloud credentials."""
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))  # no ADC file there
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # not on a Google Cloud VM


def test_compiles_a_gs_voc_dir_without_credentials_and_never_reads_it(monkeypatch, tmp_path):
    """As a user runs it: a fresh process, whose console shows one line and nothing else
    (no third-party warnings; no warning about paths, since every path is remote)."""
    _without_google_credentials(monkeypatch, tmp_path)
    output = tmp_path / "pipeline.json"
    voc_dir = "gs://odweights-test-no-such-bucket/VOCdevkit"
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "odweights.app.cli",
            "compile-kubeflow",
            "--output",
            str(output),
            "--image",
            IMAGE,
            "--pipeline-root",
            "gs://odweights-test-no-such-bucket/root",
            "--voc-dir",
            voc_dir,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert process.returncode == 0, process.stderr
    assert process.stderr == ""
    lines = process.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"odweights: wrote {output} (7 tasks); submit it with ")
    job = json.loads(output.read_text())
    parameters = job["pipelineSpec"]["root"]["dag"]["tasks"]["VocExampleGen"]["inputs"][
        "parameters"
    ]
    assert parameters["input_base"]["runtimeValue"]["constant"] == voc_dir


def test_reading_gs_without_credentials_names_the_cause(monkeypatch, tmp_path, capsys):
    _without_google_credentials(monkeypatch, tmp_path)
    from odweights.components.voc_example_gen import layout
    from odweights.errors import InvalidOptionsError

    # What the VOC ExampleGen does first when it runs.
    with pytest.raises(InvalidOptionsError, match="no Google Cloud credentials on this machine"):
        layout.voc_input_configs("gs://odweights-test-no-such-bucket/VOCdevkit")
    # The label map is read while compiling.
    exit_code = cli.main(
        [
            "compile-kubeflow",
            "--output",
            str(tmp_path / "p.json"),
            "--image",
            IMAGE,
            "--pipeline-root",
            "gs://odweights-test-no-such-bucket/root",
            "--voc-dir",
            "gs://odweights-test-no-such-bucket/VOCdevkit",
            "--label-map",
            "gs://odweights-test-no-such-bucket/label_map.pbtxt",
        ]
    )
    assert exit_code == 2
    assert "no Google Cloud credentials on this machine" in capsys.readouterr().err
    assert not (tmp_path / "p.json").exists()


def test_warns_about_local_inputs_with_a_remote_root_and_caches_ingest_on_request(
    compiled, tmp_path, capsys
):
    _, _, summary, _, _ = compiled
    label_map = tmp_path / "label_map.pbtxt"
    label_map.write_text("item { id: 1 name: 'cat' }\n")
    output = tmp_path / "pipeline.json"
    capsys.readouterr()
    exit_code = cli.main(
        [
            "compile-kubeflow",
            "--output",
            str(output),
            "--image",
            IMAGE,
            "--pipeline-root",
            "gs://odweights-test-no-such-bucket/root",
            "--voc-dir",
            summary.dataset_dir,
            "--label-map",
            str(label_map),
            "--ingest-cache",
        ]
    )
    captured = capsys.readouterr()
    assert exit_code == 0
    warnings = captured.err.splitlines()
    assert len(warnings) == 2
    assert warnings[0].startswith(
        f"odweights: warning: --voc-dir {summary.dataset_dir} is a "
        "local path but --pipeline-root is remote"
    )
    assert warnings[1].startswith(f"odweights: warning: --label-map {label_map} is a local path")
    assert len(captured.out.splitlines()) == 1
    task = json.loads(output.read_text())["pipelineSpec"]["root"]["dag"]["tasks"]["VocExampleGen"]
    assert task["cachingOptions"] == {"enableCache": True}


def test_refuses_an_unknown_output_type(compiled):
    _, _, summary, pipeline_root, folder = compiled
    exit_code = cli.main(
        [
            "compile-kubeflow",
            "--output",
            str(folder / "pipeline.txt"),
            "--image",
            IMAGE,
            "--pipeline-root",
            pipeline_root,
            "--voc-dir",
            summary.dataset_dir,
        ]
    )
    assert exit_code == 2
    assert not (folder / "pipeline.txt").exists()


# --- Executing compiled tasks as a KFP launcher would ----------------------


def _executor_input(spec, task_name, produced, task_root):
    """The ExecutorInput a KFP v2 launcher builds for `task_name` from the spec."""
    task = spec.root.dag.tasks[task_name]
    component = spec.components[task.component_ref.name]
    executor_input = pipeline_spec_pb2.ExecutorInput()
    for name, parameter in task.inputs.parameters.items():
        assert parameter.WhichOneof("kind") == "runtime_value", name
        executor_input.inputs.parameter_values[name].CopyFrom(parameter.runtime_value.constant)
    for name in component.input_definitions.artifacts:
        source = task.inputs.artifacts[name].task_output_artifact
        executor_input.inputs.artifacts[name].artifacts.add().CopyFrom(
            produced[(source.producer_task, source.output_artifact_key)]
        )
    for name, definition in component.output_definitions.artifacts.items():
        artifact = executor_input.outputs.artifacts[name].artifacts.add()
        artifact.name = f"{task_name}.{name}"
        artifact.type.CopyFrom(definition.artifact_type)
        artifact.uri = os.path.join(task_root, name)
        artifact.metadata.update(json_format.MessageToDict(definition.metadata))
    executor_input.outputs.output_file = os.path.join(task_root, "executor_output.json")
    return executor_input


def _run(container, executor_input, in_process):
    payload = json_format.MessageToJson(executor_input)
    args = [payload if arg == "{{$}}" else arg for arg in container["args"]]
    command = container["command"]
    env = {item["name"]: item["value"] for item in container.get("env", [])}  # as KFP sets it
    if in_process:
        # What `python -m MODULE ARGS` does: absl's app.run(main, flags_parser=_parse_flags).
        module = importlib.import_module(command[2])
        saved = {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        try:
            module.main(module._parse_flags(args))
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name)
                else:
                    os.environ[name] = value
    else:
        subprocess.run([sys.executable] + command[1:] + args, check=True, env={**os.environ, **env})
    output = pipeline_spec_pb2.ExecutorOutput()
    json_format.Parse(tf.io.gfile.GFile(executor_input.outputs.output_file).read(), output)
    return output


def _launch(spec, task_name, produced, root, in_process):
    """Runs one task and records its outputs."""
    executor_input = _executor_input(spec, task_name, produced, os.path.join(root, task_name))
    output = _run(_container(spec, task_name), executor_input, in_process)
    for key, declared in executor_input.outputs.artifacts.items():
        reported = output.artifacts[key].artifacts[0]
        assert reported.uri == declared.artifacts[0].uri
        artifact = pipeline_spec_pb2.RuntimeArtifact()
        artifact.CopyFrom(declared.artifacts[0])
        artifact.metadata.Clear()
        artifact.metadata.update(json_format.MessageToDict(reported.metadata))
        produced[(task_name, key)] = artifact
    return output


@pytest.fixture(scope="module")
def launched(compiled):
    """{(task, output key): RuntimeArtifact} after running EXECUTED_TASKS."""
    _, spec, _, _, folder = compiled
    root = str(folder / "launcher")
    produced = {}
    for task_name in EXECUTED_TASKS:
        # The first executor in a fresh process, as in its container (so the
        # custom artifact types are resolved from scratch); the rest in this
        # process, through the same module's main, to save start-up time.
        _launch(spec, task_name, produced, root, in_process=task_name != EXECUTED_TASKS[0])
    return produced


@pytest.mark.e2e
def test_voc_example_gen_runs_from_the_compiled_spec(compiled, launched):
    _, _, summary, _, _ = compiled
    examples = launched[("VocExampleGen", "examples")]
    metadata = json_format.MessageToDict(examples.metadata)
    assert json.loads(metadata["split_names"]) == ["train", "val"]
    # Layout, span and fingerprint resolved by the executor itself (no driver ran).
    _, input_config, _ = voc_input_configs(summary.dataset_dir, ("train", "val"))
    assert metadata["input_fingerprint"] == compute_input_fingerprint(
        summary.dataset_dir, input_config
    )
    assert metadata.get("span", metadata.get("custom:span")) == 0
    # The payload it really holds: uncompressed TFRecords, no GZIP claim.
    assert metadata["compression"] == "UNCOMPRESSED"
    assert "file_format" not in metadata
    for split in ("train", "val"):
        files = tf.io.gfile.glob(os.path.join(examples.uri, f"Split-{split}", "*"))
        records = sum(1 for _ in tf.data.TFRecordDataset(files))  # uncompressed
        assert records == summary.split_images[split], split
    label_map_uri = launched[("VocExampleGen", "label_map")].uri
    label_map = parse_label_map(
        tf.io.gfile.GFile(os.path.join(label_map_uri, LABEL_MAP_FILE)).read()
    )
    assert set(label_map) == set(summary.class_counts)


@pytest.mark.e2e
def test_weight_gen_runs_from_the_compiled_spec_on_upstream_outputs(compiled, launched):
    _, _, summary, _, _ = compiled
    class_weights = launched[("WeightGen", "class_weights")]
    document = json.loads(
        tf.io.gfile.GFile(os.path.join(class_weights.uri, CLASS_WEIGHTS_FILE)).read()
    )
    assert document["method"] == "inverse_frequency"
    assert document["split"] == "train"
    objects = {entry["name"]: entry["objects"] for entry in document["classes"]}
    expected = {
        name: summary.split_class_counts["train"].get(name, 0) for name in summary.class_counts
    }
    assert objects == expected
    # The default scale (docs/weights.md), with the --max-weight given at compile time.
    assert (document["normalize"], document["max_weight"]) == ("mean", 3.0)
    assert document["mean_box_weight"] == pytest.approx(1.0, abs=1e-9)
    assert all(0 < entry["weight"] <= 3.0 for entry in document["classes"])
    metadata = json_format.MessageToDict(class_weights.metadata)
    assert metadata["method"] == "inverse_frequency"
    assert metadata["tfx_version"]


@pytest.mark.e2e
def test_the_whole_compiled_pipeline_runs_and_publishes_the_export(compiled, launched):
    _, _, summary, pipeline_root, _ = compiled
    assert {task for task, _ in launched} == set(COMPONENT_IDS)
    export = launched[("OdExport", "export")]
    metadata = json_format.MessageToDict(export.metadata)
    publish_dir = os.path.join(pipeline_root, kubeflow_v2_runner.EXPORT_FOLDER)
    assert metadata["pushed_destination"] == publish_dir
    recorded = metadata["file_sha256"]
    assert sorted(recorded) == sorted(os.listdir(publish_dir))
    for name, sha256 in recorded.items():
        with open(os.path.join(publish_dir, name), "rb") as file:
            assert hashlib.sha256(file.read()).hexdigest() == sha256, name
    for split in ("train", "val"):
        records = tf.io.gfile.glob(os.path.join(publish_dir, f"{split}.record-*"))
        examples = [
            tf.train.Example.FromString(record.numpy())
            for record in tf.data.TFRecordDataset(records)
        ]  # uncompressed
        assert len(examples) == summary.split_images[split], split
        for example in examples:
            features = example.features.feature
            assert len(features[WEIGHT].float_list.value) == len(
                features[CLASS_TEXT].bytes_list.value
            )


@pytest.mark.e2e
def test_every_task_records_its_maker_with_the_component_image(launched):
    """Each executor records the maker on its outputs, which reach KFP's metadata through
    TFX's entrypoint, with the image from the container's env (see docs/audit.md)."""
    assert {task for task, _ in launched} == set(COMPONENT_IDS)
    now = maker.describe()
    for (task, key), artifact in launched.items():
        recorded = json_format.MessageToDict(artifact.metadata).get(maker.MAKER_PROPERTY)
        assert recorded, (task, key)
        assert recorded["component_image"] == IMAGE, (task, key)
        assert {field: recorded[field] for field in maker.DISTRIBUTIONS} == {
            field: now[field] for field in maker.DISTRIBUTIONS
        }, (task, key)


# The component image of each stack (docs/platforms.md): {TFX version: (Dockerfile, lock)}.
DOCKERFILES = {
    "1.16.0": ("Dockerfile", "requirements.lock"),
    "1.21.0": ("Dockerfile.tfx-1.21", "requirements-tfx-1.21.lock"),
}


@pytest.mark.parametrize("tfx_version", sorted(DOCKERFILES))
def test_dockerfile_is_the_pinned_tfx_image_plus_every_source_folder(tfx_version):
    repository = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    dockerfile_name, lock = DOCKERFILES[tfx_version]
    with open(os.path.join(repository, "kubeflow", dockerfile_name)) as file:
        dockerfile = file.read()
    with open(os.path.join(repository, lock)) as file:
        assert f"tfx=={tfx_version}" in file.read().splitlines()
    with open(os.path.join(repository, "pyproject.toml")) as file:
        package_dir = re.search(r"^package-dir = \{(.*)\}$", file.read(), re.MULTILINE).group(1)
    assert re.findall(r"^FROM (\S+)$", dockerfile, re.MULTILINE) == [
        f"tensorflow/tfx:{tfx_version}"
    ]
    source_folders = set(re.findall(r'= "(\w+)"', package_dir))
    assert source_folders == {"odweights", "components", "pipelines", "app"}
    copied = set(re.findall(r"^COPY (\w+)/ \1/$", dockerfile, re.MULTILINE))
    assert copied == source_folders
    assert f"--constraint {lock}" in dockerfile
    with open(os.path.join(repository, "kubeflow", f"{dockerfile_name}.dockerignore")) as file:
        assert f"!{lock}" in file.read().splitlines()
    assert not os.path.exists(os.path.join(repository, "kubeflow", "__init__.py"))
