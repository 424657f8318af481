"""OdApiSchemaGen's executor: statistics of every split -> schema.pbtxt."""

import os
from typing import Any

from tfx import types
from tfx.components.schema_gen import executor as schema_gen_executor
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils

from odweights.components.od_schema_gen.od_schema import infer_od_api_schema
from odweights.maker import record_maker


class Executor(base_executor.BaseExecutor):
    """Writes the schema where SchemaGen would, so ExampleValidator and Transform read it."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        record_maker(output_dict)
        stats_artifact = artifact_utils.get_single_instance(input_dict["statistics"])
        splits = artifact_utils.decode_split_names(stats_artifact.split_names)
        schema = infer_od_api_schema(
            stats_artifact_utils.load_statistics(stats_artifact, split).proto() for split in splits
        )
        output_uri = os.path.join(
            artifact_utils.get_single_uri(output_dict["schema"]),
            schema_gen_executor.DEFAULT_FILE_NAME,
        )
        io_utils.write_pbtxt_file(output_uri, schema)
