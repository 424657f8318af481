"""The VOC files behind a rejection record or an exported example, for drawing them.

Rejection records name their XML relative to the input folder; exported
examples name their image/source_id (`VOC2007/000005` in a VOCdevkit,
the XML path without `.xml` in a flat folder). Reading them is best effort:
a file that cannot be read is shown as missing, never an error, because the
report describes a run whose input may have changed since.
"""

import posixpath
from collections.abc import Iterator

from odweights.components.voc_example_gen.annotation import (
    Annotation,
    AnnotationError,
    parse_annotation,
    resolve_image_path,
)
from odweights.components.voc_example_gen.layout import ANNOTATIONS, JPEG_IMAGES
from odweights.fileio import read_bytes


def read_optional(path: str) -> bytes | None:
    """The file's bytes, or None when it cannot be read."""
    import tensorflow as tf  # only for remote files, through odweights.fileio

    try:
        return read_bytes(path)
    except (OSError, tf.errors.OpError):
        return None


def image_root(annotation_path: str) -> str:
    """The folder a <filename> is relative to: JPEGImages/ beside Annotations/, else the XML's."""
    folder = posixpath.dirname(annotation_path)
    if posixpath.basename(folder) == ANNOTATIONS:
        return posixpath.join(posixpath.dirname(folder), JPEG_IMAGES)
    return folder


def _source_id_annotations(input_base: str, source_id: str) -> Iterator[str]:
    """Where the XML of an exported example can be, most likely first."""
    year, _, image_id = source_id.partition("/")
    base = input_base.rstrip("/")
    if image_id:
        yield posixpath.join(base, year, ANNOTATIONS, image_id + ".xml")
        if posixpath.basename(base) == year:
            yield posixpath.join(base, ANNOTATIONS, image_id + ".xml")
    yield posixpath.join(base, source_id + ".xml")


def annotation_of_source_id(input_base: str, source_id: str) -> Annotation | None:
    """The parsed XML of an exported example, or None when it cannot be found or read."""
    for path in _source_id_annotations(input_base, source_id):
        data = read_optional(path)
        if data is not None:
            try:
                return parse_annotation(data)
            except AnnotationError:
                return None
    return None


def rejected_files(input_base: str, xml_file: str) -> tuple[Annotation | None, bytes | None, str]:
    """(parsed XML or None, image bytes or None, what could not be read) of a rejection record."""
    annotation_path = posixpath.join(input_base.rstrip("/"), xml_file)
    data = read_optional(annotation_path)
    if data is None:
        return None, None, f"{xml_file} cannot be read"
    try:
        annotation = parse_annotation(data)
        image_path = resolve_image_path(image_root(annotation_path), annotation.filename)
    except AnnotationError as error:
        return None, None, f"{xml_file}: {error}"
    image = read_optional(image_path)
    if image is None:
        return annotation, None, f"{annotation.filename} cannot be read"
    return annotation, image, ""
