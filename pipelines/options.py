"""What a user chooses for one pipeline: input, ingest, weighting and export options.

`odweights run` and `odweights compile-kubeflow` build a PipelineOptions from
their flags, validate it before anything heavy is imported (a bad option is
exit code 2 within a second, not after minutes of pipeline), and hand
`factory_arguments()` to `create_pipeline`. Where a component already
validates its own options (WeightGen's WeightOptions), that check is reused.
"""

import dataclasses
from collections.abc import Mapping
from typing import Any

from odweights.components.od_export.options import ExportOptions
from odweights.components.voc_example_gen.ingest_options import (
    DEFAULT_CLIP_TOLERANCE,
    DEFAULT_EXIF_POLICY,
    DEFAULT_MAX_REJECTED_FRACTION,
    check_ingest_options,
    training_split,
)
from odweights.components.voc_example_gen.split_names import check_split_names
from odweights.components.weight_gen import weighting
from odweights.errors import InvalidOptionsError

PIPELINE_NAME = "odweights"

# The DirectRunner in one process with one worker. These are Beam's own
# defaults, so the constant is empty on purpose: any non-empty
# beam_pipeline_args make every TFX Beam executor repackage the installed TFX
# as an sdist to stage it for remote workers (tfx.utils.dependency_utils,
# about 8 s per executor here), which the in-process DirectRunner never uses.
# With image bytes inside the elements, multi-processing was the slower mode
# in the benchmarks (docs/benchmarks.md).
DEFAULT_BEAM_PIPELINE_ARGS: tuple[str, ...] = ()

# The in-process runner, named (docs/platforms.md). Beam's DirectRunner picks a
# runner per pipeline: Beam 2.60's runs these pipelines on its in-process
# FnApiRunner, Beam 2.77's first tries Prism, a binary it downloads at run time
# (and falls back when offline). Naming FnApiRunner runs the same runner on both
# stacks, online or offline; it costs the sdist above. A --runner among the
# user's Beam arguments replaces it.
IN_PROCESS_RUNNER_ARG = "--runner=apache_beam.runners.portability.fn_api_runner.FnApiRunner"

DEFAULT_SPLITS = ("train", "val")


def ingest_beam_args(ingest_workers: int) -> tuple[str, ...]:
    """Beam arguments of the VOC ExampleGen alone: N > 1 (0: one per core) local
    worker processes. Its elements are file names and parsed XML, so a second
    process doubles its throughput (docs/benchmarks.md); the other components move image
    bytes between processes and were slower that way."""
    if ingest_workers == 1:
        return ()
    return ("--direct_running_mode=multi_processing", f"--direct_num_workers={ingest_workers}")


@dataclasses.dataclass(frozen=True)
class PipelineOptions:
    """Every option of one pipeline; `validate()` raises InvalidOptionsError."""

    voc_dir: str
    splits: tuple[str, ...] = DEFAULT_SPLITS
    label_map_text: str | None = None
    # Ingest (VOC ExampleGen). None: the component's default.
    strict: bool = False
    max_rejected_fraction: float = DEFAULT_MAX_REJECTED_FRACTION
    clip_tolerance: float | None = None
    drop_difficult: bool = False
    exif_policy: str | None = None
    exif_frame: str | None = None
    reencode_unsupported: bool = False
    keep_partial_images: bool = False
    merge_classes: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # Weighting (WeightGen).
    method: str = weighting.DEFAULT_METHOD
    beta: float = weighting.DEFAULT_BETA
    rfs_threshold: float = weighting.DEFAULT_RFS_THRESHOLD
    min_weight: float | None = None
    class_weights: Mapping[str, float] = dataclasses.field(default_factory=dict)
    default_weight: float | None = None
    # None: WeightGen's default for the method (mean; manual: none, weights as given).
    normalize: str | None = None
    max_weight: float | None = None
    # Export (OdExport); num_shards 0: one shard per started 1,000 images of a split.
    num_shards: int = ExportOptions.num_shards
    resample: str = ExportOptions.resample
    rfs_rounding: str = ExportOptions.rfs_rounding
    seed: int = ExportOptions.seed
    keep_weights: bool = ExportOptions.keep_weights
    # Appended to DEFAULT_BEAM_PIPELINE_ARGS for every Beam-based component.
    beam_args: tuple[str, ...] = ()
    # Local Beam worker processes of the VOC ExampleGen (ingest_beam_args).
    ingest_workers: int = 1
    pipeline_name: str = PIPELINE_NAME

    @property
    def weights_split(self) -> str:
        """The split whose statistics give the class counts: `train` if chosen, else the first."""
        return training_split(self.splits)

    @property
    def beam_pipeline_args(self) -> tuple[str, ...]:
        runner_chosen = any(arg.startswith("--runner=") for arg in self.beam_args)
        runner = () if runner_chosen else (IN_PROCESS_RUNNER_ARG,)
        return DEFAULT_BEAM_PIPELINE_ARGS + runner + tuple(self.beam_args)

    def validate(self) -> None:
        """Checks what can be checked without reading the dataset."""
        if not self.voc_dir:
            raise InvalidOptionsError("give the dataset folder with --voc-dir")
        if not self.splits or any(not name for name in self.splits):
            raise InvalidOptionsError(
                f"splits {list(self.splits)}: give split names separated by commas, "
                "e.g. --splits train,val"
            )
        check_split_names(self.splits)
        # None: the component's default.
        check_ingest_options(
            self.label_map_text,
            self.max_rejected_fraction,
            DEFAULT_CLIP_TOLERANCE if self.clip_tolerance is None else self.clip_tolerance,
            DEFAULT_EXIF_POLICY if self.exif_policy is None else self.exif_policy,
            self.exif_frame,
        )
        weighting.WeightOptions(**self._weight_arguments())
        ExportOptions(**self._export_arguments()).validate()
        if self.ingest_workers < 0:
            raise InvalidOptionsError(
                f"--ingest-workers {self.ingest_workers}: give 1 (in this process), N > 1 "
                "worker processes, or 0 for one per core"
            )
        bad_beam_args = [arg for arg in self.beam_args if not arg.startswith("--")]
        if bad_beam_args:
            raise InvalidOptionsError(
                f"Beam arguments must look like --name=value, got {bad_beam_args}; write "
                "each as --beam-arg=--runner=DataflowRunner"
            )

    def _weight_arguments(self) -> dict[str, Any]:
        """WeightGen's options: checked by validate(), passed on by factory_arguments()."""
        return dict(
            method=self.method,
            beta=self.beta,
            rfs_threshold=self.rfs_threshold,
            min_weight=self.min_weight,
            class_weights=dict(self.class_weights),
            default_weight=self.default_weight,
            normalize=self.normalize,
            max_weight=self.max_weight,
        )

    def _export_arguments(self) -> dict[str, Any]:
        """OdExport's options: checked by validate(), passed on by factory_arguments()."""
        return dict(
            num_shards=self.num_shards,
            resample=self.resample,
            rfs_rounding=self.rfs_rounding,
            seed=self.seed,
            keep_weights=self.keep_weights,
        )

    def factory_arguments(self) -> dict[str, Any]:
        """Keyword arguments of `create_pipeline` (all but root, export dir and metadata)."""
        return dict(
            pipeline_name=self.pipeline_name,
            voc_dir=self.voc_dir,
            splits=tuple(self.splits),
            label_map_text=self.label_map_text,
            strict=self.strict,
            max_rejected_fraction=self.max_rejected_fraction,
            clip_tolerance=self.clip_tolerance,
            drop_difficult=self.drop_difficult,
            exif_policy=self.exif_policy,
            exif_frame=self.exif_frame,
            reencode_unsupported=self.reencode_unsupported,
            keep_partial_images=self.keep_partial_images,
            merge_classes=dict(self.merge_classes),
            **self._weight_arguments(),
            weights_split=self.weights_split,
            **self._export_arguments(),
            beam_pipeline_args=list(self.beam_pipeline_args),
            ingest_beam_args=list(ingest_beam_args(self.ingest_workers)),
        )


def parse_splits(text: str) -> tuple[str, ...]:
    """`train,val` -> ('train', 'val')."""
    return tuple(name.strip() for name in text.split(","))
