"""OdExport's executor: Beam writes the shards, then the small files, then publishing.

Artifact layout (file names are a contract, the OD API reads them as they are):
  <split>.record-SSSSS-of-NNNNN  uncompressed TFRecords, one per shard
  label_map.pbtxt                the VOC ExampleGen's label map
  class_weights.json             WeightGen's weights and repeat factors
  summary.json                   totals per split and class, options, rejections
  rejected.jsonl                 the VOC ExampleGen's rejection records
  input_reader.config            OD API input reader blocks (published paths)
  manifest.json                  every other file with its size and sha256 (publish.py)

Sharding and order: sharding.py. Bounded workers (see docs/scale.md): the stage
that reads the records buffers them, and writes each full buffer, sorted by
(shard, record), as one spill file in the executor's temp dir
(odweights.external_sort): one open file at a time, whatever the number of
shards. Only (spill file, offset, length) segments go through the shuffle.
Each shard file is then written from its segments, sorted in memory when
small (about 1,000 images with automatic sharding), else merged from disk a
bounded number of segments at a time. Either way a shard holds its records
sorted by their bytes, so its file does not depend on bundles or workers.
"""

import itertools
import json
import operator
import os
import uuid
from collections.abc import Mapping
from typing import Any, Optional

import apache_beam as beam
import tensorflow as tf
from apache_beam.transforms import window
from tfx import types
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils

from odweights import external_sort, fileio
from odweights.artifact_files import INPUT_READER_FILE, REJECTED_FILE, TOTALS_FILE
from odweights.class_weights_io import CLASS_WEIGHTS_FILE, load_class_weights
from odweights.components.od_export import resampling, sharding, summary
from odweights.components.od_export.export_record import parse_export_record
from odweights.components.od_export.input_reader import input_reader_config
from odweights.components.od_export.options import ExportOptions
from odweights.components.od_export.publish import files_sha256, publish_export, write_manifest
from odweights.errors import BadInputError, OdWeightsError
from odweights.label_map import LABEL_MAP_FILE, parse_label_map
from odweights.maker import record_maker
from odweights.tfrecord_crc import use_hardware_crc32c

use_hardware_crc32c()  # here, so that Beam workers that import this module use it too

SUMMARY_FILE = "summary.json"

_FACTS = "facts"


class _SpillRecords(beam.DoFn):
    """Checks each transformed example of a split, decides its copies and buffers every
    copy for its shard; each full buffer (and the rest at the end of a bundle) becomes
    one spill file, whose segments go out as (split, shard) -> (path, offset, length).

    Records go to disk in the same fused stage that reads them, so no record
    crosses a Beam shuffle (the DirectRunner would hold a shuffle's whole input
    in memory).
    """

    def __init__(
        self,
        split: str,
        spill_dir: str,
        num_shards: int,
        class_repeat_factors: Mapping[str, float],
        resample: bool,
        rounding: str,
        seed: int,
        unit_weights: bool,
    ):
        self._split = split
        self._spill_dir = spill_dir
        self._num_shards = num_shards
        self._class_repeat_factors = dict(class_repeat_factors)
        self._resample = resample
        self._rounding = rounding
        self._seed = seed
        self._unit_weights = unit_weights
        self._buffer = []
        self._buffered_bytes = 0

    def start_bundle(self):
        self._buffer = []
        self._buffered_bytes = 0

    def process(self, serialized: bytes):
        record = parse_export_record(serialized, unit_weights=self._unit_weights)
        copies = 1
        if self._resample:
            factor = resampling.image_repeat_factor(
                set(record.class_texts), self._class_repeat_factors
            )
            copies = resampling.copies(factor, self._rounding, self._seed, record.source_id)
        for copy_index in range(copies):
            key = sharding.record_key(record.source_id, copy_index)
            spilled = sharding.spill_record(key, copy_index, record.serialized)
            self._buffer.append((sharding.shard_of(key, self._num_shards), spilled))
            self._buffered_bytes += len(spilled)
        yield beam.pvalue.TaggedOutput(
            _FACTS, (self._split, (record.class_texts, record.weights, copies))
        )
        if self._buffered_bytes >= external_sort.BUFFER_BYTES:
            yield from self._spill()

    def finish_bundle(self):
        for segment in self._spill():
            yield window.GlobalWindows.windowed_value(segment)

    def _spill(self):
        """Writes the buffer, sorted by (shard, record), as one spill file; its segments
        as ((split, shard), segment)."""
        if not self._buffer:
            return []
        self._buffer.sort()
        groups = (
            (shard, (spilled for _, spilled in records))
            for shard, records in itertools.groupby(self._buffer, key=operator.itemgetter(0))
        )
        segments = external_sort.write_run(
            os.path.join(self._spill_dir, f"{self._split}-{uuid.uuid4().hex}"), groups
        )
        self._buffer, self._buffered_bytes = [], 0
        return [((self._split, shard), segment) for shard, segment in segments]


class _SplitTotalsFn(beam.CombineFn):
    """SplitTotals of a split's images; None inputs (present for empty splits) are skipped."""

    def create_accumulator(self):
        return summary.SplitTotals()

    def add_input(self, totals, facts):
        if facts is not None:
            totals.add_image(*facts)
        return totals

    def merge_accumulators(self, accumulators):
        merged = summary.SplitTotals()
        for totals in accumulators:
            merged.merge(totals)
        return merged

    def extract_output(self, totals):
        return totals


def _write_shard(
    shard_spills,
    directory: str,
    num_shards: dict[str, int],
    spill_dir: str,
    sort_bytes: Optional[int] = None,  # noqa: UP045 (see the docstring)
    fan_in: Optional[int] = None,  # noqa: UP045
) -> None:
    """Writes one shard file from its spill segments, its records sorted by their bytes
    (sort_bytes, fan_in: see external_sort.sorted_records).

    Beam 2.60 (the tfx-1.16 stack) type-checks the arguments of the functions it
    runs and reads neither `collections.abc.Mapping` nor `int | None` in their
    hints: hence `dict` and `Optional` here."""
    (split, shard), segments = shard_spills
    records = external_sort.sorted_records(
        [segment for segment in segments if segment is not None],
        spill_dir,
        sort_bytes=sort_bytes,
        fan_in=fan_in,
    )
    path = os.path.join(directory, sharding.shard_file_name(split, shard, num_shards[split]))
    with tf.io.TFRecordWriter(path) as writer:  # no compression: the OD API reads these
        for record in records:
            writer.write(sharding.spilled_example(record))


def _write_facts(split_totals, facts_dir: str, class_names: list[str]) -> None:
    split, totals = split_totals
    with tf.io.gfile.GFile(os.path.join(facts_dir, f"{split}.json"), "w") as file:
        file.write(json.dumps(totals.to_json(class_names), sort_keys=True))


@beam.ptransform_fn
def _ExportSplits(
    pipeline,
    input_patterns: Mapping[str, str],
    num_shards: Mapping[str, int],
    output_dir: str,
    spill_dir: str,
    facts_dir: str,
    class_names: list[str],
    class_repeat_factors: Mapping[str, float],
    resampled_split: str,
    options: ExportOptions,
):
    """Writes every split's shards, and each split's totals into facts_dir.

    Each split has its own read -> spill chain: a Flatten of the records would
    make the DirectRunner buffer them in memory; only spill file names and
    per-image facts are flattened.
    """
    splits = sorted(input_patterns)
    spill_files, facts = [], []
    for split in splits:
        spilled = (
            pipeline
            | f"Read[{split}]" >> beam.io.ReadFromTFRecord(input_patterns[split])
            | f"Spill[{split}]"
            >> beam.ParDo(
                _SpillRecords(
                    split,
                    spill_dir,
                    num_shards[split],
                    class_repeat_factors,
                    split == resampled_split,
                    options.rfs_rounding,
                    options.seed,
                    not options.writes_class_weights,
                )
            ).with_outputs(_FACTS, main="spills")
        )
        spill_files.append(spilled.spills)
        facts.append(spilled[_FACTS])
    every_shard = pipeline | "EveryShard" >> beam.Create(
        [((split, shard), None) for split in splits for shard in range(num_shards[split])]
    )
    _ = (
        (*spill_files, every_shard)
        | "FlattenShards" >> beam.Flatten()
        | "GroupByShard" >> beam.GroupByKey()
        | "WriteShard"
        >> beam.Map(_write_shard, directory=output_dir, num_shards=num_shards, spill_dir=spill_dir)
    )
    _ = (
        (*facts, pipeline | "NoFacts" >> beam.Create([(split, None) for split in splits]))
        | "FlattenFacts" >> beam.Flatten()
        | "Totals" >> beam.CombinePerKey(_SplitTotalsFn())
        | "WriteFacts" >> beam.Map(_write_facts, facts_dir=facts_dir, class_names=class_names)
    )


def _read_bytes(path: str, what: str) -> bytes:
    if not tf.io.gfile.exists(path):
        raise OdWeightsError(f"{path} does not exist: the {what} artifact is incomplete")
    return fileio.read_bytes(path)


def _write_bytes(path: str, data: bytes) -> None:
    with tf.io.gfile.GFile(path, "wb") as file:
        file.write(data)


def _examples_in_split(ingest_totals: Mapping[str, Any], split: str) -> int:
    """The number of examples the VOC ExampleGen wrote for a split (report totals.json)."""
    try:
        return int(ingest_totals["per_split"][split]["examples_out"])
    except (KeyError, TypeError, ValueError):
        raise BadInputError(
            f"the IngestReport's {TOTALS_FILE} has no per_split.{split}.examples_out count, "
            "which the automatic shard count needs; give the number of shards instead "
            "(num_shards / --shards N)"
        ) from None


class Executor(base_beam_executor.BaseBeamExecutor):
    """Writes the OD API export into the artifact, publishes it, records it in MLMD."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        record_maker(output_dict)
        options = ExportOptions(
            publish_dir=exec_properties.get("publish_dir") or "",
            num_shards=int(exec_properties["num_shards"]),
            resample=exec_properties["resample"],
            rfs_rounding=exec_properties["rfs_rounding"],
            seed=int(exec_properties["seed"]),
            keep_weights=bool(exec_properties.get("keep_weights") or 0),
        )
        options.validate()

        examples = artifact_utils.get_single_instance(input_dict["transformed_examples"])
        splits = artifact_utils.decode_split_names(examples.split_names)
        export = artifact_utils.get_single_instance(output_dict["export"])
        class_weights_uri = artifact_utils.get_single_uri(input_dict["class_weights"])
        weights_document = load_class_weights(class_weights_uri)
        class_names = [entry["name"] for entry in weights_document["classes"]]
        repeat_factors = {
            entry["name"]: float(entry["repeat_factor"]) for entry in weights_document["classes"]
        }
        training_split = weights_document.get("split") or "train"
        resample = options.resample == resampling.RFS
        if resample and training_split not in splits:
            raise BadInputError(
                f"resample=rfs repeats the images of the split the weights were computed on, "
                f"{training_split!r}, but the examples have only {', '.join(splits)}"
            )
        report_uri = artifact_utils.get_single_uri(input_dict["report"])
        ingest_totals = json.loads(
            _read_bytes(os.path.join(report_uri, TOTALS_FILE), "IngestReport")
        )

        num_shards = {
            split: options.num_shards
            or sharding.automatic_num_shards(_examples_in_split(ingest_totals, split))
            for split in splits
        }
        work_dir = os.path.join(self._get_tmp_dir(), "od_export")
        spill_dir, facts_dir = os.path.join(work_dir, "spill"), os.path.join(work_dir, "facts")
        for directory in (spill_dir, facts_dir, export.uri):
            tf.io.gfile.makedirs(directory)
        with self._make_beam_pipeline() as pipeline:
            _ = pipeline | "ExportSplits" >> _ExportSplits(
                input_patterns={
                    split: io_utils.all_files_pattern(
                        artifact_utils.get_split_uri([examples], split)
                    )
                    for split in splits
                },
                num_shards=num_shards,
                output_dir=export.uri,
                spill_dir=spill_dir,
                facts_dir=facts_dir,
                class_names=class_names,
                class_repeat_factors=repeat_factors,
                resampled_split=training_split if resample else None,
                options=options,
            )
        split_totals = {
            split: json.loads(_read_bytes(os.path.join(facts_dir, f"{split}.json"), "export"))
            for split in splits
        }
        tf.io.gfile.rmtree(work_dir)

        label_map_uri = artifact_utils.get_single_uri(input_dict["label_map"])
        label_map_bytes = _read_bytes(os.path.join(label_map_uri, LABEL_MAP_FILE), "LabelMap")
        _write_bytes(os.path.join(export.uri, LABEL_MAP_FILE), label_map_bytes)  # as given
        # the OD API's num_classes: the largest id, not the number of items
        num_classes = max(parse_label_map(label_map_bytes.decode("utf-8")).values())
        _write_bytes(
            os.path.join(export.uri, CLASS_WEIGHTS_FILE),
            _read_bytes(os.path.join(class_weights_uri, CLASS_WEIGHTS_FILE), "ClassWeights"),
        )
        _write_bytes(
            os.path.join(export.uri, REJECTED_FILE),
            _read_bytes(os.path.join(report_uri, REJECTED_FILE), "IngestReport"),
        )
        # What the boxes carry: the class weights, or 1.0 (rfs without keep_weights).
        box_weights = "class_weights" if options.writes_class_weights else "ones"
        document = summary.summary_document(
            split_totals,
            num_shards,
            training_split,
            resample={
                "mode": options.resample,
                "rounding": options.rfs_rounding,
                "seed": options.seed,
                "split": training_split if resample else None,
                "keep_weights": options.keep_weights,
            },
            weights={
                "method": weights_document.get("method"),
                "parameters": weights_document.get("parameters"),
                "split": weights_document.get("split"),
                "normalize": weights_document.get("normalize"),
                "mean_box_weight": weights_document.get("mean_box_weight"),
                "box_weights": box_weights,
            },
            ingest_totals=dict(ingest_totals, num_classes=num_classes),
        )
        _write_bytes(
            os.path.join(export.uri, SUMMARY_FILE),
            (json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode(
                "utf-8"
            ),
        )
        _write_bytes(
            os.path.join(export.uri, INPUT_READER_FILE),
            input_reader_config(
                options.publish_dir or export.uri,
                num_shards,
                training_split,
                num_classes,
                max_boxes={split: split_totals[split]["max_boxes_per_image"] for split in splits},
            ).encode("utf-8"),
        )

        write_manifest(export.uri)
        file_hashes = files_sha256(export.uri)
        export.set_json_value_custom_property("file_sha256", file_hashes)
        export.set_json_value_custom_property(
            "num_examples", {split: split_totals[split]["records"] for split in splits}
        )
        export.set_json_value_custom_property(
            "num_images", {split: split_totals[split]["images"] for split in splits}
        )
        export.set_json_value_custom_property("num_shards", num_shards)
        export.set_string_custom_property("split_names", json.dumps(sorted(splits)))
        export.set_string_custom_property("resample", options.resample)
        export.set_string_custom_property("rfs_rounding", options.rfs_rounding)
        export.set_int_custom_property("seed", options.seed)
        export.set_string_custom_property("box_weights", box_weights)
        if options.publish_dir:
            published = publish_export(export.uri, options.publish_dir)
            if published != file_hashes:
                raise OdWeightsError(
                    f"the copy in {options.publish_dir} differs from {export.uri} after "
                    "publishing; check the destination's storage and run again"
                )
            export.set_int_custom_property("pushed", 1)
            export.set_string_custom_property("pushed_destination", options.publish_dir)
        else:
            export.set_int_custom_property("pushed", 0)
