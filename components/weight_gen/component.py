"""WeightGen: per-class weights and repeat factors from StatisticsGen's statistics.

Inputs: `statistics` (StatisticsGen), `label_map` (VOC ExampleGen), optionally
`anomalies` (ExampleValidator: any anomaly stops the run). Output:
`class_weights`, a ClassWeights artifact holding class_weights.json and
class_weights.png. Options are checked when the pipeline is built, so a bad
option fails before anything runs.
"""

import json
from collections.abc import Mapping

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from odweights.artifact_types import ClassWeights, LabelMap
from odweights.components.weight_gen import executor
from odweights.components.weight_gen.weighting import (
    DEFAULT_BETA,
    DEFAULT_METHOD,
    DEFAULT_RFS_THRESHOLD,
    WeightOptions,
)

STATISTICS_KEY = "statistics"
LABEL_MAP_KEY = "label_map"
ANOMALIES_KEY = "anomalies"
CLASS_WEIGHTS_KEY = "class_weights"

METHOD_KEY = "method"
BETA_KEY = "beta"
RFS_THRESHOLD_KEY = "rfs_threshold"
MIN_WEIGHT_KEY = "min_weight"
MAX_WEIGHT_KEY = "max_weight"
NORMALIZE_KEY = "normalize"
CLASS_WEIGHTS_JSON_KEY = "class_weights_json"
DEFAULT_WEIGHT_KEY = "default_weight"
SPLIT_KEY = "split"


class WeightGenSpec(ComponentSpec):
    """Inputs, output and parameters of WeightGen."""

    PARAMETERS = {
        METHOD_KEY: ExecutionParameter(type=str),
        BETA_KEY: ExecutionParameter(type=float),
        RFS_THRESHOLD_KEY: ExecutionParameter(type=float),
        MIN_WEIGHT_KEY: ExecutionParameter(type=float, optional=True),
        MAX_WEIGHT_KEY: ExecutionParameter(type=float, optional=True),
        NORMALIZE_KEY: ExecutionParameter(type=str, optional=True),
        CLASS_WEIGHTS_JSON_KEY: ExecutionParameter(type=str),
        DEFAULT_WEIGHT_KEY: ExecutionParameter(type=float, optional=True),
        SPLIT_KEY: ExecutionParameter(type=str),
    }
    INPUTS = {
        STATISTICS_KEY: ChannelParameter(type=standard_artifacts.ExampleStatistics),
        LABEL_MAP_KEY: ChannelParameter(type=LabelMap),
        ANOMALIES_KEY: ChannelParameter(type=standard_artifacts.ExampleAnomalies, optional=True),
    }
    OUTPUTS = {
        CLASS_WEIGHTS_KEY: ChannelParameter(type=ClassWeights),
    }


class WeightGen(base_component.BaseComponent):
    """Class weights (for `image/object/weight`) and LVIS repeat factors per class."""

    SPEC_CLASS = WeightGenSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        statistics: types.BaseChannel,
        label_map: types.BaseChannel,
        anomalies: types.BaseChannel | None = None,
        method: str = DEFAULT_METHOD,
        beta: float = DEFAULT_BETA,
        rfs_threshold: float = DEFAULT_RFS_THRESHOLD,
        min_weight: float | None = None,
        class_weights: Mapping[str, float] | None = None,
        default_weight: float | None = None,
        split: str = "train",
        normalize: str | None = None,
        max_weight: float | None = None,
    ):
        """Args:
        statistics: StatisticsGen output, computed with statistics_options().
        label_map: the VOC ExampleGen's LabelMap; every class of it gets a weight.
        anomalies: ExampleValidator output; an anomaly in any split stops the run.
        method: manual | inverse_frequency | inverse_sqrt_frequency | balanced |
          effective_number | median_frequency | median_frequency_global.
        beta: effective_number's beta, in [0, 1).
        rfs_threshold: the repeat-factor threshold t, in (0, 1].
        min_weight: optional floor of the final weights (> 0).
        class_weights: {class name: weight > 0}; the weights of method manual,
          or final weights that override a computed method (held fixed when
          the scale is solved).
        default_weight: method manual only: the weight of classes not listed.
        split: the split whose statistics give the counts.
        normalize: the scale of the final weights: mean (box-weighted mean 1
          over the split), max (largest 1) or none (raw). None: mean for the
          computed methods, none for manual (weights as given).
        max_weight: optional cap of the final weights (> 0).
        """
        options = WeightOptions(
            method=method,
            beta=beta,
            rfs_threshold=rfs_threshold,
            min_weight=min_weight,
            class_weights={} if class_weights is None else class_weights,
            default_weight=default_weight,
            normalize=normalize,
            max_weight=max_weight,
        )
        spec = WeightGenSpec(
            statistics=statistics,
            label_map=label_map,
            anomalies=anomalies,
            method=options.method,
            beta=float(options.beta),
            rfs_threshold=float(options.rfs_threshold),
            min_weight=None if min_weight is None else float(min_weight),
            class_weights_json=json.dumps(
                {name: float(weight) for name, weight in options.class_weights.items()},
                sort_keys=True,
            ),
            default_weight=None if default_weight is None else float(default_weight),
            normalize=normalize,
            max_weight=None if max_weight is None else float(max_weight),
            split=split,
            class_weights=types.Channel(type=ClassWeights),
        )
        super().__init__(spec=spec)
