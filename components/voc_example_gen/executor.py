"""VOC ExampleGen executor: the Beam pipeline from listed files to examples.

Stages (all per-image work in Beam, nothing collected in one process; the
rejection records are sorted through bounded runs on disk, see
odweights.external_sort, and streamed into one file):
1. list: split files -> (year folder, id) listings; Annotations/*.xml of the
   same year folders; one GroupByKey finds missing annotations, ids listed
   twice and annotations listed in no chosen split, and the same DoFn parses
   the XML. Flat layout: the matched XML files, hash-split on their source id
   and parsed at once.
2. a GroupByKey on the image path rejects second annotations of one image
   (small records: the parsed XML, no image bytes).
3. label map: the user's, or ids 1..K over the sorted class names of the
   parsed annotations (a global combine used as a side input); the automatic
   one is written with only the classes that kept a box. The same combine
   counts objects per class name, to find names that differ only in case.
4. convert: one fused DoFn reads the image, checks it and the boxes, builds
   the serialised tf.Example and sends it to its split's output, which is
   written as it comes (uncompressed TFRecords, no shuffle: see Do).
Every DoFn sums its counters over a bundle and emits them once per bundle;
they are summed into totals.json. After the pipeline the totals become ML
Metadata properties and the rejection limits are enforced.
"""

import collections
import json
import posixpath
import uuid
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import tensorflow as tf
from apache_beam.transforms.window import GlobalWindows
from tfx.components.example_gen import base_example_gen_executor, write_split
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.util import examples_utils
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from odweights import external_sort
from odweights import label_map as label_map_lib
from odweights.artifact_files import REJECTED_FILE, TOTALS_FILE
from odweights.components.voc_example_gen import layout
from odweights.components.voc_example_gen import rejections as rj
from odweights.components.voc_example_gen.class_names import (
    MAX_FILES_SHOWN,
    case_collisions,
    collision_message,
    format_merge_classes,
    parse_merge_classes,
)
from odweights.components.voc_example_gen.convert import (
    Entry,
    Options,
    ParsedEntry,
    convert_entry,
    image_rejection,
    parse_entry,
    relative_path,
)
from odweights.components.voc_example_gen.driver import resolve_input_properties
from odweights.components.voc_example_gen.ingest_options import training_split
from odweights.errors import IngestStoppedError, OdWeightsError
from odweights.fileio import open_for_writing, read_bytes
from odweights.maker import record_maker
from odweights.tfrecord_crc import use_hardware_crc32c

use_hardware_crc32c()  # here, so that Beam workers that import this module use it too

LABEL_MAP_KEY = "label_map"
REPORT_KEY = "report"
LABEL_MAP_PARAM = "label_map_text"  # the output channel is "label_map"
STRICT_KEY = "strict"
MAX_REJECTED_FRACTION_KEY = "max_rejected_fraction"
CLIP_TOLERANCE_KEY = "clip_tolerance"
DROP_DIFFICULT_KEY = "drop_difficult"
EXIF_POLICY_KEY = "exif_policy"
REENCODE_UNSUPPORTED_KEY = "reencode_unsupported"
KEEP_PARTIAL_IMAGES_KEY = "keep_partial_images"
MERGE_CLASSES_KEY = "merge_classes"
EXIF_FRAME_KEY = "exif_frame"

TOTALS_PROPERTY = "ingest_totals"
# What the examples' TFRecord files hold, declared on the artifact.
COMPRESSION_PROPERTY = "compression"
UNCOMPRESSED = "UNCOMPRESSED"

_COUNTS = "counts"
_REJECTIONS = "rejections"
_LISTINGS = "listings"
_ROOTS = "roots"
_CLASS_NAMES = "class_names"
_EXPORTED_CLASSES = "exported_classes"
# tags of the values grouped by (year folder, id)
_LISTED = "listed"
_FILE = "file"


def _split_tag(index: int) -> str:
    return f"split_{index}"


class _CountingDoFn(beam.DoFn):
    """Sums its counters over a bundle and emits them once, at the end of the bundle:
    one counter object per image cost more than the counting."""

    def start_bundle(self):
        self._counts = rj.Counts()

    def finish_bundle(self):
        if self._counts:
            yield beam.pvalue.TaggedOutput(_COUNTS, GlobalWindows.windowed_value(self._counts))


class _ParsingDoFn(_CountingDoFn):
    """Parses the annotations of the entries it finds (the XML is read once, here)."""

    def __init__(self, options: Options):
        self._options = options

    def _parse(self, entry: Entry):
        parsed, records = parse_entry(entry, self._options, self._counts)
        if parsed is not None:
            yield parsed.image_path, parsed
        for record in records:
            yield beam.pvalue.TaggedOutput(_REJECTIONS, record)


class _ListEntries(_ParsingDoFn):
    """(split, rank, pattern root, matched file) -> devkit listings and year folders, or
    parsed flat entries."""

    def __init__(
        self, options: Options, split_config: example_gen_pb2.SplitConfig, split_names: list[str]
    ):
        super().__init__(options)
        self._split_config = split_config
        self._split_names = split_names

    def process(self, element):
        split, rank, root, path = element
        counts = self._counts
        if layout.is_split_file(path):
            year_root = layout.year_root_of_split_file(path)
            yield beam.pvalue.TaggedOutput(_ROOTS, year_root)
            for image_id in layout.split_file_ids(read_bytes(path).decode("utf-8")):
                counts.add(split, rj.IMAGES_IN)
                yield beam.pvalue.TaggedOutput(
                    _LISTINGS, ((year_root, image_id), (_LISTED, split, rank))
                )
        else:
            source_id = layout.flat_source_id(path, root)
            if self._split_config.splits:
                rank = layout.hash_split_index(source_id, self._split_config)
                split = self._split_names[rank]
            counts.add(split, rj.IMAGES_IN)
            counts[rj.ANNOTATION_FILES] += 1
            counts[rj.ANNOTATIONS_LISTED] += 1
            yield from self._parse(Entry(split, source_id, path, posixpath.dirname(path), rank))


def _annotation_files(year_root: str):
    pattern = posixpath.join(year_root, layout.ANNOTATIONS, "*.xml")
    for path in tf.io.gfile.glob(pattern):
        yield (year_root, posixpath.basename(path)[:-4]), (_FILE, path)


class _ResolveListings(_ParsingDoFn):
    """One (year folder, id): its listings against its annotation file; parses the kept one."""

    def process(self, element):
        (year_root, image_id), grouped = element
        listings = sorted(value[1:] for value in grouped if value[0] == _LISTED)  # (split, rank)
        files = [value[1] for value in grouped if value[0] == _FILE]
        counts = self._counts
        counts[rj.ANNOTATION_FILES] += len(files)
        source_id = layout.devkit_source_id(year_root, image_id)
        path = files[0] if files else layout.annotation_path(year_root, image_id)
        if not listings:
            counts[rj.IMAGES_NOT_IN_SPLIT] += 1
        elif not files:
            for split, rank in listings:
                record = image_rejection(
                    Entry(split, source_id, path, "", rank),
                    self._options,
                    "missing_annotation",
                    f"listed in {split}.txt but {layout.ANNOTATIONS}/{image_id}.xml does not exist",
                )
                counts.reject(record)
                yield beam.pvalue.TaggedOutput(_REJECTIONS, record)
        else:
            counts[rj.ANNOTATIONS_LISTED] += 1
            (split, rank), repeated = listings[0], listings[1:]
            for other_split, other_rank in repeated:
                counts[rj.REPEATED_LISTINGS] += 1
                record = image_rejection(
                    Entry(other_split, source_id, path, "", other_rank),
                    self._options,
                    "duplicate_image_id",
                    f"{image_id} is also listed in {split}.txt (kept there)",
                )
                counts.reject(record)
                yield beam.pvalue.TaggedOutput(_REJECTIONS, record)
            yield from self._parse(
                Entry(split, source_id, path, layout.image_root(year_root), rank)
            )


class _OneAnnotationPerImage(_CountingDoFn):
    """Keeps the first annotation of an image (split order, then source id); collects the
    class names of the kept ones per bundle, with their object and file counts."""

    def __init__(self, options: Options):
        self._options = options

    def start_bundle(self):
        super().start_bundle()
        self._class_names = {}

    def process(self, element):
        image_path, group = element
        ordered = sorted(
            group, key=lambda p: (p.entry.split_rank, p.entry.source_id, p.entry.annotation_path)
        )
        kept = ordered[0]
        file = relative_path(kept.entry.annotation_path, self._options.input_base)
        objects = collections.Counter(o.name for o in kept.annotation.objects if o.name)
        for name, count in objects.items():
            _add_class_name(self._class_names, name, count, 1, [file])
        yield kept
        for parsed in ordered[1:]:
            record = image_rejection(
                parsed.entry,
                self._options,
                "duplicate_image_id",
                f"image {parsed.annotation.filename} is also annotated by "
                f"{kept.entry.source_id} ({kept.entry.split}; kept there)",
            )
            self._counts.reject(record, objects_in_image=len(parsed.annotation.objects))
            yield beam.pvalue.TaggedOutput(_REJECTIONS, record)

    def finish_bundle(self):
        yield from super().finish_bundle()
        yield beam.pvalue.TaggedOutput(
            _CLASS_NAMES, GlobalWindows.windowed_value(self._class_names)
        )


class _Convert(_CountingDoFn):
    """The fused per-image work: read, check, build and serialise the example, and send
    it to its split's output. Collects the class names of the exported boxes per bundle."""

    def __init__(self, options: Options, user_label_map: bool, split_names: list[str]):
        self._options = options
        self._user_label_map = user_label_map
        self._split_tags = {name: _split_tag(i) for i, name in enumerate(split_names)}

    def start_bundle(self):
        super().start_bundle()
        self._exported_classes = set()

    def process(self, parsed: ParsedEntry, label_map: dict[str, int]):
        example, records = convert_entry(
            parsed, label_map, self._user_label_map, self._options, self._counts
        )
        if example is not None:
            rejected = {r.object_index for r in records}
            self._exported_classes.update(
                o.name for i, o in enumerate(parsed.annotation.objects) if i not in rejected
            )
            yield beam.pvalue.TaggedOutput(self._split_tags[parsed.entry.split], example)
        for record in records:
            yield beam.pvalue.TaggedOutput(_REJECTIONS, record)

    def finish_bundle(self):
        yield from super().finish_bundle()
        yield beam.pvalue.TaggedOutput(
            _EXPORTED_CLASSES, GlobalWindows.windowed_value(self._exported_classes)
        )


def _add_class_name(
    names: dict[str, list], name: str, objects: int, files: int, some_files: list[str]
) -> None:
    """Adds to {name: [objects, files, the first MAX_FILES_SHOWN files]}."""
    entry = names.setdefault(name, [0, 0, []])
    entry[0] += objects
    entry[1] += files
    entry[2] = sorted(set(entry[2]) | set(some_files))[:MAX_FILES_SHOWN]


class _ClassNameCounts(beam.CombineFn):
    """{name: [objects, files, first files]} summed over the bundles."""

    def create_accumulator(self):
        return {}

    def add_input(self, accumulator, names):
        for name, (objects, files, some_files) in names.items():
            _add_class_name(accumulator, name, objects, files, some_files)
        return accumulator

    def merge_accumulators(self, accumulators):
        total = {}
        for accumulator in accumulators:
            self.add_input(total, accumulator)
        return total

    def extract_output(self, accumulator):
        return accumulator


class _UnionOfSets(beam.CombineFn):
    def create_accumulator(self):
        return set()

    def add_input(self, accumulator, names):
        accumulator.update(names)
        return accumulator

    def merge_accumulators(self, accumulators):
        return set().union(*accumulators)

    def extract_output(self, accumulator):
        return accumulator


class _SumCounts(beam.CombineFn):
    def create_accumulator(self):
        return rj.Counts()

    def add_input(self, accumulator, counts):
        accumulator.update(counts)
        return accumulator

    def merge_accumulators(self, accumulators):
        total = rj.Counts()
        for counts in accumulators:
            total.update(counts)
        return total

    def extract_output(self, accumulator):
        return dict(accumulator)


def _write_text(path: str, text: str) -> None:
    tf.io.gfile.makedirs(posixpath.dirname(path))
    with tf.io.gfile.GFile(path, "w") as handle:
        handle.write(text)


def exported_label_map(
    label_map: dict[str, int], exported_classes: Iterable[str], user_map_text: str
) -> dict[str, int]:
    """The label map as written: the user's whole, or the automatic one without the
    classes that kept no box."""
    if user_map_text:
        return label_map
    exported = set(exported_classes)
    return {name: class_id for name, class_id in label_map.items() if name in exported}


def _write_label_map(
    label_map: dict[str, int], exported_classes: Iterable[str], user_map_text: str, directory: str
) -> None:
    """The user's label map byte for byte (display_name and every other field kept)."""
    written = exported_label_map(label_map, exported_classes, user_map_text)
    text = user_map_text or (label_map_lib.format_label_map(written) if written else "")
    _write_text(posixpath.join(directory, label_map_lib.LABEL_MAP_FILE), text)


def _write_totals(
    counts: dict[str, int],
    label_map: dict[str, int],
    exported_classes: Iterable[str],
    class_names: dict[str, list],
    directory: str,
    split_names: list[str],
    user_map_text: str,
    merge_classes: dict[str, str],
) -> None:
    exported_classes = set(exported_classes)
    written = exported_label_map(label_map, exported_classes, user_map_text)
    totals = rj.make_totals(counts, split_names, len(written))
    totals["num_classes"] = max(written.values(), default=0)
    totals["classes_without_exported_boxes"] = sorted(
        name for name in class_names if name in label_map and name not in exported_classes
    )
    totals["merge_classes"] = dict(sorted(merge_classes.items()))
    totals["class_name_collisions"] = case_collisions(class_names)
    totals["empty_splits"] = [
        split for split in split_names if not totals["per_split"][split][rj.EXAMPLES_OUT]
    ]
    _write_text(
        posixpath.join(directory, TOTALS_FILE), json.dumps(totals, indent=2, sort_keys=True) + "\n"
    )


def _rejection_sort_key(line: bytes):
    return rj.Rejection(**json.loads(line)).sort_key()


class _SpillRejections(beam.DoFn):
    """Rejection records as sorted runs in work_dir, a bounded buffer at a time, so that
    no worker holds all of them (odweights.external_sort); outputs the runs' segments."""

    def __init__(self, work_dir: str):
        self._work_dir = work_dir

    def start_bundle(self):
        self._lines, self._buffered_bytes = [], 0

    def process(self, record: rj.Rejection):
        line = record.to_json().encode("utf-8")
        self._lines.append(line)
        self._buffered_bytes += len(line)
        if self._buffered_bytes >= external_sort.BUFFER_BYTES:
            yield self._spill()

    def finish_bundle(self):
        if self._lines:
            yield GlobalWindows.windowed_value(self._spill())

    def _spill(self):
        self._lines.sort(key=_rejection_sort_key)
        ((_, segment),) = external_sort.write_run(
            posixpath.join(self._work_dir, uuid.uuid4().hex), [(None, self._lines)]
        )
        self._lines, self._buffered_bytes = [], 0
        return segment


def _write_rejections(segments, directory: str, work_dir: str) -> None:
    """rejected.jsonl: every record in sort_key order, merged from the runs as it is written."""
    tf.io.gfile.makedirs(directory)
    with open_for_writing(posixpath.join(directory, REJECTED_FILE)) as handle:
        for line in external_sort.sorted_records(segments, work_dir, key=_rejection_sort_key):
            handle.write(line + b"\n")


def options_from(exec_properties: dict[str, Any]) -> Options:
    return Options(
        input_base=exec_properties[standard_component_specs.INPUT_BASE_KEY].rstrip("/"),
        clip_tolerance=float(exec_properties[CLIP_TOLERANCE_KEY]),
        drop_difficult=bool(exec_properties[DROP_DIFFICULT_KEY]),
        exif_policy=exec_properties[EXIF_POLICY_KEY],
        reencode_unsupported=bool(exec_properties[REENCODE_UNSUPPORTED_KEY]),
        keep_partial_images=bool(exec_properties.get(KEEP_PARTIAL_IMAGES_KEY)),
        exif_frame=exec_properties.get(EXIF_FRAME_KEY) or "",
        merge_classes=tuple(
            sorted(parse_merge_classes(exec_properties.get(MERGE_CLASSES_KEY) or "").items())
        ),
    )


def _split_configs(
    exec_properties: dict[str, Any],
) -> tuple[example_gen_pb2.Input, example_gen_pb2.Output]:
    """The execution's input and output configs, parsed from their JSON."""
    input_config = example_gen_pb2.Input()
    proto_utils.json_to_proto(
        exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config
    )
    output_config = example_gen_pb2.Output()
    proto_utils.json_to_proto(
        exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config
    )
    return input_config, output_config


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
    """Pascal VOC -> OD API tf.Examples, label map and ingest report."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        """Not used: all splits are read in one pipeline (GenerateExamplesByBeam),
        because duplicates, missing annotations and the label map span splits."""
        raise NotImplementedError

    def GenerateExamplesByBeam(
        self, pipeline: beam.Pipeline, exec_properties: dict[str, Any]
    ) -> dict[str, beam.PCollection]:
        input_config, output_config = _split_configs(exec_properties)
        split_names = example_gen_utils.generate_output_split_names(input_config, output_config)
        options = options_from(exec_properties)
        user_map_text = exec_properties.get(LABEL_MAP_PARAM) or ""

        patterns = [
            (
                split.name,
                rank,
                layout.pattern_root(options.input_base, split.pattern),
                posixpath.join(options.input_base, split.pattern),
            )
            for rank, split in enumerate(input_config.splits)
        ]
        listed = (
            pipeline
            | "Patterns" >> beam.Create(patterns)
            | "Glob" >> beam.FlatMap(lambda e: [e[:3] + (path,) for path in tf.io.gfile.glob(e[3])])
            | "ListAndParseFlat"
            >> beam.ParDo(
                _ListEntries(options, output_config.split_config, split_names)
            ).with_outputs(_LISTINGS, _ROOTS, _REJECTIONS, _COUNTS, main="parsed")
        )
        files = (
            listed[_ROOTS]
            | "DistinctYears" >> beam.Distinct()
            | "GlobAnnotations" >> beam.FlatMap(_annotation_files)
        )
        resolved = (
            (listed[_LISTINGS], files)
            | "ListingsAndFiles" >> beam.Flatten()
            | "ById" >> beam.GroupByKey()
            | "ResolveAndParse"
            >> beam.ParDo(_ResolveListings(options)).with_outputs(
                _REJECTIONS, _COUNTS, main="parsed"
            )
        )
        unique = (
            (listed.parsed, resolved.parsed)
            | "AllParsed" >> beam.Flatten()
            | "ByImage" >> beam.GroupByKey()
            | "OnePerImage"
            >> beam.ParDo(_OneAnnotationPerImage(options)).with_outputs(
                _REJECTIONS, _COUNTS, _CLASS_NAMES, main="unique"
            )
        )
        class_names = unique[_CLASS_NAMES] | "CountClassNames" >> beam.CombineGlobally(
            _ClassNameCounts()
        )

        if user_map_text:
            label_map = pipeline | "UserLabelMap" >> beam.Create(
                [label_map_lib.parse_label_map(user_map_text)]
            )
        else:
            label_map = class_names | "AssignIds" >> beam.Map(label_map_lib.assign_ids)

        split_tags = [_split_tag(i) for i in range(len(split_names))]
        converted = unique.unique | "Convert" >> beam.ParDo(
            _Convert(options, bool(user_map_text), split_names),
            label_map=beam.pvalue.AsSingleton(label_map),
        ).with_outputs(_REJECTIONS, _COUNTS, _EXPORTED_CLASSES, *split_tags)
        exported_classes = beam.pvalue.AsSingleton(
            converted[_EXPORTED_CLASSES]
            | "UnionOfExportedClasses" >> beam.CombineGlobally(_UnionOfSets())
        )
        _ = label_map | "WriteLabelMap" >> beam.Map(
            _write_label_map, exported_classes, user_map_text, self._label_map_dir
        )

        stages = (listed, resolved, unique, converted)
        _ = (
            [stage[_COUNTS] for stage in stages]
            | "AllCounts" >> beam.Flatten()
            | "SumCounts" >> beam.CombineGlobally(_SumCounts())
            | "WriteTotals"
            >> beam.Map(
                _write_totals,
                beam.pvalue.AsSingleton(label_map),
                exported_classes,
                beam.pvalue.AsSingleton(class_names),
                self._report_dir,
                split_names,
                user_map_text,
                dict(options.merge_classes),
            )
        )
        _ = (
            [stage[_REJECTIONS] for stage in stages]
            | "AllRejections" >> beam.Flatten()
            | "SpillRejections" >> beam.ParDo(_SpillRejections(self._rejections_dir))
            | "CollectRuns" >> beam.combiners.ToList()
            | "WriteRejections"
            >> beam.Map(_write_rejections, self._report_dir, self._rejections_dir)
        )
        return {name: converted[tag] for name, tag in zip(split_names, split_tags, strict=True)}

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        """BaseExampleGenExecutor.Do, except how the splits are written.

        TFX's WriteSplit shuffles every split (a GroupByKey that the DirectRunner
        holds in memory, image bytes included) and GZIPs it (~0.6 ms per image to
        save 8% on JPEG bytes). Here each split is written as it is produced, as
        uncompressed TFRecords `data_tfrecord-SSSSS-of-NNNNN`; TFX readers pick the
        codec by the file suffix, so StatisticsGen and Transform read them as they are.
        The artifact gets the same properties as from the base class.
        """
        self._log_startup(input_dict, output_dict, exec_properties)
        record_maker(output_dict)
        examples = output_dict[standard_component_specs.EXAMPLES_KEY]
        exec_properties = resolve_input_properties(exec_properties, examples)
        self._label_map_dir = artifact_utils.get_single_uri(output_dict[LABEL_MAP_KEY])
        self._report_dir = artifact_utils.get_single_uri(output_dict[REPORT_KEY])
        input_config, output_config = _split_configs(exec_properties)
        artifact_utils.get_single_instance(
            examples
        ).split_names = artifact_utils.encode_split_names(
            example_gen_utils.generate_output_split_names(input_config, output_config)
        )

        self._rejections_dir = posixpath.join(self._get_tmp_dir(), "rejections")
        tf.io.gfile.makedirs(self._rejections_dir)
        with self._make_beam_pipeline() as pipeline:
            for split, records in self.GenerateExamplesByBeam(pipeline, exec_properties).items():
                _ = records | f"WriteSplit[{split}]" >> beam.io.WriteToTFRecord(
                    posixpath.join(
                        artifact_utils.get_split_uri(examples, split),
                        write_split.DEFAULT_TF_RECORD_FILE_NAME,
                    ),
                    file_name_suffix="",
                    compression_type=beam.io.filesystem.CompressionTypes.UNCOMPRESSED,
                )
        tf.io.gfile.rmtree(self._rejections_dir)

        payload_format = exec_properties.get(standard_component_specs.OUTPUT_DATA_FORMAT_KEY)
        for artifact in examples:
            if payload_format:
                examples_utils.set_payload_format(artifact, payload_format)
            # No `file_format`: TFX's only TFRecord value names GZIP; without it TFX
            # readers read TFRecords and pick the codec from the file suffix (none here).
            artifact.set_string_custom_property(COMPRESSION_PROPERTY, UNCOMPRESSED)

        totals_path = posixpath.join(self._report_dir, TOTALS_FILE)
        totals = json.loads(read_bytes(totals_path))
        rejected_path = posixpath.join(self._report_dir, REJECTED_FILE)
        with tf.io.gfile.GFile(rejected_path, "r") as handle:
            num_records = sum(1 for _ in handle)
        broken = rj.invariant_violations(totals, num_records)
        if broken:  # a bug, never bad data: refuse to publish totals that do not add up
            raise OdWeightsError("VOC ExampleGen: totals do not add up: " + "; ".join(broken))
        for artifact in examples + output_dict[REPORT_KEY]:
            set_totals_properties(artifact, totals)
        for artifact in output_dict[LABEL_MAP_KEY]:
            artifact.set_int_custom_property("num_classes", totals["num_classes"])
            artifact.set_string_custom_property(
                MERGE_CLASSES_KEY, format_merge_classes(totals["merge_classes"])
            )
        split_names = artifact_utils.decode_split_names(
            artifact_utils.get_single_instance(examples).split_names
        )
        problem = totals_problem(totals, exec_properties, rejected_path, split_names)
        if problem:
            report_dir = self._keep_report()
            raise IngestStoppedError(
                f"{problem}\nRejection records: {posixpath.join(report_dir, REJECTED_FILE)}",
                report_dir,
            )

    def _keep_report(self) -> str:
        """Copies the report where it survives the failure; returns that folder.

        TFX deletes the outputs of a failed execution, but keeps its stateful
        working directory.
        """
        keep_dir = self._context.stateful_working_dir if self._context else None
        if not keep_dir:
            return self._report_dir
        tf.io.gfile.makedirs(keep_dir)
        for name in (REJECTED_FILE, TOTALS_FILE):
            tf.io.gfile.copy(
                posixpath.join(self._report_dir, name),
                posixpath.join(keep_dir, name),
                overwrite=True,
            )
        return keep_dir


def set_totals_properties(artifact, totals: dict[str, Any]) -> None:
    """Totals as ML Metadata custom properties: flat ints + the whole JSON."""
    for name in rj.GLOBAL_COUNTERS:
        artifact.set_int_custom_property(name, totals[name])
    for reason, count in totals["rejected_by_reason"].items():
        artifact.set_int_custom_property(f"rejected_{reason}", count)
    for split, counters in totals["per_split"].items():
        for name, count in counters.items():
            artifact.set_int_custom_property(f"split_{split}_{name}", count)
    artifact.set_int_custom_property("label_map_classes", totals["label_map_classes"])
    artifact.set_int_custom_property("num_classes", totals["num_classes"])
    artifact.set_string_custom_property(
        MERGE_CLASSES_KEY, format_merge_classes(totals["merge_classes"])
    )
    artifact.set_float_custom_property("rejected_fraction", totals["rejected_fraction"])
    artifact.set_string_custom_property(TOTALS_PROPERTY, json.dumps(totals, sort_keys=True))


def _first_records(rejected_path: str, count: int, skip_reasons=frozenset()) -> list[dict]:
    records = []
    with tf.io.gfile.GFile(rejected_path, "r") as handle:
        for line in handle:
            record = json.loads(line)
            if record["reason"] not in skip_reasons:
                records.append(record)
                if len(records) == count:
                    break
    return records


def _describe(record: dict) -> str:
    where = "" if record["object_index"] is None else f" object {record['object_index']}"
    return (
        f"{record['file']}{where} ({record['split']}, {record['image_id']}): "
        f"{record['reason']}: {record['detail']}"
    )


def _counts_by_reason(totals: dict[str, Any]) -> str:
    """One line per rejection reason that occurred."""
    counts = [
        (reason, count) for reason, count in sorted(totals["rejected_by_reason"].items()) if count
    ]
    width = max((len(reason) for reason, _ in counts), default=0)
    return "\n".join(f"  {reason:<{width}}  {count}" for reason, count in counts)


def totals_problem(
    totals: dict[str, Any],
    exec_properties: dict[str, Any],
    rejected_path: str,
    split_names: list[str],
) -> str:
    """Why the data is worse than the options allow; "" when it is not."""
    empty = [split for split, counters in totals["per_split"].items() if not counters[rj.IMAGES_IN]]
    if empty:
        return (
            f"VOC ExampleGen: split(s) {empty} list no annotations; check input_base and "
            "the split patterns (ImageSets/Main/<split>.txt or *.xml)."
        )
    if totals["class_name_collisions"] and not exec_properties.get(LABEL_MAP_PARAM):
        return collision_message(totals["class_name_collisions"])
    training = training_split(split_names)
    if not totals["per_split"][training][rj.EXAMPLES_OUT]:
        return (
            f"VOC ExampleGen: every image of the training split {training!r} was "
            f"rejected ({totals['per_split'][training][rj.IMAGES_IN]} images); nothing "
            f"is left to train on. Rejected by reason:\n{_counts_by_reason(totals)}"
        )
    if exec_properties.get(STRICT_KEY):
        counted = (
            totals[rj.IMAGES_REJECTED]
            + totals[rj.OBJECTS_REJECTED]
            - sum(totals["rejected_by_reason"][reason] for reason in rj.REQUESTED_DROPS)
        )
        if counted:
            first = _first_records(rejected_path, 1, rj.REQUESTED_DROPS)[0]
            return (
                f"VOC ExampleGen (--strict): {counted} rejection(s). Rejected by reason:\n"
                f"{_counts_by_reason(totals)}\nFirst: {_describe(first)}."
            )
    limit = float(exec_properties[MAX_REJECTED_FRACTION_KEY])
    if totals["rejected_fraction"] > limit:
        examples = "\n".join("  " + _describe(r) for r in _first_records(rejected_path, 3))
        return (
            f"VOC ExampleGen rejected {totals['images_rejected']} of {totals['images_in']} "
            f"images and {totals['objects_rejected']} of {totals['objects_in']} objects: "
            f"fraction {totals['rejected_fraction']:.4f} > --max-rejected-fraction {limit}."
            f"\nRejected by reason:\n{_counts_by_reason(totals)}\nFirst:\n{examples}\n"
            "Fix the data, or raise --max-rejected-fraction to accept the loss."
        )
    if not totals["label_map_classes"]:
        return (
            "VOC ExampleGen: the chosen splits hold no object with a class name, so there "
            "is no label map; check the annotations."
        )
    return ""
