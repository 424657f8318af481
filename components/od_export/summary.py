"""Totals of an exported split (summary.json), summed exactly in any order.

Weighted object counts are sums of float32 weights. Floating-point addition
depends on the order, and Beam's order is not fixed, so the weights are summed
as exact integers (units of 2**-149, the smallest float32 step) and rounded
once at the end: the same records always give the same summary.json.
"""

import collections
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction

_FLOAT32_UNIT_EXPONENT = 149
_DECIMALS = 6


def exact_units(weight: float) -> int:
    """`weight` as an exact integer number of 2**-149 units (any float32 value fits)."""
    numerator, denominator = float(weight).as_integer_ratio()
    scale, remainder = divmod(1 << _FLOAT32_UNIT_EXPONENT, denominator)
    if remainder:
        raise ValueError(f"{weight!r} is finer than the smallest float32 step")
    return numerator * scale


def _rounded(units: int) -> float:
    return round(float(Fraction(units, 1 << _FLOAT32_UNIT_EXPONENT)), _DECIMALS)


_CLASS_FIELDS = (
    "images",
    "objects",
    "weighted_units",
    "records",
    "objects_written",
    "weighted_units_written",
)


class SplitTotals:
    """Running totals of one split; `add_image` per source image, `merge` across workers."""

    def __init__(self):
        self.images = 0
        self.background_images = 0
        self.records = 0
        self.objects = 0
        self.max_boxes = 0  # the most boxes of one image: input_reader.config needs it
        self.weighted_units = 0
        self.copies = collections.Counter()
        self.classes: dict[str, list[int]] = {}

    def add_image(self, class_texts: Sequence[str], weights: Sequence[float], copies: int) -> None:
        self.images += 1
        self.records += copies
        self.copies[copies] += 1
        if not class_texts:
            self.background_images += 1
        self.objects += len(class_texts)
        self.max_boxes = max(self.max_boxes, len(class_texts))
        per_class = collections.defaultdict(lambda: [0, 0])
        for name, weight in zip(class_texts, weights, strict=True):
            units = exact_units(weight)
            self.weighted_units += units
            per_class[name][0] += 1
            per_class[name][1] += units
        for name, (objects, units) in per_class.items():
            row = self.classes.setdefault(name, [0] * len(_CLASS_FIELDS))
            for index, value in enumerate(
                (1, objects, units, copies, objects * copies, units * copies)
            ):
                row[index] += value

    def merge(self, other: "SplitTotals") -> "SplitTotals":
        self.images += other.images
        self.background_images += other.background_images
        self.records += other.records
        self.objects += other.objects
        self.max_boxes = max(self.max_boxes, other.max_boxes)
        self.weighted_units += other.weighted_units
        self.copies.update(other.copies)
        for name, values in other.classes.items():
            row = self.classes.setdefault(name, [0] * len(_CLASS_FIELDS))
            for index, value in enumerate(values):
                row[index] += value
        return self

    def to_json(self, class_names: Iterable[str]) -> dict:
        """The split's entry of summary.json; every class listed (zeros included)."""
        classes = {}
        for name in sorted(set(class_names) | set(self.classes)):
            row = dict(
                zip(_CLASS_FIELDS, self.classes.get(name, [0] * len(_CLASS_FIELDS)), strict=True)
            )
            classes[name] = {
                "images": row["images"],
                "objects": row["objects"],
                "weighted_objects": _rounded(row["weighted_units"]),
                "records": row["records"],
                "objects_written": row["objects_written"],
                "weighted_objects_written": _rounded(row["weighted_units_written"]),
            }
        return {
            "images": self.images,
            "background_images": self.background_images,
            "objects": self.objects,
            "max_boxes_per_image": self.max_boxes,
            "weighted_objects": _rounded(self.weighted_units),
            "records": self.records,
            "images_by_copies": {
                str(count): images for count, images in sorted(self.copies.items())
            },
            "classes": classes,
        }


def summary_document(
    splits: Mapping[str, dict],
    num_shards: Mapping[str, int],
    training_split: str,
    resample: Mapping[str, object],
    weights: Mapping[str, object],
    ingest_totals: Mapping[str, object],
) -> dict:
    """summary.json: per split and class totals, the options, the ingest rejections."""
    return {
        "status": "complete",
        "splits": {
            split: {**totals, "num_shards": num_shards[split]}
            for split, totals in sorted(splits.items())
        },
        "training_split": training_split,
        "resample": dict(resample),
        "weights": dict(weights),
        # the largest label-map id: the OD API's num_classes
        "num_classes": ingest_totals.get("num_classes"),
        "rejections": _rejections(ingest_totals),
        "merge_classes": dict(ingest_totals.get("merge_classes") or {}),
        "warnings": [
            f"split {split!r} has no examples: every image of it was rejected (see rejected.jsonl)"
            for split in ingest_totals.get("empty_splits") or []
        ],
    }


def _rejections(ingest_totals: Mapping[str, object]) -> dict:
    return {
        "images": ingest_totals.get("images_rejected"),
        "objects": ingest_totals.get("objects_rejected"),
        "by_reason": dict(ingest_totals.get("rejected_by_reason") or {}),
        # exported without objects dropped on purpose (unknown_class, difficult)
        "images_with_dropped_objects": ingest_totals.get("images_with_dropped_objects"),
        "classes_without_exported_boxes": list(
            ingest_totals.get("classes_without_exported_boxes") or []
        ),
    }


def stopped_summary_document(ingest_totals: Mapping[str, object], message: str) -> dict:
    """summary.json of a run the VOC ExampleGen stopped: why, and what it rejected."""
    return {
        "status": "stopped",
        "stopped_by": "VocExampleGen",
        "message": message,
        "splits": {
            split: dict(counters)
            for split, counters in sorted(dict(ingest_totals.get("per_split") or {}).items())
        },
        "rejections": _rejections(ingest_totals),
        "merge_classes": dict(ingest_totals.get("merge_classes") or {}),
        "class_name_collisions": list(ingest_totals.get("class_name_collisions") or []),
    }
