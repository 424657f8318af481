"""odweights.maker: what describes the environment that made an artifact (no pipeline run)."""

import importlib.metadata
import json
import os
import platform
import re
import shutil
import subprocess

import pytest

import odweights
from odweights import maker


def test_describe_has_every_field_with_the_installed_versions():
    described = maker.describe()
    assert list(described) == list(maker.LABELS)
    assert described["odweights_version"] == odweights.__version__
    assert described["python"] == platform.python_version()
    for field, distribution in maker.DISTRIBUTIONS.items():
        assert described[field] == importlib.metadata.version(distribution), field


def test_the_component_image_and_stack_come_from_the_environment(monkeypatch):
    monkeypatch.setenv(maker.IMAGE_ENV, "registry.example/odweights:1")
    monkeypatch.setenv(maker.STACK_ENV, "requirements-tfx-x.lock")
    described = maker.describe()
    assert described["component_image"] == "registry.example/odweights:1"
    assert described["stack"] == "requirements-tfx-x.lock"
    monkeypatch.delenv(maker.IMAGE_ENV)
    assert maker.describe()["component_image"] is None


def test_the_stack_is_the_lock_file_that_pins_tfx_and_every_installed_version(tmp_path):
    versions = {"tfx": "1.16.0", "pillow": "12.3.0", "tf-slim": "1.1.0"}
    (tmp_path / "requirements.lock").write_text(
        "# comment\ntfx==1.16.0\nPillow==12.3.0 \\\n    --hash=sha256:00\n"
    )
    (tmp_path / "requirements-odapi.lock").write_text("tf-slim==1.1.0\n")  # an overlay
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "tfx-1.21.lock").write_text("tfx==1.21.0\npillow==12.3.0\n")
    assert maker._matching_lock_file(str(tmp_path), versions) == "requirements.lock"
    assert (
        maker._matching_lock_file(str(tmp_path), dict(versions, tfx="1.21.0"))
        == "stacks/tfx-1.21.lock"
    )
    assert maker._matching_lock_file(str(tmp_path), dict(versions, pillow="11.0.0")) is None
    assert maker._matching_lock_file(None, versions) is None


def _git(root, *args):
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_commit_and_dirty_flag_of_a_checkout(tmp_path):
    assert maker._git_state(None) == (None, None)
    assert maker._git_state(str(tmp_path)) == (None, None)  # not a repository
    _git(tmp_path, "init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    _git(tmp_path, "add", "code.py")
    _git(
        tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "one"
    )
    head = subprocess.run(
        ["git", "-C", str(tmp_path), "rev-parse", "HEAD"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert maker._git_state(str(tmp_path)) == (head, False)
    (tmp_path / "notes.txt").write_text("untracked files do not make the code dirty\n")
    assert maker._git_state(str(tmp_path)) == (head, False)
    (tmp_path / "code.py").write_text("x = 2\n")
    assert maker._git_state(str(tmp_path)) == (head, True)


def test_differences_name_the_fields_that_differ_in_label_order():
    now = maker.describe()
    assert maker.differences(now, now) == []
    recorded = dict(now, pillow="1.0.0", tensorflow="0.0.0")
    assert maker.differences(recorded, now) == ["tensorflow", "pillow"]


def test_format_maker_is_one_line_with_every_version():
    line = maker.format_maker(maker.describe())
    assert "\n" not in line
    assert line.startswith(f"odweights {odweights.__version__}")
    for field in ("python", *maker.DISTRIBUTIONS):
        assert f"{maker.LABELS[field]} {maker.describe()[field]}" in line
    assert "not recorded" in maker.format_maker({})


def test_compiled_kubeflow_tasks_tell_their_executors_the_component_image(tmp_path):
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    from odweights.pipelines import kubeflow_v2_runner
    from odweights.pipelines.options import PipelineOptions

    image = "registry.example/odweights:1"
    output = tmp_path / "pipeline.json"
    kubeflow_v2_runner.compile_pipeline(
        PipelineOptions(voc_dir="gs://bucket/VOCdevkit"), str(output), image, "gs://bucket/root"
    )
    json_format.Parse(output.read_text(), pipeline_spec_pb2.PipelineJob())  # a valid field
    executors = json.loads(output.read_text())["pipelineSpec"]["deploymentSpec"]["executors"]
    assert len(executors) == 7
    for executor in executors.values():
        assert {"name": maker.IMAGE_ENV, "value": image} in executor["container"]["env"]


def test_each_component_image_names_the_lock_file_it_is_built_against():
    kubeflow = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "kubeflow")
    dockerfiles = [
        name
        for name in os.listdir(kubeflow)
        if name.startswith("Dockerfile") and not name.endswith(".dockerignore")
    ]
    assert "Dockerfile" in dockerfiles
    for name in dockerfiles:
        with open(os.path.join(kubeflow, name)) as file:
            text = file.read()
        [lock] = re.findall(r"--constraint (\S+)", text)
        assert re.findall(rf"^ENV {maker.STACK_ENV}=(\S+)$", text, re.MULTILINE) == [lock], name
