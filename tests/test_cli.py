"""The `odweights` command line: help, version, and options refused before any pipeline runs."""

import subprocess
import sys
import time

import pytest

import odweights
from odweights import errors
from odweights.app import cli

SUBCOMMANDS = ("sample-data", "run", "compile-kubeflow", "audit", "report")


def test_version_from_the_installed_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "odweights.app.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"odweights {odweights.__version__}"


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main([command, "--help"])
    assert stopped.value.code == 0
    assert f"usage: odweights {command}" in capsys.readouterr().out


def test_run_help_lists_every_contract_flag(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    text = capsys.readouterr().out
    for flag in (
        "--voc-dir",
        "--output-dir",
        "--label-map",
        "--splits",
        "--method",
        "--beta",
        "--rfs-threshold",
        "--min-weight",
        "--class-weights",
        "--shards",
        "--resample",
        "--strict",
        "--max-rejected-fraction",
        "--orchestrator",
        "--beam-arg",
        "--default-weight",
        "--rfs-rounding",
        "--seed",
        "--drop-difficult",
        "--exif-policy",
        "--clip-tolerance",
        "--reencode-unsupported",
        "--normalize",
        "--max-weight",
        "--keep-weights",
        "--keep-partial-images",
        "--merge-classes",
        "--exif-frame",
    ):
        assert flag in text, flag


@pytest.fixture
def voc_dir(tmp_path):
    """Option checks come before the dataset is read: an empty folder is enough."""
    folder = tmp_path / "voc"
    folder.mkdir()
    return str(folder)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--beta", "1.5"], "beta must be a number in [0, 1)"),
        (["--method", "manual"], "method 'manual' needs class weights"),
        (["--class-weights", "cat"], "'cat' is not NAME=WEIGHT"),
        (["--class-weights", "cat=0"], "class weights must be positive"),
        (["--class-weights", "cat=2", "--max-weight", "1.5"], "bound to [None, 1.5]; got: cat=2.0"),
        (["--default-weight", "0.5"], "default_weight applies to method 'manual' only"),
        (["--min-weight", "0"], "min_weight must be a positive number"),
        (["--max-weight", "-1"], "max_weight must be a positive number"),
        (
            ["--min-weight", "0.5", "--max-weight", "0.2", "--normalize", "none"],
            "min_weight 0.5 is above max_weight 0.2",
        ),
        (["--max-weight", "0.5"], "max_weight 0.5 is below 1"),
        (["--min-weight", "1.5", "--normalize", "mean"], "min_weight 1.5 is above 1"),
        (["--keep-weights"], "keep_weights (--keep-weights) applies only with resample rfs"),
        (["--rfs-threshold", "0"], "rfs_threshold must be a number in (0, 1]"),
        (["--max-rejected-fraction", "1.5"], "max rejected fraction must be a number in [0, 1]"),
        (["--clip-tolerance", "-1"], "clip tolerance must be a number in [0, 1)"),
        (["--shards", "-1"], "num_shards (--shards) must be an integer from 0"),
        (["--splits", "train,"], "give split names separated by commas"),
        (["--splits", "train,train"], "a name is given twice"),
        (["--splits", "train,../val"], "use letters, digits"),
        (["--beam-arg=runner=DirectRunner"], "Beam arguments must look like --name=value"),
        (["--merge-classes", "Car"], "write NAME=TARGET pairs"),
        (["--merge-classes", "a=b,b=c"], "'b' is both merged into another class"),
    ],
)
def test_invalid_options_exit_2_at_once_with_a_hint(flags, message, voc_dir, tmp_path, capsys):
    started = time.monotonic()
    code = cli.main(["run", "--voc-dir", voc_dir, "--output-dir", str(tmp_path / "out")] + flags)
    assert code == errors.EXIT_INVALID_OPTIONS
    assert message in capsys.readouterr().err
    assert time.monotonic() - started < 5
    assert not (tmp_path / "out").exists()


def test_missing_voc_dir_exits_2(tmp_path, capsys):
    code = cli.main(
        ["run", "--voc-dir", str(tmp_path / "nope"), "--output-dir", str(tmp_path / "out")]
    )
    assert code == errors.EXIT_INVALID_OPTIONS
    assert "no such folder" in capsys.readouterr().err


def test_unreadable_or_invalid_label_map_exits_2(voc_dir, tmp_path, capsys):
    base = ["run", "--voc-dir", voc_dir, "--output-dir", str(tmp_path / "out")]
    assert cli.main(base + ["--label-map", str(tmp_path / "missing.pbtxt")]) == 2
    assert "cannot read it" in capsys.readouterr().err
    bad = tmp_path / "bad.pbtxt"
    bad.write_text("item { id: 0 name: 'cat' }\n")
    assert cli.main(base + ["--label-map", str(bad)]) == 2
    assert "ids start at 1" in capsys.readouterr().err


def test_argparse_errors_are_exit_2(voc_dir, tmp_path):
    with pytest.raises(SystemExit) as stopped:
        cli.main(
            [
                "run",
                "--voc-dir",
                voc_dir,
                "--output-dir",
                str(tmp_path),
                "--orchestrator",
                "airflow",
            ]
        )
    assert stopped.value.code == errors.EXIT_INVALID_OPTIONS


def test_beam_arg_value_may_follow_as_its_own_word(voc_dir, tmp_path, capsys):
    base = ["run", "--voc-dir", voc_dir, "--output-dir", str(tmp_path / "out")]
    # Parsed as a Beam argument (not an unknown option): the later option check is reached.
    assert cli.main(base + ["--beam-arg", "--runner=DirectRunner", "--beta", "1.5"]) == 2
    assert "beta must be a number in [0, 1)" in capsys.readouterr().err
    assert cli.main(base + ["--beam-arg", "runner=DirectRunner"]) == 2
    assert "Beam arguments must look like --name=value" in capsys.readouterr().err
