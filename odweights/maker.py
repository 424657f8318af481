"""The maker of an artifact: which odweights, on which stack, in which environment.

Every executor calls `record_maker(output_dict)`, which stores `describe()` as
the JSON custom property `odweights_maker` of each of its output artifacts, so
ML Metadata keeps, next to every execution's outputs, what made them: the
process that ran the executor, on any orchestrator (on Kubeflow, in the
component image). `odweights audit` reads it back and `--reproduce` compares
it with today's environment; see docs/audit.md.

Kept free of TFX and TensorFlow: versions come from the installed
distributions' metadata, so that describing the environment imports nothing.
"""

import functools
import glob
import importlib.metadata
import os
import platform
import re
import shlex
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import odweights

MAKER_PROPERTY = "odweights_maker"

# Set by the component image's pipeline (compile-kubeflow) and by the image
# itself: the image that runs the executors, and the stack it was built from.
IMAGE_ENV = "ODWEIGHTS_COMPONENT_IMAGE"
STACK_ENV = "ODWEIGHTS_STACK"

# Field of describe() -> the distribution whose installed version it holds.
DISTRIBUTIONS = {
    "tfx": "tfx",
    "tensorflow": "tensorflow",
    "apache_beam": "apache-beam",
    "tfdv": "tensorflow-data-validation",
    "ml_metadata": "ml-metadata",
    "protobuf": "protobuf",
    "pillow": "pillow",
}

# Every field of describe(), in the order the audit prints them, with its label.
LABELS = {
    "odweights_version": "odweights",
    "git_commit": "git commit",
    "git_dirty": "git dirty",
    "stack": "stack",
    "component_image": "component image",
    "python": "Python",
    "tfx": "TFX",
    "tensorflow": "TensorFlow",
    "apache_beam": "Beam",
    "tfdv": "TFDV",
    "ml_metadata": "ml-metadata",
    "protobuf": "protobuf",
    "pillow": "Pillow",
}

_GIT_SECONDS = 10
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\#]+)\s*(?:\\)?\s*$")


def describe() -> dict[str, Any]:
    """The maker of what this process writes now (the fields of LABELS).

    git_commit and git_dirty are None when odweights does not run from a git
    checkout; stack is None when no lock file matches the installed versions
    and ODWEIGHTS_STACK is unset; component_image is None outside an image.
    """
    commit, dirty = _git_state(_checkout_root())
    versions = _installed_versions()
    maker: dict[str, Any] = dict(
        odweights_version=odweights.__version__,
        git_commit=commit,
        git_dirty=dirty,
        stack=os.environ.get(STACK_ENV) or _matching_lock_file(_checkout_root(), versions),
        component_image=os.environ.get(IMAGE_ENV) or None,
        python=platform.python_version(),
    )
    for field, distribution in DISTRIBUTIONS.items():
        maker[field] = versions.get(normalised_name(distribution))
    return maker


def record_maker(output_dict: Mapping[str, Iterable[Any]]) -> None:
    """Stores describe() on every output artifact (TFX Artifacts) of an execution."""
    maker = describe()
    for artifacts in output_dict.values():
        for artifact in artifacts:
            artifact.set_json_value_custom_property(MAKER_PROPERTY, maker)


def differences(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """The fields (of LABELS) whose values differ, in LABELS order."""
    return [field for field in LABELS if recorded.get(field) != current.get(field)]


def format_maker(maker: Mapping[str, Any]) -> str:
    """One line: `odweights 0.1.0 (git 1a2b3c4d5e6f, dirty), stack requirements.lock, ...`."""
    if not maker:
        return "not recorded (made by an odweights that did not record it)"
    code = f"odweights {maker.get('odweights_version')}"
    if maker.get("git_commit"):
        code += f" (git {maker['git_commit'][:12]}{', dirty' if maker.get('git_dirty') else ''})"
    parts = [code, f"stack {maker.get('stack') or 'unknown'}"]
    if maker.get("component_image"):
        parts.append(f"image {maker['component_image']}")
    parts += [f"{LABELS[field]} {maker.get(field) or '-'}" for field in ("python", *DISTRIBUTIONS)]
    return ", ".join(parts)


def format_value(field: str, value: Any) -> str:
    if value is None:
        return "none" if field in ("git_commit", "component_image") else "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _checkout_root() -> str | None:
    """The git checkout odweights runs from (an editable install), or None."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(odweights.__file__)))
    if os.path.exists(os.path.join(root, ".git")) and os.path.isfile(
        os.path.join(root, "pyproject.toml")
    ):
        return root
    return None


def _git_state(root: str | None):
    """(HEAD commit, whether tracked files differ from it), or (None, None)."""
    if root is None:
        return None, None
    try:
        commit = _git(root, "rev-parse", "HEAD")
        # --no-optional-locks: never take .git/index.lock from a concurrent commit.
        status = _git(root, "--no-optional-locks", "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit, bool(status)


def _git(root: str, *args: str) -> str:
    if args[0].startswith("--"):
        command = ["git", args[0], "-C", root, *args[1:]]
    else:
        command = ["git", "-C", root, *args]
    return subprocess.run(
        command, check=True, capture_output=True, text=True, timeout=_GIT_SECONDS
    ).stdout.strip()


def normalised_name(name: str) -> str:
    """A distribution name as pip compares them (PEP 503): `Pillow` -> `pillow`."""
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.lru_cache(maxsize=1)
def _installed_versions() -> dict[str, str]:
    """{normalised distribution name: version} of this interpreter's distributions."""
    versions: dict[str, str] = {}
    for distribution in importlib.metadata.distributions():
        name = distribution.metadata["Name"]
        if name:
            versions.setdefault(normalised_name(name), distribution.version)
    return versions


def _matching_lock_file(root: str | None, versions: Mapping[str, str]) -> str | None:
    """The checkout's lock file (path from the root) that pins TFX and exactly the
    installed versions: the stack this environment was installed from (overlay
    lock files, which pin no TFX, are not stacks)."""
    if root is None:
        return None
    candidates = sorted(
        glob.glob(os.path.join(root, "*.lock")) + glob.glob(os.path.join(root, "*", "*.lock"))
    )
    for path in candidates:
        if ".venv" in os.path.relpath(path, root).split(os.sep)[0]:
            continue
        pins = lock_pins(path)
        if "tfx" in pins and all(versions.get(name) == version for name, version in pins.items()):
            return os.path.relpath(path, root)
    return None


def lock_pins(path: str) -> dict[str, str]:
    """{normalised name: version} of the `name==version` lines of a lock file ({} unreadable)."""
    pins = {}
    try:
        with open(path, encoding="utf-8") as file:
            for line in file:
                match = _PIN.match(line.strip())
                if match:
                    pins[normalised_name(match.group(1))] = match.group(2)
    except (OSError, UnicodeDecodeError):
        return {}
    return pins


RUN_COMMAND_PROPERTY = "odweights_run_command"
"""Custom property of a run's `pipeline_run` context: the JSON of the `odweights run`
command that started it ({options: [every option, spelt out], output_dir, cwd})."""


def format_command(options: Sequence[str], output_dir: str) -> str:
    """The recorded `odweights run` command as a shell line, into `output_dir`."""
    return shlex.join(["odweights", "run", *options, "--output-dir", output_dir])
