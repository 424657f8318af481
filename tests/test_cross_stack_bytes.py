"""The same bytes on both stacks (docs/platforms.md): `odweights run` on the same
generated sample data exports files (records, label map, class weights, summary,
rejections, input reader config) whose sha256 digests equal the ones recorded in
tests/cross_stack_digests.json, on tfx 1.16 and on tfx 1.21 alike. The HTML report
shows the stack that made it, so it differs by design (DIFFERENT_BY_DESIGN); the
manifest is compared without the entries of files that differ by design or name the
export folder.

The digests are recorded on one stack and checked on the other (and on the recording
one). A change to what the export writes changes them on purpose: regenerate them
on both stacks with `make cross-stack-digests` (and
`scripts/in-trixie make cross-stack-digests STACK=tfx-1.21`), which runs this file
as a script; it refuses to overwrite digests that the other stack recorded unless
they agree.
"""

import argparse
import contextlib
import hashlib
import io
import json
import os
import pathlib
import sys
import tempfile

import pytest

pytestmark = pytest.mark.e2e

DIGESTS_FILE = pathlib.Path(__file__).resolve().parent / "cross_stack_digests.json"
# The sample data of `odweights sample-data` (real JPEG and PNG files, annotation-tool
# quirks included): small enough for a test, every export file non-trivial.
DATASET = {"num_images": 60, "seed": 0}
# input_reader.config names the export folder by its absolute path: hashed with
# that path replaced by this placeholder (and left out of the manifest's entries,
# whose sha256 and size of it depend on that path).
EXPORT_DIR_PLACEHOLDER = b"EXPORT_DIR"
NAMES_THE_EXPORT_DIR = ("input_reader.config",)
# Exported files that differ between stacks by design, with the reason: present,
# but not hashed (nor their manifest entries).
DIFFERENT_BY_DESIGN = {
    "report.html": "shows the stack that made the run (odweights.maker: Python, TFX, "
    "TensorFlow, Beam and protobuf versions, git commit)",
}
MANIFEST = "manifest.json"


def export_digests(work_dir: str) -> dict:
    """{export file name: sha256} of one `odweights run` on DATASET under work_dir."""
    from odweights.app import cli, sample_data  # pylint: disable=import-outside-toplevel

    sample_data.write_dataset(os.path.join(work_dir, "voc"), **DATASET)
    out = os.path.join(work_dir, "out")
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = cli.main(
            ["run", "--voc-dir", os.path.join(work_dir, "voc", "VOCdevkit"), "--output-dir", out]
        )
    assert code == 0, stderr.getvalue()[-5000:]
    export_dir = os.path.join(out, "export")
    names = sorted(os.listdir(export_dir))
    assert set(DIFFERENT_BY_DESIGN) <= set(names), names
    digests = {}
    for name in names:
        if name in DIFFERENT_BY_DESIGN:
            continue
        with open(os.path.join(export_dir, name), "rb") as file:
            data = file.read().replace(export_dir.encode(), EXPORT_DIR_PLACEHOLDER)
        if name == MANIFEST:
            manifest = json.loads(data)
            for left_out in (*DIFFERENT_BY_DESIGN, *NAMES_THE_EXPORT_DIR):
                manifest["files"].pop(left_out, None)
            data = json.dumps(manifest, indent=2, sort_keys=True).encode()
        digests[name] = hashlib.sha256(data).hexdigest()
    return digests


def this_stack() -> str:
    """`tfx-X.Y, Python A.B` of this interpreter, as recorded next to the digests."""
    import tfx  # pylint: disable=import-outside-toplevel

    return (
        f"tfx-{'.'.join(tfx.__version__.split('.')[:2])}, "
        f"Python {sys.version_info[0]}.{sys.version_info[1]}"
    )


def test_the_export_has_the_recorded_digests_on_this_stack(tmp_path):
    recorded = json.loads(DIGESTS_FILE.read_text())
    assert recorded["dataset"] == DATASET
    digests = export_digests(str(tmp_path))
    assert digests == recorded["files"], (
        f"export digests on {this_stack()} differ from those recorded on "
        f"{', '.join(recorded['recorded_on'])}; if the export changed on purpose, "
        "regenerate them on both stacks (see this file's docstring)"
    )


def main() -> int:
    """Records the digests of this stack: `--write` replaces the file when it has
    none yet or when this stack's digests equal the recorded ones (adding this stack
    to recorded_on); `--write --reset` starts over from this stack."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--reset", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work_dir:
        digests = export_digests(work_dir)
    stack = this_stack()
    recorded = json.loads(DIGESTS_FILE.read_text()) if DIGESTS_FILE.exists() else None
    if recorded and not args.reset and recorded.get("dataset") == DATASET:
        if recorded["files"] != digests:
            changed = sorted(
                name
                for name in set(digests) | set(recorded["files"])
                if digests.get(name) != recorded["files"].get(name)
            )
            print(
                f"{stack}: digests differ from those recorded on "
                f"{', '.join(recorded['recorded_on'])}: {changed}",
                file=sys.stderr,
            )
            if args.write:
                print(
                    "not written: run with --reset on one stack, then without on the other",
                    file=sys.stderr,
                )
            return 1
        stacks = sorted(set(recorded["recorded_on"]) | {stack})
    else:
        stacks = [stack]
    document = {"dataset": DATASET, "recorded_on": stacks, "files": digests}
    print(json.dumps(document, indent=2))
    if args.write:
        DIGESTS_FILE.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        print(f"wrote {DIGESTS_FILE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
