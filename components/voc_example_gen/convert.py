"""One annotation to one OD API tf.Example: the per-image work, free of Beam.

`parse_entry` reads and parses the XML (and finds the image); `convert_entry`
reads the image, checks it and the boxes, and builds the serialised example.
The executor runs both inside Beam; each returns the rejection records and
adds to the counters it is given (one per bundle, cheaper than one per image),
so nothing is dropped without a record.
"""

import hashlib
from typing import NamedTuple

import tensorflow as tf

from odweights import features
from odweights.components.voc_example_gen import rejections as rj
from odweights.components.voc_example_gen.annotation import (
    Annotation,
    AnnotationError,
    parse_annotation,
    resolve_image_path,
)
from odweights.components.voc_example_gen.boxes import BoxRejected, normalise_box
from odweights.components.voc_example_gen.class_names import did_you_mean
from odweights.components.voc_example_gen.image_check import ImageRejected, check_image
from odweights.components.voc_example_gen.ingest_options import (
    DEFAULT_CLIP_TOLERANCE,
    DEFAULT_EXIF_POLICY,
)
from odweights.fileio import read_bytes


class Entry(NamedTuple):
    """One annotation listed for one split."""

    split: str
    source_id: str  # image/source_id, e.g. 'VOC2007/000005'
    annotation_path: str
    image_root: str  # the folder <filename> is relative to
    split_rank: int  # position of the split in the configured order


class ParsedEntry(NamedTuple):
    entry: Entry
    image_path: str
    annotation: Annotation


class Options(NamedTuple):
    input_base: str
    clip_tolerance: float = DEFAULT_CLIP_TOLERANCE
    drop_difficult: bool = False
    exif_policy: str = DEFAULT_EXIF_POLICY
    reencode_unsupported: bool = False
    keep_partial_images: bool = False
    exif_frame: str = ""  # 'stored' | 'displayed' | '': where <size> cannot tell
    merge_classes: tuple[tuple[str, str], ...] = ()  # (name, merged name), applied first


def relative_path(path: str, base: str) -> str:
    prefix = base.rstrip("/") + "/"
    return path[len(prefix) :] if path.startswith(prefix) else path


def image_rejection(entry: Entry, options: Options, reason: str, detail: str) -> rj.Rejection:
    return rj.Rejection(
        relative_path(entry.annotation_path, options.input_base),
        entry.source_id,
        entry.split,
        None,
        reason,
        detail,
    )


def parse_entry(
    entry: Entry, options: Options, counts: rj.Counts
) -> tuple[ParsedEntry | None, list[rj.Rejection]]:
    """Reads and parses the annotation, merging class names (merge_classes); counts its
    objects as `objects_in`."""
    try:
        annotation = parse_annotation(read_bytes(entry.annotation_path))
        image_path = resolve_image_path(entry.image_root, annotation.filename)
    except AnnotationError as error:
        record = image_rejection(entry, options, error.reason, error.detail)
        counts.reject(record)
        return None, [record]
    except OSError as error:  # listed but unreadable (permissions, vanished)
        record = image_rejection(entry, options, "missing_annotation", str(error))
        counts.reject(record)
        return None, [record]
    counts.add(entry.split, rj.OBJECTS_IN, len(annotation.objects))
    if options.merge_classes:
        merged = dict(options.merge_classes)
        annotation = annotation._replace(
            objects=[
                obj._replace(name=merged.get(obj.name, obj.name)) for obj in annotation.objects
            ]
        )
    return ParsedEntry(entry, image_path, annotation), []


def convert_entry(
    parsed: ParsedEntry,
    label_map: dict[str, int],
    user_label_map: bool,
    options: Options,
    counts: rj.Counts,
) -> tuple[bytes | None, list[rj.Rejection]]:
    """Image checks, box checks, label ids: (serialised example | None, records)."""
    entry, annotation = parsed.entry, parsed.annotation

    def reject_image(reason: str, detail: str):
        record = image_rejection(entry, options, reason, detail)
        counts.reject(record, objects_in_image=len(annotation.objects))
        return None, [record]

    try:
        data = read_bytes(parsed.image_path)
    except OSError as error:
        return reject_image("missing_image", f"{parsed.image_path}: {error.strerror or error}")
    annotated_size = (annotation.width, annotation.height) if annotation.width else None
    image = check_image(
        data,
        options.exif_policy,
        options.reencode_unsupported,
        annotated_size,
        options.exif_frame or None,
    )
    if isinstance(image, ImageRejected):
        return reject_image(image.reason, image.detail)
    if annotation.width is None:
        counts[rj.SIZE_FROM_IMAGE] += 1
    elif (annotation.width, annotation.height) != (image.width, image.height):
        hint = (
            f" (EXIF orientation is {image.exif_orientation})"
            if image.exif_orientation != 1
            else ""
        )
        return reject_image(
            "size_mismatch",
            f"<size> says {annotation.width}x{annotation.height}, the image is "
            f"{image.width}x{image.height}{hint}",
        )

    records: list[rj.Rejection] = []
    kept = []
    annotation_file = relative_path(entry.annotation_path, options.input_base)
    for index, obj in enumerate(annotation.objects):
        box = normalise_box(obj.box, image.width, image.height, options.clip_tolerance)
        if not obj.name:
            rejected = BoxRejected("empty_class_name", "<name> is missing or blank")
        elif isinstance(box, BoxRejected):
            rejected = box
        elif obj.name not in label_map:
            rejected = BoxRejected(
                "unknown_class", _unknown_class_detail(obj.name, label_map, user_label_map)
            )
        elif obj.difficult and options.drop_difficult:
            rejected = BoxRejected("difficult", "dropped: drop_difficult=True")
        else:
            rejected = None
        if rejected is not None:
            record = rj.Rejection(
                annotation_file,
                entry.source_id,
                entry.split,
                index,
                rejected.reason,
                rejected.detail,
            )
            counts.reject(record)
            records.append(record)
        else:
            kept.append((obj, box))
    data_errors = [r for r in records if r.reason not in rj.INTENTIONAL_OBJECT_DROPS]
    if data_errors and not options.keep_partial_images:
        # the rejected objects are still in the pixels: exported without them, the image
        # would teach the detector that they are background
        record = image_rejection(
            entry,
            options,
            "has_rejected_object",
            "object(s) "
            + ", ".join(f"{r.object_index} ({r.reason})" for r in data_errors)
            + " rejected; keep_partial_images exports the image without them",
        )
        counts.reject(record, objects_in_image=len(kept))
        return None, records + [record]

    example = tf.train.Example()
    feature = example.features.feature
    feature[features.HEIGHT].int64_list.value.append(image.height)
    feature[features.WIDTH].int64_list.value.append(image.width)
    feature[features.FILENAME].bytes_list.value.append(annotation.filename.encode("utf-8"))
    feature[features.SOURCE_ID].bytes_list.value.append(entry.source_id.encode("utf-8"))
    feature[features.KEY_SHA256].bytes_list.value.append(
        hashlib.sha256(image.encoded).hexdigest().encode("ascii")
    )
    feature[features.ENCODED].bytes_list.value.append(image.encoded)
    feature[features.FORMAT].bytes_list.value.append(image.format.encode("ascii"))
    # every per-box key is present, empty lists for background images
    feature[features.BBOX_XMIN].float_list.value.extend([box.xmin for _, box in kept])
    feature[features.BBOX_XMAX].float_list.value.extend([box.xmax for _, box in kept])
    feature[features.BBOX_YMIN].float_list.value.extend([box.ymin for _, box in kept])
    feature[features.BBOX_YMAX].float_list.value.extend([box.ymax for _, box in kept])
    feature[features.CLASS_TEXT].bytes_list.value.extend(
        [obj.name.encode("utf-8") for obj, _ in kept]
    )
    feature[features.CLASS_LABEL].int64_list.value.extend([label_map[obj.name] for obj, _ in kept])
    feature[features.DIFFICULT].int64_list.value.extend([obj.difficult for obj, _ in kept])
    feature[features.TRUNCATED].int64_list.value.extend([obj.truncated for obj, _ in kept])
    feature[features.VIEW].bytes_list.value.extend([obj.pose.encode("utf-8") for obj, _ in kept])
    classes_in_image = [name.encode("utf-8") for name in sorted({obj.name for obj, _ in kept})]
    feature[features.CLASSES_IN_IMAGE].bytes_list.value.extend(classes_in_image)
    feature[features.OBJECTS_IN_IMAGES_WITH_CLASS].bytes_list.value.extend(
        [name for name in classes_in_image for _ in range(len(kept))]
    )

    counts.add(entry.split, rj.EXAMPLES_OUT)
    counts.add(entry.split, rj.OBJECTS_OUT, len(kept))
    counts[rj.EXIF_FIXED] += int(image.exif_fixed)
    counts[rj.EXIF_FLAGGED] += int(
        image.exif_orientation != 1 and not image.exif_fixed and not image.exif_tag_removed
    )
    counts[rj.EXIF_TAG_REMOVED] += int(image.exif_tag_removed)
    counts[rj.JPEG_TRAILING_DATA] += int(image.trailing_data)
    counts[rj.REENCODED_TO_PNG] += int(image.reencoded_to_png)
    counts[rj.BACKGROUND_IMAGES] += int(not kept)
    counts[rj.BOXES_CLIPPED] += sum(int(box.clipped) for _, box in kept)
    counts[rj.IMAGES_WITH_DROPPED_OBJECTS] += int(len(records) > len(data_errors))
    counts[f"mode/{image.mode}"] += 1
    return example.SerializeToString(deterministic=True), records


def _unknown_class_detail(name: str, label_map: dict[str, int], user_label_map: bool) -> str:
    if not user_label_map:
        return f"{name!r} is not in the label map (internal error: automatic label map)"
    suggestion = did_you_mean(name, label_map)
    return f"{name!r} is not in the label map" + (
        f"; did you mean {suggestion!r}" if suggestion else ""
    )
