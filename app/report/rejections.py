"""The rejections of a run, streamed from rejected.jsonl with bounded memory.

Counts every reason found (no list of reasons is assumed: new reasons show
up as they are), and keeps the first MAX_EXAMPLES records of each reason.
rejected.jsonl is sorted by (split, image id, object index), so the records
of one image are adjacent: for each kept example, the image's other rejected
objects are kept too, to draw every rejected box of the image in its colour.
"""

import dataclasses
import itertools
import json
import math
from collections.abc import Iterable, Iterator

from odweights.app.report import sources, thumbnails
from odweights.app.report.records import Shown

MAX_EXAMPLES = 12
"""Examples shown per reason."""
_MAX_DETAIL = 300


@dataclasses.dataclass
class RejectedImage:
    """The rejection records of one image (split, image id, XML file)."""

    split: str
    image_id: str
    file: str
    image_reasons: list[tuple[str, str]]  # (reason, detail) of whole-image records
    object_reasons: dict[int, tuple[str, str]]  # object index -> (reason, detail)


@dataclasses.dataclass
class Rejections:
    counts: dict[str, int]
    examples: dict[str, list[tuple[dict, RejectedImage]]]  # reason -> (record, its image)


def read_lines(path: str) -> Iterator[dict]:
    """The records of a rejected.jsonl, one at a time (blank lines skipped)."""
    with open(path, encoding="utf-8") as file:
        for line in file:
            if line.strip():
                yield json.loads(line)


def collect(records: Iterable[dict]) -> Rejections:
    """Counts per reason and up to MAX_EXAMPLES examples each, in one pass."""
    counts: dict[str, int] = {}
    examples: dict[str, list[tuple[dict, RejectedImage]]] = {}
    for (split, image_id, file), group in itertools.groupby(
        records, key=lambda r: (r.get("split"), r.get("image_id"), r.get("file"))
    ):
        image = RejectedImage(split or "", image_id or "", file or "", [], {})
        for record in group:
            reason = record.get("reason", "")
            counts[reason] = counts.get(reason, 0) + 1
            detail = str(record.get("detail", ""))[:_MAX_DETAIL]
            if record.get("object_index") is None:
                image.image_reasons.append((reason, detail))
            else:
                image.object_reasons[int(record["object_index"])] = (reason, detail)
            if len(examples.setdefault(reason, [])) < MAX_EXAMPLES:
                examples[reason].append((record, image))
    return Rejections(dict(sorted(counts.items())), dict(sorted(examples.items())))


def _number(text) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def _boxes(image: RejectedImage, annotation, width: int, height: int) -> list[thumbnails.Box]:
    """Every box of the XML, normalised by the image's own size (as the ingest does):
    rejected ones red with their reason, the others green with their class."""
    boxes = []
    for index, obj in enumerate(annotation.objects):
        xmin, ymin, xmax, ymax = (_number(v) for v in (obj.box or (None,) * 4))
        normalised = (xmin / width, ymin / height, xmax / width, ymax / height)
        rejected = image.object_reasons.get(index)
        if rejected:
            label, colour = f"{index}: {rejected[0]}", thumbnails.REJECTED
        else:
            label, colour = obj.name, thumbnails.KEPT
        boxes.append(thumbnails.Box(*normalised, label=label, colour=colour))
    return boxes


def show(record: dict, image: RejectedImage, input_base: str, budget: thumbnails.Budget) -> Shown:
    """The example of one rejection: the image with every box drawn, or why there is none."""
    index = record.get("object_index")
    lines = [
        image.file or "(no file)",
        f"{record.get('reason')}"
        + ("" if index is None else f" (object {index})")
        + f": {str(record.get('detail', ''))[:_MAX_DETAIL]}",
    ]
    annotation, data, problem = sources.rejected_files(input_base, image.file)
    decoded = thumbnails.decode(data) if data is not None else None
    if decoded is None:
        lines.append(problem or "the image cannot be decoded")
        return Shown(None, f"{image.split} / {image.image_id}", lines)
    boxes = _boxes(image, annotation, decoded.width, decoded.height)
    undrawn = [b.label for b in boxes if not all(math.isfinite(v) for v in b[:4])]
    if undrawn:
        lines.append("not drawn (no usable coordinates): " + ", ".join(undrawn))
    thumbnail = budget.render(decoded.image, boxes)
    if thumbnail is None:
        lines.append(thumbnails.OVER_BUDGET)
    return Shown(thumbnail, f"{image.split} / {image.image_id}", lines)
