"""The odweights pipeline, defined once for every orchestrator.

VOC ExampleGen -> StatisticsGen -> OdApiSchemaGen -> ExampleValidator ->
WeightGen -> WeightedTransform -> OdExport. `odweights run` (LocalDagRunner or
BeamDagRunner) and `odweights compile-kubeflow` (KubeflowV2DagRunner) all
build their pipeline here; they only choose where it runs. TFX classes come from
their own modules, not tfx.v1, which imports every TFX extension (Vertex AI,
Kubernetes) at start-up (see docs/scale.md).
"""

from collections.abc import Mapping, Sequence

from ml_metadata.proto import metadata_store_pb2
from tfx.components.example_validator.component import ExampleValidator
from tfx.components.statistics_gen.component import StatisticsGen
from tfx.dsl.components.base import executor_spec
from tfx.orchestration.pipeline import Pipeline
from tfx.proto import transform_pb2

from odweights.components.od_export.component import OdExport
from odweights.components.od_export.options import ExportOptions
from odweights.components.od_schema_gen.component import OdApiSchemaGen
from odweights.components.tfx_executors import ExampleValidatorExecutor, StatisticsGenExecutor
from odweights.components.voc_example_gen.component import VocExampleGen
from odweights.components.weight_gen import weighting
from odweights.components.weight_gen.component import WeightGen
from odweights.components.weight_gen.statistics_counts import statistics_options
from odweights.components.weighted_transform.component import WeightedTransform
from odweights.pipelines import options as pipeline_options

# Node ids in run order (the components' default ids).
COMPONENT_IDS = (
    "VocExampleGen",
    "StatisticsGen",
    "OdApiSchemaGen",
    "ExampleValidator",
    "WeightGen",
    "WeightedTransform",
    "OdExport",
)


def create_pipeline(
    pipeline_name: str,
    pipeline_root: str,
    voc_dir: str,
    export_dir: str,
    splits: Sequence[str] = pipeline_options.DEFAULT_SPLITS,
    label_map_text: str | None = None,
    strict: bool = False,
    max_rejected_fraction: float = pipeline_options.DEFAULT_MAX_REJECTED_FRACTION,
    clip_tolerance: float | None = None,
    drop_difficult: bool = False,
    exif_policy: str | None = None,
    exif_frame: str | None = None,
    reencode_unsupported: bool = False,
    keep_partial_images: bool = False,
    merge_classes: Mapping[str, str] | None = None,
    method: str = weighting.DEFAULT_METHOD,
    beta: float = weighting.DEFAULT_BETA,
    rfs_threshold: float = weighting.DEFAULT_RFS_THRESHOLD,
    min_weight: float | None = None,
    class_weights: Mapping[str, float] | None = None,
    default_weight: float | None = None,
    normalize: str | None = None,
    max_weight: float | None = None,
    weights_split: str = "train",
    num_shards: int = ExportOptions.num_shards,
    resample: str = ExportOptions.resample,
    rfs_rounding: str = ExportOptions.rfs_rounding,
    seed: int = ExportOptions.seed,
    keep_weights: bool = ExportOptions.keep_weights,
    metadata_connection_config: metadata_store_pb2.ConnectionConfig | None = None,
    beam_pipeline_args: list[str] | None = None,
    ingest_beam_args: list[str] | None = None,
) -> Pipeline:
    """The seven components, wired, with caching on.

    Args:
      pipeline_name: the name ML Metadata records runs under.
      pipeline_root: where the components write their artifacts.
      voc_dir: a VOCdevkit folder, one year folder, or a flat folder of XML
        files and images.
      export_dir: where OdExport publishes the OD API files.
      splits: VOCdevkit: ImageSets/Main/<split>.txt to read; flat folder: the
        hash-bucket output splits.
      label_map_text: a StringIntLabelMap in text format fixing names and ids
        (its text, not a path, so that a changed label map invalidates the cache),
        or None to assign ids from the class names found.
      strict, max_rejected_fraction, clip_tolerance, drop_difficult, exif_policy, exif_frame,
        reencode_unsupported, keep_partial_images, merge_classes: VOC ExampleGen's
        ingest options (None: its default).
      method, beta, rfs_threshold, min_weight, class_weights, default_weight,
        normalize, max_weight, weights_split: WeightGen's options.
      num_shards, resample, rfs_rounding, seed, keep_weights: OdExport's options.
      metadata_connection_config: ML Metadata; None lets the orchestrator decide
        (Kubeflow).
      beam_pipeline_args: for every Beam-based component.
      ingest_beam_args: added for the VOC ExampleGen alone (e.g. its worker
        processes: options.ingest_beam_args).
    """
    ingest_options = dict(
        strict=strict,
        max_rejected_fraction=max_rejected_fraction,
        drop_difficult=drop_difficult,
        reencode_unsupported=reencode_unsupported,
        keep_partial_images=keep_partial_images,
        merge_classes=dict(merge_classes or {}),
        exif_frame=exif_frame,
    )
    if clip_tolerance is not None:
        ingest_options["clip_tolerance"] = clip_tolerance
    if exif_policy is not None:
        ingest_options["exif_policy"] = exif_policy
    # The layout of voc_dir is detected when VocExampleGen runs: building (and
    # compiling) the pipeline never reads the data.
    example_gen = VocExampleGen(
        input_base=voc_dir, splits=tuple(splits), label_map=label_map_text, **ingest_options
    )
    if ingest_beam_args:
        example_gen.with_beam_pipeline_args(list(ingest_beam_args))

    statistics_gen = StatisticsGen(
        examples=example_gen.outputs["examples"], stats_options=statistics_options()
    )
    # TFX's executors, recording their maker like every odweights executor.
    statistics_gen.executor_spec = executor_spec.BeamExecutorSpec(StatisticsGenExecutor)

    schema_gen = OdApiSchemaGen(statistics=statistics_gen.outputs["statistics"])

    example_validator = ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    example_validator.executor_spec = executor_spec.ExecutorClassSpec(ExampleValidatorExecutor)

    weight_gen = WeightGen(
        statistics=statistics_gen.outputs["statistics"],
        label_map=example_gen.outputs["label_map"],
        anomalies=example_validator.outputs["anomalies"],
        method=method,
        beta=beta,
        rfs_threshold=rfs_threshold,
        min_weight=min_weight,
        class_weights=dict(class_weights or {}),
        default_weight=default_weight,
        normalize=normalize,
        max_weight=max_weight,
        split=weights_split,
    )

    transform = WeightedTransform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        class_weights=weight_gen.outputs["class_weights"],
        splits_config=transform_pb2.SplitsConfig(analyze=[weights_split], transform=list(splits)),
    )

    export = OdExport(
        transformed_examples=transform.outputs["transformed_examples"],
        label_map=example_gen.outputs["label_map"],
        class_weights=weight_gen.outputs["class_weights"],
        report=example_gen.outputs["report"],
        publish_dir=export_dir,
        num_shards=num_shards,
        resample=resample,
        rfs_rounding=rfs_rounding,
        seed=seed,
        keep_weights=keep_weights,
    )

    return Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        components=[
            example_gen,
            statistics_gen,
            schema_gen,
            example_validator,
            weight_gen,
            transform,
            export,
        ],
        enable_cache=True,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_pipeline_args or []),
    )
