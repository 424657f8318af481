"""The set-up contract: the stack picked for the machine, interpreter discovery, and
lock files that pin everything. Every test holds on both stacks (docs/platforms.md):
none asserts a version that only one stack has."""

import importlib.metadata
import os
import pathlib
import re
import shutil
import subprocess
import sys
import sysconfig

import pytest

from odweights.maker import lock_pins, normalised_name

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIND_PYTHON = ROOT / "scripts" / "find-python"
PICK_STACK = ROOT / "scripts" / "pick-stack"
LOCKS = {"tfx-1.16": "requirements.lock", "tfx-1.21": "requirements-tfx-1.21.lock"}
# The stack of this interpreter: tfx 1.16 runs on Python 3.10 only, tfx 1.21 on 3.11-3.13.
STACK = "tfx-1.16" if sys.version_info[:2] == (3, 10) else "tfx-1.21"


def _run(script, *args, env):
    return subprocess.run(
        [str(script), *args], env=env, capture_output=True, text=True, check=False
    )


def _find_python(env, *args):
    return _run(FIND_PYTHON, *args, env={"HOME": os.environ.get("HOME", "/root"), **env})


def _pins(lock_name):
    return lock_pins(str(ROOT / lock_name))


def test_python_variable_wins_when_it_is_a_working_interpreter_of_the_stack():
    result = _find_python({"PATH": os.environ["PATH"], "PYTHON": sys.executable}, STACK)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == sys.executable


def test_python_variable_of_the_other_stack_is_refused_with_a_message():
    other = "tfx-1.21" if STACK == "tfx-1.16" else "tfx-1.16"
    result = _find_python({"PATH": os.environ["PATH"], "PYTHON": sys.executable}, other)
    assert result.returncode == 1
    assert "is not a working Python 3." in result.stderr and f"(stack {other})" in result.stderr


def test_python_variable_that_is_not_310_is_refused_with_a_message(tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    result = _find_python({"PATH": os.environ["PATH"], "PYTHON": str(fake)})
    assert result.returncode == 1
    assert "not a working Python 3.10" in result.stderr


def test_no_interpreter_found_names_what_to_install(tmp_path):
    result = _find_python({"PATH": f"{tmp_path}:/usr/bin:/bin"})
    if result.returncode == 0:
        # /usr/bin may hold a real python3.10 on some machines: then it must be found.
        assert result.stdout.strip().endswith("python3.10")
    else:
        assert result.returncode == 1
        assert "needs Python 3.10" in result.stderr and "pyenv install 3.10" in result.stderr


def _pick(*args, glibc, path=None):
    env = {
        "PATH": path or os.environ["PATH"],
        "GLIBC_VERSION": glibc,
        "HOME": os.environ.get("HOME", "/root"),
    }
    return _run(PICK_STACK, *args, env=env)


def _path_without_python(tmp_path):
    """A PATH with the tools the scripts use and no interpreter (nor pyenv)."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("dirname", "getconf", "sed", "sort", "head"):
        (tools / tool).symlink_to(shutil.which(tool))
    return str(tools)


def test_a_new_glibc_with_python_311_to_313_gets_tfx_121():
    if _find_python({"PATH": os.environ["PATH"]}, "tfx-1.21").returncode != 0:
        pytest.skip("no Python 3.11-3.13 on this machine")
    result = _pick(glibc="2.41")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "tfx-1.21"
    assert "stack tfx-1.21 (glibc 2.41 >= 2.39" in result.stderr


def test_an_old_glibc_gets_tfx_116_or_a_message_naming_python_310():
    result = _pick(glibc="2.36")
    if _find_python({"PATH": os.environ["PATH"]}, "tfx-1.16").returncode == 0:
        assert result.stdout.strip() == "tfx-1.16"
        assert "stack tfx-1.16 (glibc 2.36 < 2.39, which tfx 1.21 needs" in result.stderr
    else:
        assert result.returncode == 1
        assert "no TFX stack works here" in result.stderr
        assert "needs Python 3.10" in result.stderr


def test_a_machine_where_neither_works_is_told_what_to_install(tmp_path):
    path = _path_without_python(tmp_path)
    result = _pick(glibc="2.41", path=path)
    assert result.returncode == 1 and result.stdout == ""
    assert "needs Python 3.11, 3.12 or 3.13" in result.stderr
    assert "python3-venv" in result.stderr
    result = _pick(glibc="2.36", path=path)
    assert result.returncode == 1 and result.stdout == ""
    assert "needs Python 3.10" in result.stderr and "pyenv install 3.10" in result.stderr


def test_tfx_121_is_refused_where_glibc_is_too_old_and_unknown_stacks_are_refused():
    result = _pick("tfx-1.21", glibc="2.36")
    assert result.returncode == 1 and result.stdout == ""
    assert "needs glibc >= 2.39" in result.stderr and "scripts/in-trixie" in result.stderr
    result = _pick("tfx-2.0", glibc="2.41")
    assert result.returncode == 1 and "unknown STACK 'tfx-2.0'" in result.stderr


def test_make_says_which_stack_and_why_and_refuses_an_unknown_one():
    result = subprocess.run(
        ["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert f"odweights: stack {STACK} (" in result.stderr
    result = subprocess.run(
        ["make", "-n", "test", "STACK=tfx-0"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "unknown STACK 'tfx-0'" in result.stderr


def test_both_lock_files_pin_every_line_and_pip():
    for lock_name in LOCKS.values():
        lines = [
            line.strip()
            for line in (ROOT / lock_name).read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
        assert lines and all(re.fullmatch(r"[A-Za-z0-9_.\-]+==\S+", line) for line in lines)
        pins = _pins(lock_name)
        assert "pip" in pins and "tfx" in pins


def test_every_installed_distribution_is_pinned_in_the_lock_file():
    lock = _pins(LOCKS[STACK])
    # `make test` adds the OD API's test dependencies on the tfx-1.16 stack only.
    overlay = (
        _pins("requirements-odapi.lock")
        if (STACK == "tfx-1.16" and (ROOT / "requirements-odapi.lock").exists())
        else {}
    )
    # Only what is installed in the venv's site-packages: setuptools' vendored
    # copies (put on sys.path by pkg_resources) are not installations.
    site_packages = sysconfig.get_paths()["purelib"]
    installed = {
        normalised_name(dist.metadata["Name"]): dist.version
        for dist in importlib.metadata.distributions(path=[site_packages])
    }
    installed.pop("odweights")
    unpinned = {
        name: version
        for name, version in installed.items()
        if {**lock, **overlay}.get(name) != version
    }
    assert unpinned == {}
    assert {name: installed.get(name) for name in lock} == lock


def test_the_installed_stack_is_the_one_its_lock_and_docs_name():
    import apache_beam
    import google.protobuf
    import tensorflow as tf
    import tfx
    import tfx.v1  # noqa: F401 (fails with a Beam that no longer installs dill)

    lock = _pins(LOCKS[STACK])
    assert tfx.__version__ == lock["tfx"]
    assert apache_beam.__version__ == lock["apache-beam"]
    assert google.protobuf.__version__ == lock["protobuf"]
    assert tf.__version__ == lock["tensorflow"]
    platforms = (ROOT / "docs" / "platforms.md").read_text()
    row = next(line for line in platforms.splitlines() if line.startswith(f"| {STACK} "))
    for version in (
        tfx.__version__,
        apache_beam.__version__,
        google.protobuf.__version__,
        tf.__version__,
    ):
        assert f" {version} " in row, (version, row)


def test_ci_runs_the_readme_test_command_on_both_stacks():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
    assert "scripts/in-trixie make test STACK=tfx-1.21" in ci
    assert "make test" in (ROOT / "README.md").read_text()
