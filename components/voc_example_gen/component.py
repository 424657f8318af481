"""VocExampleGen: a FileBasedExampleGen for Pascal VOC with a label map and an ingest report."""

from typing import Mapping, Optional

from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.proto import example_gen_pb2, range_config_pb2
from tfx.types import channel, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from odweights.components import artifact_types
from odweights.components.voc_example_gen import executor
from odweights.components.voc_example_gen.class_names import format_merge_classes
from odweights.components.voc_example_gen.driver import VocDriver
from odweights.components.voc_example_gen.ingest_options import (
    DEFAULT_CLIP_TOLERANCE, DEFAULT_EXIF_POLICY, DEFAULT_MAX_REJECTED_FRACTION,
    check_ingest_options)



class VocExampleGenSpec(standard_component_specs.FileBasedExampleGenSpec):
    """FileBasedExampleGen's spec plus the VOC options and two more outputs."""

    PARAMETERS = dict(
        standard_component_specs.FileBasedExampleGenSpec.PARAMETERS,
        **{
            executor.LABEL_MAP_PARAM: ExecutionParameter(type=str, optional=True),
            executor.STRICT_KEY: ExecutionParameter(type=int),
            executor.MAX_REJECTED_FRACTION_KEY: ExecutionParameter(type=float),
            executor.CLIP_TOLERANCE_KEY: ExecutionParameter(type=float),
            executor.DROP_DIFFICULT_KEY: ExecutionParameter(type=int),
            executor.EXIF_POLICY_KEY: ExecutionParameter(type=str),
            executor.REENCODE_UNSUPPORTED_KEY: ExecutionParameter(type=int),
            executor.KEEP_PARTIAL_IMAGES_KEY: ExecutionParameter(type=int, optional=True),
            executor.MERGE_CLASSES_KEY: ExecutionParameter(type=str, optional=True),
        })
    OUTPUTS = dict(
        standard_component_specs.FileBasedExampleGenSpec.OUTPUTS,
        **{
            executor.LABEL_MAP_KEY: ChannelParameter(type=artifact_types.LabelMap),
            executor.REPORT_KEY: ChannelParameter(type=artifact_types.IngestReport),
        })


class VocExampleGen(FileBasedExampleGen):
    """Pascal VOC (VOCdevkit or flat folder) -> OD API tf.Examples.

    Outputs: `examples` (uncompressed TFRecords of tf.Example, one folder per split),
    `label_map` (label_map.pbtxt) and `report` (rejected.jsonl, totals.json).
    Build input_base/input_config/output_config with layout.voc_input_configs.
    """

    SPEC_CLASS = VocExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
    DRIVER_CLASS = VocDriver

    def __init__(
        self,
        input_base: str,
        input_config: example_gen_pb2.Input,
        output_config: Optional[example_gen_pb2.Output] = None,
        range_config: Optional[range_config_pb2.RangeConfig] = None,
        label_map: Optional[str] = None,
        strict: bool = False,
        max_rejected_fraction: float = DEFAULT_MAX_REJECTED_FRACTION,
        clip_tolerance: float = DEFAULT_CLIP_TOLERANCE,
        drop_difficult: bool = False,
        exif_policy: str = DEFAULT_EXIF_POLICY,
        reencode_unsupported: bool = False,
        keep_partial_images: bool = False,
        merge_classes: Optional[Mapping[str, str]] = None,
    ):
        """Args:
          input_base, input_config, output_config: see layout.voc_input_configs;
            `{SPAN}`/`{VERSION}` patterns and range_config work as in TFX.
          label_map: StringIntLabelMap text fixing class names and ids (objects of
            other classes are rejected as unknown_class); None: ids 1..K over the
            sorted class names found.
          strict: fail on any rejection (except requested drops).
          max_rejected_fraction: fail when more than this fraction of the images
            or of the objects is rejected.
          clip_tolerance: boxes outside the image by at most this much
            (normalised units, 0.01 = 1% of the width/height) are clipped.
          drop_difficult: drop objects marked difficult (recorded as `difficult`).
          exif_policy: 'fix' (re-encode upright), 'reject', or 'flag' (keep the
            bytes as they are, counted as exif_flagged).
          reencode_unsupported: re-encode GIF/BMP/TIFF/WebP... to PNG instead of
            rejecting them.
          keep_partial_images: export an image one of whose objects was rejected for
            a data error without that object, instead of rejecting the image
            (has_rejected_object).
          merge_classes: {name: merged name}, applied to every object before anything
            else (resolves class names that differ only in letter case).
        """
        check_ingest_options(label_map, max_rejected_fraction, clip_tolerance, exif_policy)
        output_config = output_config or example_gen_pb2.Output()
        spec = VocExampleGenSpec(
            input_base=input_base,
            input_config=input_config,
            output_config=output_config,
            range_config=range_config,
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
            label_map_text=label_map,
            strict=int(strict),
            max_rejected_fraction=float(max_rejected_fraction),
            clip_tolerance=float(clip_tolerance),
            drop_difficult=int(drop_difficult),
            exif_policy=exif_policy,
            reencode_unsupported=int(reencode_unsupported),
            keep_partial_images=int(keep_partial_images),
            merge_classes=format_merge_classes(merge_classes or {}),
            examples=channel.Channel(type=standard_artifacts.Examples),
            label_map=channel.Channel(type=artifact_types.LabelMap),
            report=channel.Channel(type=artifact_types.IngestReport))
        # FileBasedExampleGen.__init__ builds its own spec class; skip to its base.
        base_beam_component.BaseBeamComponent.__init__(self, spec=spec)
