"""Split names a user may choose: checked without loading TensorFlow, so that
`odweights run` refuses a bad --splits within a second."""

import re
from collections.abc import Sequence

from odweights.errors import InvalidOptionsError

IMAGE_SETS = "ImageSets/Main"  # of a VOCdevkit year folder: <split>.txt files

_SPLIT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def check_split_names(splits: Sequence[str]) -> None:
    if isinstance(splits, str):
        raise InvalidOptionsError(f"splits must be a list of names, not the string {splits!r}")
    if not splits:
        raise InvalidOptionsError("splits: give at least one split name, e.g. ('train', 'val')")
    for name in splits:
        if not _SPLIT_NAME.match(name):
            raise InvalidOptionsError(f"split name {name!r}: use letters, digits, '_' and '-' only")
    if len(set(splits)) != len(splits):
        raise InvalidOptionsError(f"splits: a name is given twice in {list(splits)}")
