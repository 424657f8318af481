"""The set-up contract: interpreter discovery and a lock file that pins everything."""

import importlib.metadata
import os
import pathlib
import re
import subprocess
import sys
import sysconfig

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIND_PYTHON = ROOT / "scripts" / "find-python"


def _find_python(env):
    return subprocess.run([str(FIND_PYTHON)], env=env, capture_output=True, text=True)


def test_python_variable_wins_when_it_is_a_working_310():
    result = _find_python({"PATH": os.environ["PATH"], "PYTHON": sys.executable})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == sys.executable


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


def test_every_installed_distribution_is_pinned_in_the_lock_file():
    lock = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", line.strip())
        if match:
            lock[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    # Only what is installed in the venv's site-packages: setuptools' vendored
    # copies (put on sys.path by pkg_resources) are not installations.
    site_packages = sysconfig.get_paths()["purelib"]
    installed = {
        re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower(): dist.version
        for dist in importlib.metadata.distributions(path=[site_packages])
    }
    installed.pop("odweights")
    assert installed == lock


def test_the_pinned_stack_is_the_one_documented():
    import apache_beam
    import google.protobuf
    import tfx
    import tfx.v1  # noqa: F401 (fails with a Beam that no longer installs dill)

    assert tfx.__version__ == "1.16.0"
    assert apache_beam.__version__.startswith("2.60.")
    assert google.protobuf.__version__ == "3.20.3"
    assert importlib.metadata.version("kfp-pipeline-spec") == "0.2.2"


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
    assert "make test" in (ROOT / "README.md").read_text()
