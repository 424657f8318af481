"""VocExampleGen: Pascal VOC -> OD API tf.Examples, with a label map and an ingest report.

A plain BaseBeamComponent, not a FileBasedExampleGen: TFX's Kubeflow v2
compiler replaces a FileBasedExampleGen's driver with its own, whose cache key
covers only the files the split patterns match, and needs those patterns when
the pipeline is compiled. Here the dataset layout is detected when the
component runs (see driver.py), so compiling never reads the data, and the
input fingerprint covers every annotation and image (see docs/kubeflow.md).
"""

from collections.abc import Mapping, Sequence

from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.proto import example_gen_pb2, range_config_pb2
from tfx.types import channel, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from odweights import artifact_types
from odweights.components.voc_example_gen import executor
from odweights.components.voc_example_gen.class_names import format_merge_classes
from odweights.components.voc_example_gen.driver import SPLITS_KEY, VocDriver, join_splits
from odweights.components.voc_example_gen.ingest_options import (
    DEFAULT_CLIP_TOLERANCE,
    DEFAULT_EXIF_POLICY,
    DEFAULT_MAX_REJECTED_FRACTION,
    check_ingest_options,
)
from odweights.components.voc_example_gen.split_names import check_split_names


class VocExampleGenSpec(ComponentSpec):
    """The input folder, the split configs (empty: detected at run time), the VOC options;
    examples, label map and report out."""

    PARAMETERS = {
        standard_component_specs.INPUT_BASE_KEY: ExecutionParameter(type=str),
        SPLITS_KEY: ExecutionParameter(type=str, optional=True),
        standard_component_specs.INPUT_CONFIG_KEY: ExecutionParameter(
            type=example_gen_pb2.Input, optional=True
        ),
        standard_component_specs.OUTPUT_CONFIG_KEY: ExecutionParameter(
            type=example_gen_pb2.Output, optional=True
        ),
        standard_component_specs.RANGE_CONFIG_KEY: ExecutionParameter(
            type=range_config_pb2.RangeConfig, optional=True
        ),
        standard_component_specs.OUTPUT_DATA_FORMAT_KEY: ExecutionParameter(type=int),
        executor.LABEL_MAP_PARAM: ExecutionParameter(type=str, optional=True),
        executor.STRICT_KEY: ExecutionParameter(type=int),
        executor.MAX_REJECTED_FRACTION_KEY: ExecutionParameter(type=float),
        executor.CLIP_TOLERANCE_KEY: ExecutionParameter(type=float),
        executor.DROP_DIFFICULT_KEY: ExecutionParameter(type=int),
        executor.EXIF_POLICY_KEY: ExecutionParameter(type=str),
        executor.REENCODE_UNSUPPORTED_KEY: ExecutionParameter(type=int),
        executor.KEEP_PARTIAL_IMAGES_KEY: ExecutionParameter(type=int, optional=True),
        executor.MERGE_CLASSES_KEY: ExecutionParameter(type=str, optional=True),
        executor.EXIF_FRAME_KEY: ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {}
    OUTPUTS = {
        standard_component_specs.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        executor.LABEL_MAP_KEY: ChannelParameter(type=artifact_types.LabelMap),
        executor.REPORT_KEY: ChannelParameter(type=artifact_types.IngestReport),
    }


class VocExampleGen(base_beam_component.BaseBeamComponent):
    """Pascal VOC (VOCdevkit, one year folder, or flat folder) -> OD API tf.Examples.

    Outputs: `examples` (uncompressed TFRecords of tf.Example, one folder per split),
    `label_map` (label_map.pbtxt) and `report` (rejected.jsonl, totals.json).
    """

    SPEC_CLASS = VocExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
    DRIVER_CLASS = VocDriver

    def __init__(
        self,
        input_base: str,
        splits: Sequence[str] = ("train", "val"),
        input_config: example_gen_pb2.Input | None = None,
        output_config: example_gen_pb2.Output | None = None,
        range_config: range_config_pb2.RangeConfig | None = None,
        label_map: str | None = None,
        strict: bool = False,
        max_rejected_fraction: float = DEFAULT_MAX_REJECTED_FRACTION,
        clip_tolerance: float = DEFAULT_CLIP_TOLERANCE,
        drop_difficult: bool = False,
        exif_policy: str = DEFAULT_EXIF_POLICY,
        reencode_unsupported: bool = False,
        keep_partial_images: bool = False,
        merge_classes: Mapping[str, str] | None = None,
        exif_frame: str | None = None,
    ):
        """Args:
        input_base: a VOCdevkit folder, one year folder, or a flat folder of XML
          files and images; read only when the component runs.
        splits: VOCdevkit: the ImageSets/Main/<split>.txt files to read; flat
          folder: the hash-bucket output splits. Used when input_config is None.
        input_config, output_config: explicit split patterns and output splits
          instead of the detected ones (see layout.voc_input_configs);
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
        exif_policy: 'auto' (the frame of the boxes from <size>: keep the stored
          pixels without the orientation tag, or rotate them upright), 'fix'
          (always re-encode upright), 'reject', or 'flag' (keep the bytes as they
          are, counted as exif_flagged).
        exif_frame: 'stored' or 'displayed', the frame the boxes were drawn in,
          for exif_policy 'auto' where <size> cannot tell; None: such images are
          rejected (exif_frame_ambiguous).
        reencode_unsupported: re-encode GIF/BMP/TIFF/WebP... to PNG instead of
          rejecting them.
        keep_partial_images: export an image one of whose objects was rejected for
          a data error without that object, instead of rejecting the image
          (has_rejected_object).
        merge_classes: {name: merged name}, applied to every object before anything
          else (resolves class names that differ only in letter case).
        """
        check_split_names(splits)
        check_ingest_options(
            label_map, max_rejected_fraction, clip_tolerance, exif_policy, exif_frame
        )
        if input_config is not None and output_config is None:
            output_config = example_gen_pb2.Output()
        spec = VocExampleGenSpec(
            input_base=input_base,
            splits=join_splits(splits),
            input_config=input_config,
            output_config=output_config,
            range_config=range_config,
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            label_map_text=label_map,
            strict=int(strict),
            max_rejected_fraction=float(max_rejected_fraction),
            clip_tolerance=float(clip_tolerance),
            drop_difficult=int(drop_difficult),
            exif_policy=exif_policy,
            reencode_unsupported=int(reencode_unsupported),
            keep_partial_images=int(keep_partial_images),
            merge_classes=format_merge_classes(merge_classes or {}),
            exif_frame=exif_frame or "",
            examples=channel.Channel(type=standard_artifacts.Examples),
            label_map=channel.Channel(type=artifact_types.LabelMap),
            report=channel.Channel(type=artifact_types.IngestReport),
        )
        super().__init__(spec=spec)
