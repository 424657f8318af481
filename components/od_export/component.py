"""OdExport: the transformed examples as files the TF Object Detection API reads as they are.

Like TFX's Pusher, it writes into its own artifact (OdApiExport) and publishes
a copy to `publish_dir`, recording both places and the sha256 of every file as
custom properties of the artifact in ML Metadata. What it writes: see
executor.py; options are checked when the pipeline is built.
"""

from tfx import types
from tfx.dsl.components.base import executor_spec
from tfx.dsl.components.base.base_beam_component import BaseBeamComponent
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from odweights.artifact_types import ClassWeights, IngestReport, LabelMap, OdApiExport
from odweights.components.od_export import executor
from odweights.components.od_export.options import ExportOptions

TRANSFORMED_EXAMPLES_KEY = "transformed_examples"
LABEL_MAP_KEY = "label_map"
CLASS_WEIGHTS_KEY = "class_weights"
REPORT_KEY = "report"
EXPORT_KEY = "export"

PUBLISH_DIR_KEY = "publish_dir"
NUM_SHARDS_KEY = "num_shards"
RESAMPLE_KEY = "resample"
RFS_ROUNDING_KEY = "rfs_rounding"
SEED_KEY = "seed"
KEEP_WEIGHTS_KEY = "keep_weights"


class OdExportSpec(ComponentSpec):
    """Inputs, output and parameters of OdExport."""

    PARAMETERS = {
        PUBLISH_DIR_KEY: ExecutionParameter(type=str),
        NUM_SHARDS_KEY: ExecutionParameter(type=int),
        RESAMPLE_KEY: ExecutionParameter(type=str),
        RFS_ROUNDING_KEY: ExecutionParameter(type=str),
        SEED_KEY: ExecutionParameter(type=int),
        KEEP_WEIGHTS_KEY: ExecutionParameter(type=int, optional=True),
    }
    INPUTS = {
        TRANSFORMED_EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        LABEL_MAP_KEY: ChannelParameter(type=LabelMap),
        CLASS_WEIGHTS_KEY: ChannelParameter(type=ClassWeights),
        REPORT_KEY: ChannelParameter(type=IngestReport),
    }
    OUTPUTS = {
        EXPORT_KEY: ChannelParameter(type=OdApiExport),
    }


class OdExport(BaseBeamComponent):
    """Uncompressed sharded TFRecords + label map + weights + summary, published."""

    SPEC_CLASS = OdExportSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        transformed_examples: types.BaseChannel,
        label_map: types.BaseChannel,
        class_weights: types.BaseChannel,
        report: types.BaseChannel,
        publish_dir: str | None = None,
        num_shards: int = ExportOptions.num_shards,
        resample: str = ExportOptions.resample,
        rfs_rounding: str = ExportOptions.rfs_rounding,
        seed: int = ExportOptions.seed,
        keep_weights: bool = ExportOptions.keep_weights,
    ):
        """Args:
        transformed_examples: WeightedTransform's transformed_examples.
        label_map: the VOC ExampleGen's label_map (copied as label_map.pbtxt).
        class_weights: WeightGen's class_weights (copied; repeat factors for rfs).
        report: the VOC ExampleGen's report (rejected.jsonl, totals.json).
        publish_dir: where the export is published (absolute path or URL such as
          gs://...); None or "" = kept only in the artifact.
        num_shards: shards per split; 0 = automatic, one per started 1,000
          images of the split (the VOC ExampleGen's count in the report).
        resample: "none", or "rfs" to repeat each image of the training split
          (the split the weights were computed on) by its repeat factor.
        rfs_rounding: "stochastic" (seeded per image) or "ceil".
        seed: seed of the stochastic rounding.
        keep_weights: with resample "rfs", keep the class weights on the boxes;
          by default every box then weighs 1.0 (no double balancing).
        """
        options = ExportOptions(
            publish_dir=publish_dir or "",
            num_shards=num_shards,
            resample=resample,
            rfs_rounding=rfs_rounding,
            seed=seed,
            keep_weights=keep_weights,
        )
        options.validate()
        spec = OdExportSpec(
            transformed_examples=transformed_examples,
            label_map=label_map,
            class_weights=class_weights,
            report=report,
            publish_dir=options.publish_dir,
            num_shards=options.num_shards,
            resample=options.resample,
            rfs_rounding=options.rfs_rounding,
            seed=options.seed,
            keep_weights=int(options.keep_weights),
            export=types.Channel(type=OdApiExport),
        )
        super().__init__(spec=spec)
