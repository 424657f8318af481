"""WeightedTransform's executor: ClassWeights artifact -> custom_config -> TFX's Transform.

One change to what Transform writes: the transformed examples are uncompressed
TFRecords. TFX's Transform GZIPs them, which costs about 0.4 ms per image on
JPEG bytes that do not compress (docs/benchmarks.md) and again to decompress in every
reader. Transform has no option for it, so during its run the processor it
builds is replaced by a subclass whose only change is the writer; a TFX without
that hook keeps GZIP, which every reader takes as well (TFRecord readers pick
the codec from the `.gz` suffix).
"""

import contextlib
import json
import logging
import math
from collections.abc import Iterator, Mapping
from typing import Any

import apache_beam as beam
from tfx import types
from tfx.components.transform import executor as transform_executor
from tfx.components.transform import labels
from tfx.types import artifact_utils, standard_component_specs

from odweights.class_weights_io import load_class_weights
from odweights.components.weighted_transform.preprocessing import CLASS_WEIGHTS_KEY
from odweights.errors import BadInputError
from odweights.maker import record_maker
from odweights.tfrecord_crc import use_hardware_crc32c

use_hardware_crc32c()  # here, so that Beam workers that import this module use it too


def weights_by_class(document: Mapping[str, Any]) -> dict[str, float]:
    """{class name: final weight} of a class_weights.json document, checked."""
    weights = {}
    for entry in document.get("classes") or []:
        name, weight = entry["name"], entry["weight"]
        if (
            isinstance(weight, bool)
            or not isinstance(weight, (int, float))
            or not math.isfinite(weight)
            or weight <= 0
        ):
            raise BadInputError(
                f"class_weights.json: class {name!r} has weight {weight!r}; a box weight is "
                "a finite number > 0 (see docs/weights.md): recompute them with WeightGen"
            )
        if name in weights:
            raise BadInputError(f"class_weights.json lists class {name!r} twice")
        weights[name] = float(weight)
    if not weights:
        raise BadInputError("class_weights.json lists no classes: recompute it with WeightGen")
    return weights


def custom_config_with_weights(custom_config_json: str | None, weights: Mapping[str, float]) -> str:
    """The component's custom_config (JSON) with the weights added under 'class_weights'."""
    config = json.loads(custom_config_json) if custom_config_json else {}
    config = dict(config or {})
    config[CLASS_WEIGHTS_KEY] = dict(sorted(weights.items()))
    return json.dumps(config, sort_keys=True)


# TFX's private hooks that the swap below needs (present in tfx 1.16 and 1.21,
# the TFX versions of docs/platforms.md).
TRANSFORM_HOOKS = ("_EncodeAndWrite", "_RecordBatchToExamplesFn")


def missing_transform_hooks() -> list[str]:
    """The hooks this TFX's Transform lacks, as names to log; [] where the swap works."""
    processor = getattr(transform_executor, "TransformProcessor", None)
    if processor is None:
        return ["TransformProcessor"]
    return [
        f"TransformProcessor.{name}" for name in TRANSFORM_HOOKS if not hasattr(processor, name)
    ]


_PROCESSOR = getattr(transform_executor, "TransformProcessor", None)


if not missing_transform_hooks():

    class _UncompressedTransformProcessor(_PROCESSOR):
        """TFX's TransformProcessor, writing TFRecords without compression."""

        # pylint: disable=protected-access
        @staticmethod
        @beam.ptransform_fn
        def _EncodeAndWrite(pcoll, schema, file_format, output_path):
            if file_format != labels.FORMAT_TFRECORD:
                return pcoll | _PROCESSOR._EncodeAndWrite(
                    schema=schema, file_format=file_format, output_path=output_path
                )
            return (
                pcoll
                | "EncodeAndSerialize" >> beam.ParDo(_PROCESSOR._RecordBatchToExamplesFn(schema))
                | "ExtractExamples" >> beam.Values()
                | "WriteToTFRecord"
                >> beam.io.WriteToTFRecord(
                    output_path, compression_type=beam.io.filesystem.CompressionTypes.UNCOMPRESSED
                )
            )


@contextlib.contextmanager
def _uncompressed_output() -> Iterator[None]:
    """TFX's Transform executor builds `TransformProcessor()` by its module-level name;
    the swap lasts one execution (TFX's orchestrators run one at a time per process)."""
    missing = missing_transform_hooks()
    if missing:
        logging.warning(
            "This TFX's Transform has no %s: the transformed examples stay GZIP-compressed.",
            ", ".join(missing),
        )
        yield
        return
    transform_executor.TransformProcessor = _UncompressedTransformProcessor
    try:
        yield
    finally:
        transform_executor.TransformProcessor = _PROCESSOR


class Executor(transform_executor.Executor):
    """Reads the `class_weights` input, then runs TFX's Transform executor (uncompressed
    output)."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        record_maker(output_dict)
        class_weights_uri = artifact_utils.get_single_uri(input_dict[CLASS_WEIGHTS_KEY])
        weights = weights_by_class(load_class_weights(class_weights_uri))
        transform_properties = dict(exec_properties)
        transform_properties[standard_component_specs.CUSTOM_CONFIG_KEY] = (
            custom_config_with_weights(
                exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY), weights
            )
        )
        transform_inputs = {
            key: artifacts for key, artifacts in input_dict.items() if key != CLASS_WEIGHTS_KEY
        }
        with _uncompressed_output():
            super().Do(transform_inputs, output_dict, transform_properties)
