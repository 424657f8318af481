"""OdExport's options, checked when the pipeline is built and again when it runs."""

import dataclasses
import os

from odweights.components.od_export import resampling
from odweights.components.od_export.sharding import MAX_SHARDS
from odweights.errors import InvalidOptionsError


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    publish_dir: str = ""
    num_shards: int = 0
    resample: str = resampling.NONE
    rfs_rounding: str = resampling.STOCHASTIC
    seed: int = 0
    # With resample rfs: keep the class weights on the boxes. Default: weight 1.0
    # on every box, since repeating images already balances the classes.
    keep_weights: bool = False

    @property
    def writes_class_weights(self) -> bool:
        """False when the boxes get weight 1.0: rfs without keep_weights (no double
        balancing, see docs/weights.md)."""
        return self.resample != resampling.RFS or self.keep_weights

    def validate(self) -> None:
        if (
            isinstance(self.num_shards, bool)
            or not isinstance(self.num_shards, int)
            or not 0 <= self.num_shards <= MAX_SHARDS
        ):
            raise InvalidOptionsError(
                f"num_shards (--shards) must be an integer from 0 (automatic) to {MAX_SHARDS}, "
                f"not {self.num_shards!r}"
            )
        if self.resample not in resampling.RESAMPLE_MODES:
            raise InvalidOptionsError(
                f"resample (--resample) must be one of {', '.join(resampling.RESAMPLE_MODES)}, "
                f"not {self.resample!r}"
            )
        if self.rfs_rounding not in resampling.ROUNDING_MODES:
            raise InvalidOptionsError(
                f"rfs_rounding must be one of {', '.join(resampling.ROUNDING_MODES)}, "
                f"not {self.rfs_rounding!r}"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise InvalidOptionsError(f"seed must be an integer, not {self.seed!r}")
        if not isinstance(self.keep_weights, bool):
            raise InvalidOptionsError(
                f"keep_weights must be True or False, not {self.keep_weights!r}"
            )
        if self.keep_weights and self.resample != resampling.RFS:
            raise InvalidOptionsError(
                "keep_weights (--keep-weights) applies only with resample rfs (--resample "
                "rfs): without resampling the export always writes the class weights"
            )
        if self.publish_dir and not (os.path.isabs(self.publish_dir) or "://" in self.publish_dir):
            raise InvalidOptionsError(
                f"publish_dir {self.publish_dir!r} must be an absolute path or a URL "
                "(gs://...): the input_reader.config written for the OD API holds it"
            )
