"""What a finished run did, read back from ML Metadata.

`read_run` finds the run's executions (component, state, times, output
artifact URIs) in ML Metadata: the local runner uses it to publish a cached
export, the application to print the run's summary (app/run_summary.py).
"""

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from google.protobuf import json_format
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from odweights.errors import OdWeightsError
from odweights.maker import MAKER_PROPERTY

STATE_NAMES = {
    metadata_store_pb2.Execution.COMPLETE: "ran",
    metadata_store_pb2.Execution.CACHED: "cached",
    metadata_store_pb2.Execution.FAILED: "FAILED",
    metadata_store_pb2.Execution.RUNNING: "running",
    metadata_store_pb2.Execution.NEW: "new",
    metadata_store_pb2.Execution.CANCELED: "canceled",
}
_OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)


@dataclasses.dataclass
class ExecutionRecord:
    """One component's execution in one run."""

    component_id: str
    execution_id: int
    state: int
    started_ms: int
    ended_ms: int
    outputs: dict[str, list[str]]  # output key -> artifact URIs
    maker: dict[str, Any] = dataclasses.field(default_factory=dict)  # recorded on its outputs

    @property
    def state_name(self) -> str:
        return STATE_NAMES.get(self.state, str(self.state))

    @property
    def ran(self) -> bool:
        """True if the executor ran in this run (not reused from the cache, not failed)."""
        return self.state == metadata_store_pb2.Execution.COMPLETE

    @property
    def seconds(self) -> float:
        return max(0, self.ended_ms - self.started_ms) / 1000.0

    def output_uri(self, key: str) -> str:
        uris = self.outputs.get(key) or []
        if len(uris) != 1:
            raise OdWeightsError(
                f"{self.component_id} execution {self.execution_id} has {len(uris)} "
                f"{key!r} outputs in ML Metadata, expected 1"
            )
        return uris[0]


@dataclasses.dataclass
class RunRecord:
    """A pipeline run: its id and its executions in run order."""

    run_id: str
    executions: list[ExecutionRecord]

    def execution(self, component_id: str) -> ExecutionRecord:
        for record in self.executions:
            if record.component_id == component_id:
                return record
        raise OdWeightsError(f"run {self.run_id} has no execution of {component_id} in ML Metadata")


def sqlite_store(metadata_path: str, read_only: bool = True) -> metadata_store.MetadataStore:
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = (
        metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
        if read_only
        else metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    )
    return metadata_store.MetadataStore(config)


def read_run(
    metadata_path: str, pipeline_name: str, component_ids: Sequence[str], since_ms: int = 0
) -> RunRecord:
    """The newest run of `pipeline_name` started at or after `since_ms` (epoch milliseconds)."""
    store = sqlite_store(metadata_path)
    runs = [
        context
        for context in store.get_contexts_by_type("pipeline_run")
        if context.create_time_since_epoch >= since_ms
    ]
    pipeline = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if pipeline is None or not runs:
        raise OdWeightsError(f"{metadata_path} records no run of pipeline {pipeline_name!r}")
    pipeline_executions = {e.id for e in store.get_executions_by_context(pipeline.id)}
    run_executions = {}
    for run in sorted(runs, key=lambda context: context.id, reverse=True):
        run_executions = {
            e.id: e for e in store.get_executions_by_context(run.id) if e.id in pipeline_executions
        }
        if run_executions:
            break
    if not run_executions:
        raise OdWeightsError(f"{metadata_path} records no run of pipeline {pipeline_name!r}")

    records = []
    for component_id in component_ids:
        node = store.get_context_by_type_and_name("node", f"{pipeline_name}.{component_id}")
        if node is None:
            continue
        for execution in store.get_executions_by_context(node.id):
            if execution.id in run_executions:
                records.append(_execution_record(store, component_id, execution))
    records.sort(key=lambda record: record.execution_id)
    return RunRecord(run_id=run.name, executions=records)


def _execution_record(
    store, component_id: str, execution: metadata_store_pb2.Execution
) -> ExecutionRecord:
    events = [
        event
        for event in store.get_events_by_execution_ids([execution.id])
        if event.type in _OUTPUT_EVENTS
    ]
    artifacts = {
        artifact.id: artifact
        for artifact in store.get_artifacts_by_id([e.artifact_id for e in events])
    }
    outputs: dict[str, list[str]] = {}
    for event in events:
        key = event.path.steps[0].key if event.path.steps else ""
        uri = artifacts[event.artifact_id].uri
        if uri not in outputs.setdefault(key, []):
            outputs[key].append(uri)
    makers = [
        json_format.MessageToDict(artifact.custom_properties[MAKER_PROPERTY].struct_value)
        for artifact in artifacts.values()
        if MAKER_PROPERTY in artifact.custom_properties
    ]
    return ExecutionRecord(
        component_id=component_id,
        execution_id=execution.id,
        state=execution.last_known_state,
        started_ms=execution.create_time_since_epoch,
        ended_ms=execution.last_update_time_since_epoch,
        outputs=outputs,
        maker=makers[0] if makers else {},
    )


def read_json(path: str) -> dict:
    with open(path, encoding="utf-8") as file:
        return json.load(file)
