"""What a finished run did, read back from ML Metadata and the run's artifacts.

`read_run` finds the run's executions (component, state, times, output
artifact URIs) in ML Metadata; `format_summary` renders the table printed at
the end of `odweights run` from them and from the export's summary.json and
class_weights.json.
"""

import dataclasses
import json
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence

from google.protobuf import json_format
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from odweights.components.od_export.input_reader import INPUT_READER_FILE
from odweights.errors import OdWeightsError
from odweights.maker import MAKER_PROPERTY, format_maker

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
    outputs: Dict[str, List[str]]  # output key -> artifact URIs
    maker: Dict[str, Any] = dataclasses.field(default_factory=dict)  # recorded on its outputs

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
                f"{key!r} outputs in ML Metadata, expected 1")
        return uris[0]


@dataclasses.dataclass
class RunRecord:
    """A pipeline run: its id and its executions in run order."""

    run_id: str
    executions: List[ExecutionRecord]

    def execution(self, component_id: str) -> ExecutionRecord:
        for record in self.executions:
            if record.component_id == component_id:
                return record
        raise OdWeightsError(f"run {self.run_id} has no execution of {component_id} in ML Metadata")


def sqlite_store(metadata_path: str, read_only: bool = True) -> metadata_store.MetadataStore:
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = (
        metadata_store_pb2.SqliteMetadataSourceConfig.READONLY if read_only
        else metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE)
    return metadata_store.MetadataStore(config)


def read_run(metadata_path: str, pipeline_name: str, component_ids: Sequence[str],
             since_ms: int = 0) -> RunRecord:
    """The newest run of `pipeline_name` started at or after `since_ms` (epoch milliseconds)."""
    store = sqlite_store(metadata_path)
    runs = [context for context in store.get_contexts_by_type("pipeline_run")
            if context.create_time_since_epoch >= since_ms]
    pipeline = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if pipeline is None or not runs:
        raise OdWeightsError(f"{metadata_path} records no run of pipeline {pipeline_name!r}")
    pipeline_executions = {e.id for e in store.get_executions_by_context(pipeline.id)}
    run_executions = {}
    for run in sorted(runs, key=lambda context: context.id, reverse=True):
        run_executions = {e.id: e for e in store.get_executions_by_context(run.id)
                          if e.id in pipeline_executions}
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


def _execution_record(store, component_id: str,
                      execution: metadata_store_pb2.Execution) -> ExecutionRecord:
    events = [event for event in store.get_events_by_execution_ids([execution.id])
              if event.type in _OUTPUT_EVENTS]
    artifacts = {artifact.id: artifact
                 for artifact in store.get_artifacts_by_id([e.artifact_id for e in events])}
    outputs: Dict[str, List[str]] = {}
    for event in events:
        key = event.path.steps[0].key if event.path.steps else ""
        uri = artifacts[event.artifact_id].uri
        if uri not in outputs.setdefault(key, []):
            outputs[key].append(uri)
    makers = [json_format.MessageToDict(artifact.custom_properties[MAKER_PROPERTY].struct_value)
              for artifact in artifacts.values() if MAKER_PROPERTY in artifact.custom_properties]
    return ExecutionRecord(
        component_id=component_id, execution_id=execution.id,
        state=execution.last_known_state,
        started_ms=execution.create_time_since_epoch,
        ended_ms=execution.last_update_time_since_epoch, outputs=outputs,
        maker=makers[0] if makers else {})


def read_json(path: str) -> dict:
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> List[str]:
    """Left-aligned first column, right-aligned numbers."""
    cells = [[str(value) for value in header]] + [[_cell(value) for value in row] for row in rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(header))]

    def line(row):
        return "  " + "  ".join(
            value.ljust(widths[i]) if i == 0 else value.rjust(widths[i])
            for i, value in enumerate(row)).rstrip()
    return [line(cells[0]), "  " + "  ".join("-" * width for width in widths)] + [
        line(row) for row in cells[1:]]


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _weights_line(class_weights: Mapping, export_weights: Mapping) -> List[str]:
    """The scale of the weights: mean_box_weight (1 keeps the OD API's loss scale, see
    docs/weights.md) and the range; and whether the boxes carry them at all."""
    weights = [c["weight"] for c in class_weights.get("classes", [])]
    if not weights:
        return []
    line = (f"Weights: normalize {class_weights.get('normalize')}, mean_box_weight "
            f"{_cell(class_weights.get('mean_box_weight'))}, range "
            f"{_cell(min(weights))}..{_cell(max(weights))}")
    if export_weights.get("box_weights") == "ones":
        line += "; the export writes 1.0 on every box (--resample rfs without --keep-weights)"
    return [line]


def _maker_lines(executions: Sequence[ExecutionRecord]) -> List[str]:
    """`Made by ...` as ML Metadata recorded it (see docs/audit.md); the components
    after each maker only when they differ (cached steps of an older code)."""
    makers: List[Dict[str, Any]] = []
    for record in executions:
        if record.maker not in makers:
            makers.append(record.maker)
    if len(makers) == 1:
        return [f"Made by {format_maker(makers[0])}"]
    return [f"Made by {format_maker(maker)} ("
            + ", ".join(r.component_id for r in executions if r.maker == maker) + ")"
            for maker in makers]


def format_summary(run: RunRecord, export_dir: str, summary: Mapping, class_weights: Mapping,
                   metadata_path: str, log_file: Optional[str] = None) -> str:
    """The end-of-run report: components, splits, classes, rejections, where the export is."""
    lines = [f"Run {run.run_id}", ""]
    lines += _table(("component", "state", "seconds"),
                    [(r.component_id, r.state_name, f"{r.seconds:.1f}") for r in run.executions])
    lines += ["", *_maker_lines(run.executions)]

    splits = summary.get("splits", {})
    lines += ["", "Splits"]
    lines += _table(("split", "images", "background", "objects", "records", "shards"),
                    [(name, s.get("images"), s.get("background_images"), s.get("objects"),
                      s.get("records"), s.get("num_shards"))
                     for name, s in splits.items()])

    parameters = class_weights.get("parameters", {})
    shown = {k: v for k, v in parameters.items() if v not in (None, {}, [])}
    lines += ["", f"Classes (counts from split {class_weights.get('split')!r}; method "
              f"{class_weights.get('method')}"
              + "".join(f", {k}={v}" for k, v in sorted(shown.items())) + ")"]
    lines += _table(("class", "id", "objects", "images", "weight", "repeat factor", "flags"),
                    [(c["name"], c["id"], c["objects"], c["images"], c["weight"],
                      c["repeat_factor"], ",".join(c.get("flags", [])))
                     for c in class_weights.get("classes", [])])
    lines += _weights_line(class_weights, summary.get("weights", {}))

    rejections = summary.get("rejections", {})
    by_reason = {reason: count for reason, count in
                 (rejections.get("by_reason") or {}).items() if count}
    lines += ["", f"Rejected: {rejections.get('images', 0)} images, "
              f"{rejections.get('objects', 0)} objects"
              + (" (nothing lost: every rejection is in rejected.jsonl)" if by_reason else "")]
    if by_reason:
        lines += _table(("reason", "count"), sorted(by_reason.items()))

    lines += [f"Warning: {warning}" for warning in summary.get("warnings", [])]
    lines += ["", f"Export: {export_dir}",
              f"  OD API: paste {os.path.join(export_dir, INPUT_READER_FILE)} into your "
              "pipeline.config (train_input_reader / eval_input_reader)",
              f"ML Metadata: {metadata_path}"]
    if log_file:
        lines.append(f"Log: {log_file}")
    return "\n".join(lines) + "\n"
