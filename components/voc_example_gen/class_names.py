"""Class names that differ only in letter case: found, explained, and resolved.

"Car" in a few files and "car" everywhere else would otherwise become two
classes, the typo one with a large weight and its own id (see docs/ingest.md).
Names are compared stripped and case-folded. The user resolves a group with
`merge_classes` (names mapped before anything else) or with their own label
map (objects of other spellings are then `unknown_class`, with a hint).
Free of TensorFlow, so that `odweights run` checks --merge-classes at once.
"""

from collections.abc import Iterable, Mapping, Sequence

from odweights.errors import InvalidOptionsError

MAX_FILES_SHOWN = 5


def folded(name: str) -> str:
    return name.strip().casefold()


def parse_merge_classes(text: str) -> dict[str, str]:
    """`Car=car,CAR=car` -> {'Car': 'car', 'CAR': 'car'}; raises InvalidOptionsError."""
    mapping: dict[str, str] = {}
    for item in (part for part in (text or "").split(",") if part.strip()):
        source, separator, target = (value.strip() for value in item.partition("="))
        if not separator or not source or not target:
            raise InvalidOptionsError(
                f"--merge-classes {item.strip()!r}: write NAME=TARGET pairs separated by "
                "commas, e.g. --merge-classes Car=car,CAR=car"
            )
        if source in mapping and mapping[source] != target:
            raise InvalidOptionsError(
                f"--merge-classes maps {source!r} to both {mapping[source]!r} and {target!r}"
            )
        mapping[source] = target
    mapping = {source: target for source, target in mapping.items() if source != target}
    chained = sorted(target for target in mapping.values() if target in mapping)
    if chained:
        raise InvalidOptionsError(
            f"--merge-classes: {chained[0]!r} is both merged into another class and the "
            f"target of a merge; map every spelling straight to the final name"
        )
    return mapping


def format_merge_classes(mapping: Mapping[str, str]) -> str:
    """The canonical text of a mapping (sorted), as recorded in ML Metadata."""
    return ",".join(f"{source}={target}" for source, target in sorted(mapping.items()))


def case_collisions(
    objects_by_name: Mapping[str, tuple[int, int, Sequence[str]]],
) -> list[list[dict]]:
    """Groups of names equal when case-folded: per group, every spelling with its object
    count, file count and first (up to MAX_FILES_SHOWN) annotation files, the most
    frequent first.

    `objects_by_name` is {name: (objects, annotation files, some of those files)}.
    """
    groups: dict[str, list[str]] = {}
    for name in objects_by_name:
        groups.setdefault(folded(name), []).append(name)
    result = []
    for key in sorted(groups):
        names = groups[key]
        if len(names) < 2:
            continue
        spellings = [
            dict(
                name=name,
                objects=int(objects_by_name[name][0]),
                num_files=int(objects_by_name[name][1]),
                files=sorted(objects_by_name[name][2])[:MAX_FILES_SHOWN],
            )
            for name in names
        ]
        spellings.sort(key=lambda spelling: (-spelling["objects"], spelling["name"]))
        result.append(spellings)
    return result


def collision_message(groups: Iterable[list[dict]]) -> str:
    """The exit-3 message: every group, each spelling's count, files of the minority ones,
    and both fixes."""
    lines = ["class names that differ only in letter case would become separate classes:"]
    merges = []
    for spellings in groups:
        majority = spellings[0]["name"]
        lines.append("  " + ", ".join(f"{s['name']!r} ({s['objects']} objects)" for s in spellings))
        for spelling in spellings[1:]:
            lines.append(
                f"    {spelling['name']!r} in {spelling['num_files']} file(s): "
                + ", ".join(spelling["files"])
                + (", ..." if spelling["num_files"] > len(spelling["files"]) else "")
            )
            merges.append(f"{spelling['name']}={majority}")
    lines.append("Fix 1: merge them, e.g. --merge-classes " + ",".join(merges))
    lines.append(
        "Fix 2: give a --label-map with the spelling to keep; objects of the other "
        "spellings are then rejected as unknown_class"
    )
    return "\n".join(lines)


def did_you_mean(name: str, label_map: Mapping[str, int]) -> str | None:
    """The label-map name equal to `name` when case-folded, if there is one."""
    matches = sorted(known for known in label_map if folded(known) == folded(name))
    return matches[0] if matches else None
