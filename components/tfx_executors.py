"""TFX's own StatisticsGen and ExampleValidator executors, recording their maker.

odweights' components call `record_maker` in their executors; these two
components are TFX's, so the pipeline runs them with these subclasses, which
do the same and then run TFX's executor unchanged (see docs/audit.md). The
maker is set before TFX's Do: ExampleValidator returns copies of its output
artifacts, taken at its end.
"""

from typing import Any

from tfx import types
from tfx.components.example_validator import executor as example_validator_executor
from tfx.components.statistics_gen import executor as statistics_gen_executor

from odweights.maker import record_maker


class _RecordsMaker:
    """Mixed in before a TFX executor class: records the maker, then runs its Do."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ):
        record_maker(output_dict)
        return super().Do(input_dict, output_dict, exec_properties)


class StatisticsGenExecutor(_RecordsMaker, statistics_gen_executor.Executor):
    """TFX's StatisticsGen executor; its outputs record their maker."""


class ExampleValidatorExecutor(_RecordsMaker, example_validator_executor.Executor):
    """TFX's ExampleValidator executor; its outputs record their maker."""
