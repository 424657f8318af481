"""Rejection reasons, rejection records and the ingest totals.

Every listed annotation ends either in an output example or in exactly one
image-level rejection record; every object of an annotation that reached the
image checks ends either in its example or in one object-level record. The
totals are flat counters (summed in Beam) turned into `totals.json` here.
"""

import collections
import json
from collections.abc import Iterable, Mapping
from typing import NamedTuple

IMAGE = "image"
OBJECT = "object"

# reason -> (level, what it means). The README's table is generated from this.
REASONS: dict[str, tuple] = {
    "missing_annotation": (IMAGE, "an id listed in a split file has no Annotations/<id>.xml"),
    "duplicate_image_id": (
        IMAGE,
        "the id is listed twice in the chosen splits, or a second "
        "annotation names the same image file",
    ),
    "malformed_xml": (
        IMAGE,
        "not well-formed XML, root is not <annotation>, no <filename>, "
        "or a <size> that is not a number",
    ),
    "forbidden_xml": (
        IMAGE,
        "a DTD, entity declaration or external reference (entity bombs, "
        "XXE): refused by defusedxml",
    ),
    "path_outside_dataset": (IMAGE, "<filename> is absolute or resolves outside the image folder"),
    "missing_image": (IMAGE, "the image file named by <filename> cannot be read"),
    "corrupt_image": (
        IMAGE,
        "the image header cannot be read, or a JPEG without its EOI "
        "marker / a PNG without IEND (truncated file)",
    ),
    "unsupported_format": (
        IMAGE,
        "not JPEG or PNG (GIF, BMP, TIFF, WebP...); see reencode_unsupported",
    ),
    "size_mismatch": (IMAGE, "<size> disagrees with the image's own width/height"),
    "exif_orientation": (IMAGE, "EXIF orientation is not 1 and exif_policy='reject'"),
    "exif_frame_ambiguous": (
        IMAGE,
        "EXIF orientation is not 1 and <size> cannot tell the frame "
        "of the boxes (orientation 2-4, a square image, no <size>); "
        "see exif_frame",
    ),
    "has_rejected_object": (
        IMAGE,
        "one of its objects was rejected for a data error (its own "
        "record says which): the object is still in the pixels and "
        "would be learnt as background; see keep_partial_images",
    ),
    "empty_class_name": (OBJECT, "<name> is missing or blank"),
    "missing_box": (OBJECT, "no <bndbox> or one of xmin/ymin/xmax/ymax is missing"),
    "nan_coordinate": (OBJECT, "a coordinate is not a finite number (nan, inf, text)"),
    "inverted_box": (OBJECT, "xmax < xmin or ymax < ymin"),
    "box_outside_image": (
        OBJECT,
        "a coordinate lies outside the image by more than clip_tolerance",
    ),
    "zero_area_box": (OBJECT, "xmin == xmax or ymin == ymax (after clipping)"),
    "unknown_class": (OBJECT, "the class is not in the label map given by the user"),
    "difficult": (OBJECT, "difficult object dropped because drop_difficult=True"),
}

# Rejections the user asked for: recorded so the totals add up, but they do not
# count towards `strict` or `max_rejected_fraction`.
REQUESTED_DROPS = frozenset({"difficult"})

# Objects left out on purpose (a class outside the user's label map, a difficult
# object under drop_difficult): unlike data errors, they do not reject their image.
INTENTIONAL_OBJECT_DROPS = frozenset({"unknown_class", "difficult"})


class Rejection(NamedTuple):
    """One rejection record; `object_index` is None for a whole image."""

    file: str
    image_id: str
    split: str
    object_index: int | None
    reason: str
    detail: str

    def sort_key(self):
        return (
            self.split,
            self.image_id,
            -1 if self.object_index is None else self.object_index,
            self.reason,
            self.file,
            self.detail,
        )

    def to_json(self) -> str:
        return json.dumps(self._asdict(), sort_keys=True, ensure_ascii=False)


# ---- counters -------------------------------------------------------------
# Flat counter names, summed across the pipeline. `split/<name>/<counter>` and
# `reason/<reason>` are per-split and per-reason; `mode/<PIL mode>` counts
# the pixel modes of the kept images.
IMAGES_IN = "images_in"
EXAMPLES_OUT = "examples_out"
IMAGES_REJECTED = "images_rejected"
OBJECTS_IN = "objects_in"
OBJECTS_OUT = "objects_out"
OBJECTS_REJECTED = "objects_rejected"
OBJECTS_IN_REJECTED_IMAGES = "objects_in_rejected_images"
BOXES_CLIPPED = "boxes_clipped"
IMAGES_NOT_IN_SPLIT = "images_not_in_split"
ANNOTATION_FILES = "annotation_files"
ANNOTATIONS_LISTED = "annotations_listed"
REPEATED_LISTINGS = "repeated_listings"
EXIF_FIXED = "exif_fixed"
EXIF_FLAGGED = "exif_flagged"
REENCODED_TO_PNG = "reencoded_to_png"
SIZE_FROM_IMAGE = "size_from_image"
BACKGROUND_IMAGES = "background_images"
IMAGES_WITH_DROPPED_OBJECTS = "images_with_dropped_objects"
EXIF_TAG_REMOVED = "exif_tag_removed"
JPEG_TRAILING_DATA = "jpeg_trailing_data"

SPLIT_COUNTERS = (
    IMAGES_IN,
    EXAMPLES_OUT,
    IMAGES_REJECTED,
    OBJECTS_IN,
    OBJECTS_OUT,
    OBJECTS_REJECTED,
    OBJECTS_IN_REJECTED_IMAGES,
)
GLOBAL_COUNTERS = SPLIT_COUNTERS + (
    BOXES_CLIPPED,
    IMAGES_NOT_IN_SPLIT,
    ANNOTATION_FILES,
    ANNOTATIONS_LISTED,
    REPEATED_LISTINGS,
    EXIF_FIXED,
    EXIF_FLAGGED,
    REENCODED_TO_PNG,
    SIZE_FROM_IMAGE,
    BACKGROUND_IMAGES,
    IMAGES_WITH_DROPPED_OBJECTS,
    EXIF_TAG_REMOVED,
    JPEG_TRAILING_DATA,
)


class Counts(collections.Counter):
    """Counter that also books a value under its split."""

    def add(self, split: str, name: str, value: int = 1) -> None:
        if value:
            self[name] += value
            self[f"split/{split}/{name}"] += value

    def reject(self, record: Rejection, objects_in_image: int = 0) -> None:
        self[f"reason/{record.reason}"] += 1
        if record.object_index is None:
            self.add(record.split, IMAGES_REJECTED)
            self.add(record.split, OBJECTS_IN_REJECTED_IMAGES, objects_in_image)
        else:
            self.add(record.split, OBJECTS_REJECTED)


def make_totals(counts: Mapping[str, int], split_names: Iterable[str], num_classes: int) -> dict:
    """The `totals.json` document: every counter present, zeros included."""
    totals = {name: int(counts.get(name, 0)) for name in GLOBAL_COUNTERS}
    totals["rejected_by_reason"] = {
        reason: int(counts.get(f"reason/{reason}", 0)) for reason in sorted(REASONS)
    }
    totals["per_split"] = {
        split: {name: int(counts.get(f"split/{split}/{name}", 0)) for name in SPLIT_COUNTERS}
        for split in split_names
    }
    totals["image_modes"] = {
        key[len("mode/") :]: int(value)
        for key, value in sorted(counts.items())
        if key.startswith("mode/")
    }
    totals["label_map_classes"] = num_classes
    totals["rejected_fraction"] = rejected_fraction(totals)
    return totals


def rejected_fraction(totals: Mapping) -> float:
    """max(rejected images / images in, rejected objects / objects in), drops excluded."""
    by_reason = totals["rejected_by_reason"]
    dropped_images = sum(
        n for r, n in by_reason.items() if r in REQUESTED_DROPS and REASONS[r][0] == IMAGE
    )
    dropped_objects = sum(
        n for r, n in by_reason.items() if r in REQUESTED_DROPS and REASONS[r][0] == OBJECT
    )
    image_fraction = (
        (totals[IMAGES_REJECTED] - dropped_images) / totals[IMAGES_IN] if totals[IMAGES_IN] else 0.0
    )
    object_fraction = (
        (totals[OBJECTS_REJECTED] - dropped_objects) / totals[OBJECTS_IN]
        if totals[OBJECTS_IN]
        else 0.0
    )
    return round(max(image_fraction, object_fraction), 6)


def invariant_violations(totals: Mapping, num_records: int) -> list[str]:
    """The identities the totals must satisfy; an empty list when they hold."""
    problems = []

    def check(label, left, right):
        if left != right:
            problems.append(f"{label}: {left} != {right}")

    check(
        "images_in == examples_out + images_rejected",
        totals[IMAGES_IN],
        totals[EXAMPLES_OUT] + totals[IMAGES_REJECTED],
    )
    check(
        "objects_in == objects_out + objects_rejected + objects_in_rejected_images",
        totals[OBJECTS_IN],
        totals[OBJECTS_OUT] + totals[OBJECTS_REJECTED] + totals[OBJECTS_IN_REJECTED_IMAGES],
    )
    by_reason = totals["rejected_by_reason"]
    check(
        "images_rejected == sum of image-level reasons",
        totals[IMAGES_REJECTED],
        sum(n for r, n in by_reason.items() if REASONS[r][0] == IMAGE),
    )
    check(
        "objects_rejected == sum of object-level reasons",
        totals[OBJECTS_REJECTED],
        sum(n for r, n in by_reason.items() if REASONS[r][0] == OBJECT),
    )
    check(
        "annotation_files == annotations_listed + images_not_in_split",
        totals[ANNOTATION_FILES],
        totals[ANNOTATIONS_LISTED] + totals[IMAGES_NOT_IN_SPLIT],
    )
    check(
        "images_in == annotations_listed + missing_annotation + repeated_listings",
        totals[IMAGES_IN],
        totals[ANNOTATIONS_LISTED] + by_reason["missing_annotation"] + totals[REPEATED_LISTINGS],
    )
    check(
        "records in rejected.jsonl == images_rejected + objects_rejected",
        num_records,
        totals[IMAGES_REJECTED] + totals[OBJECTS_REJECTED],
    )
    for name in SPLIT_COUNTERS:
        check(
            f"{name} == sum over splits",
            totals[name],
            sum(split[name] for split in totals["per_split"].values()),
        )
    return problems
