"""Checks of the input and output folders of `odweights run`, before anything heavy
is loaded: a wrong folder is exit 2 within a second (see docs/run.md).

Only local folders are checked; other file systems are read by the pipeline.
"""

import os
from collections.abc import Sequence

from odweights.components.voc_example_gen.split_names import IMAGE_SETS
from odweights.errors import InvalidOptionsError


def _is_local(path: str) -> bool:
    return "://" not in path


def check_output_dir(voc_dir: str, output_dir: str) -> None:
    """Refuses an output folder inside the input folder (or the input folder itself):
    the run's own files would become part of the input, so every run would miss the
    cache and `audit --verify` would fail after a successful run."""
    if not (_is_local(voc_dir) and _is_local(output_dir)):
        return
    voc = os.path.realpath(voc_dir)
    out = os.path.realpath(output_dir)
    if out == voc or out.startswith(voc.rstrip(os.sep) + os.sep):
        raise InvalidOptionsError(
            f"--output-dir {output_dir} is inside --voc-dir {voc_dir}: the run would write "
            "into its own input; choose an output folder outside the dataset"
        )


def _year_folders(voc_dir: str) -> list[str]:
    if os.path.isdir(os.path.join(voc_dir, IMAGE_SETS)):
        return [voc_dir]
    return sorted(
        os.path.join(voc_dir, name)
        for name in os.listdir(voc_dir)
        if os.path.isdir(os.path.join(voc_dir, name, IMAGE_SETS))
    )


def _lists_an_id(path: str) -> bool:
    with open(path, "rb") as file:
        return any(line.strip() for line in file)


def check_split_files(voc_dir: str, splits: Sequence[str]) -> None:
    """Refuses a chosen split whose ImageSets/Main/<split>.txt files list no image id."""
    if not (_is_local(voc_dir) and os.path.isdir(voc_dir)):
        return
    for split in splits:
        files = [
            path
            for path in (
                os.path.join(root, IMAGE_SETS, f"{split}.txt") for root in _year_folders(voc_dir)
            )
            if os.path.isfile(path)
        ]
        if files and not any(_lists_an_id(path) for path in files):
            others = [name for name in splits if name != split]
            hint = (
                f"leave it out: --splits {','.join(others)}"
                if others
                else "list image ids in it, or choose another split with --splits"
            )
            raise InvalidOptionsError(
                f"split {split!r}: {', '.join(files)} list(s) no image id; {hint}"
            )
