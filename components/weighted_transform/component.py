"""WeightedTransform: TFX's Transform with the ClassWeights artifact as an input channel.

The standard Transform takes only examples, schema and an analyzer cache; its
`custom_config` is fixed when the pipeline is built, so weights computed by an
upstream component could not reach the preprocessing_fn, and ML Metadata would
not record them as an input. This component has Transform's spec plus a
`class_weights` channel; its executor (executor.py) reads that artifact and
then runs the real Transform executor.

Defaults differ from Transform's where they cost time for nothing (see the
fixed cost in docs/benchmarks.md): statistics off (the data does not change,
only a weight is added), no analyzer cache (the preprocessing_fn has no analyzers to cache),
and tf.compat.v1 graph mode (tracing the preprocessing_fn as a TF2 function
took about twice as long on the test data; the transform graph works the same
at training time through `tft.TFTransformOutput`).
"""

from typing import Any

from tfx import types
from tfx.dsl.components.base import executor_spec
from tfx.dsl.components.base.base_beam_component import BaseBeamComponent
from tfx.proto import transform_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ComponentSpec
from tfx.utils import json_utils

from odweights.artifact_types import ClassWeights
from odweights.components.weighted_transform import executor

CLASS_WEIGHTS_KEY = "class_weights"

PREPROCESSING_FN = "odweights.components.weighted_transform.preprocessing.preprocessing_fn"


class WeightedTransformSpec(ComponentSpec):
    """TFX's TransformSpec plus the `class_weights` input."""

    PARAMETERS = dict(standard_component_specs.TransformSpec.PARAMETERS)
    INPUTS = {
        **standard_component_specs.TransformSpec.INPUTS,
        CLASS_WEIGHTS_KEY: ChannelParameter(type=ClassWeights),
    }
    OUTPUTS = dict(standard_component_specs.TransformSpec.OUTPUTS)


class WeightedTransform(BaseBeamComponent):
    """Adds `image/object/weight` to every example with tf.Transform (see preprocessing.py)."""

    SPEC_CLASS = WeightedTransformSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        schema: types.BaseChannel,
        class_weights: types.BaseChannel,
        splits_config: transform_pb2.SplitsConfig | None = None,
        disable_statistics: bool = True,
        preprocessing_fn: str = PREPROCESSING_FN,
        custom_config: dict[str, Any] | None = None,
        force_tf_compat_v1: bool = True,
    ):
        """Args:
        examples: the VOC ExampleGen's examples (every split is transformed;
          `splits_config` default: analyze 'train', transform all splits).
        schema: OdApiSchemaGen's schema (variable-length features, no fixed shapes).
        class_weights: WeightGen's ClassWeights; every class of the examples
          must have a weight, or the execution fails.
        splits_config: as Transform's.
        disable_statistics: True (default) skips Transform's pre/post-transform
          statistics and their 5 output artifacts.
        preprocessing_fn: module path of the preprocessing_fn; it receives
          `custom_config["class_weights"]` = {class name: weight}.
        custom_config: extra entries for the preprocessing_fn's custom_config.
        force_tf_compat_v1: True (default) runs the preprocessing_fn as a
          tf.compat.v1 graph, False traces it as a TF2 function (slower start).
        """
        if custom_config and CLASS_WEIGHTS_KEY in custom_config:
            raise ValueError(
                f"custom_config must not contain {CLASS_WEIGHTS_KEY!r}: the weights come "
                "from the class_weights channel"
            )
        statistics_outputs = {}
        if not disable_statistics:
            statistics_outputs = {
                standard_component_specs.PRE_TRANSFORM_SCHEMA_KEY: types.Channel(
                    type=standard_artifacts.Schema
                ),
                standard_component_specs.PRE_TRANSFORM_STATS_KEY: types.Channel(
                    type=standard_artifacts.ExampleStatistics
                ),
                standard_component_specs.POST_TRANSFORM_SCHEMA_KEY: types.Channel(
                    type=standard_artifacts.Schema
                ),
                standard_component_specs.POST_TRANSFORM_STATS_KEY: types.Channel(
                    type=standard_artifacts.ExampleStatistics
                ),
                standard_component_specs.POST_TRANSFORM_ANOMALIES_KEY: types.Channel(
                    type=standard_artifacts.ExampleAnomalies
                ),
            }
        transformed_examples = types.Channel(type=standard_artifacts.Examples)
        transformed_examples.matching_channel_name = standard_component_specs.EXAMPLES_KEY
        spec = WeightedTransformSpec(
            examples=examples,
            schema=schema,
            class_weights=class_weights,
            preprocessing_fn=preprocessing_fn,
            force_tf_compat_v1=int(force_tf_compat_v1),
            splits_config=splits_config,
            custom_config=json_utils.dumps(custom_config or {}),
            disable_statistics=int(disable_statistics),
            transform_graph=types.Channel(type=standard_artifacts.TransformGraph),
            transformed_examples=transformed_examples,
            **statistics_outputs,
        )
        super().__init__(spec=spec)
