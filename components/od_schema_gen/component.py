"""OdApiSchemaGen: SchemaGen for the VOC ExampleGen's records, with the OD API's rules.

Input `statistics` (StatisticsGen), output `schema` (a standard Schema artifact
holding schema.pbtxt, as SchemaGen writes it). See od_schema.py for the rules.
"""

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec

from odweights.components.od_schema_gen import executor


class OdApiSchemaGenSpec(ComponentSpec):
    """One input, one output, no parameters."""

    PARAMETERS = {}
    INPUTS = {
        "statistics": ChannelParameter(type=standard_artifacts.ExampleStatistics),
    }
    OUTPUTS = {
        "schema": ChannelParameter(type=standard_artifacts.Schema),
    }


class OdApiSchemaGen(base_component.BaseComponent):
    """Infers the schema from every split's statistics and adds the OD API's constraints."""

    SPEC_CLASS = OdApiSchemaGenSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, statistics: types.BaseChannel):
        super().__init__(
            spec=OdApiSchemaGenSpec(
                statistics=statistics, schema=types.Channel(type=standard_artifacts.Schema)
            )
        )
