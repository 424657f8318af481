"""WeightGen checks its options when the pipeline is built and stores them as exec properties."""

import re

import pytest
from tfx import v1 as tfx
from tfx.types import standard_artifacts

from odweights.artifact_types import KFP_V2_TYPE_NAME_PATTERN, ClassWeights, LabelMap
from odweights.components.weight_gen.component import WeightGen
from odweights.errors import InvalidOptionsError


def channels():
    return dict(
        statistics=tfx.dsl.Channel(type=standard_artifacts.ExampleStatistics),
        label_map=tfx.dsl.Channel(type=LabelMap),
    )


def test_options_become_exec_properties():
    weight_gen = WeightGen(
        **channels(), method="manual", class_weights={"top": 1, "dress": 0.1}, default_weight=0.5
    )
    properties = weight_gen.exec_properties
    assert properties["method"] == "manual"
    assert properties["class_weights_json"] == '{"dress": 0.1, "top": 1.0}'
    assert properties["default_weight"] == 0.5 and properties["min_weight"] is None
    assert properties["split"] == "train" and properties["rfs_threshold"] == 0.001
    assert weight_gen.outputs["class_weights"].type is ClassWeights
    assert re.match(KFP_V2_TYPE_NAME_PATTERN, ClassWeights.TYPE_NAME)


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(method="inverse"), "unknown weighting method 'inverse'"),
        (dict(beta=1.5), r"beta must be a number in \[0, 1\)"),
        (dict(method="balanced", class_weights={"top": -1.0}), "must be positive numbers"),
    ],
)
def test_bad_options_fail_when_the_pipeline_is_built(options, message):
    with pytest.raises(InvalidOptionsError, match=message):
        WeightGen(**channels(), **options)
