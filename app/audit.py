"""`odweights audit`: the lineage of an export, read back from ML Metadata.

From an exported TFRecord file or export folder, finds the OdApiExport
artifact that produced it and walks ML Metadata's events back (artifact <-
OUTPUT of execution <- INPUTs of that execution <- ...) to the VOC ExampleGen
and its input folder, with what made each step (odweights.maker) and the
recorded `odweights run` command. `--verify` re-hashes the exported files and
recomputes the VOC input fingerprint, to tell whether anything changed since
the run; odweights.app.reproduce makes the export again.

The JSON document (`--json`) has these stable fields:
  format: "odweights.audit/1"
  path, metadata: the audited path and the ML Metadata file, as given
  export_dir: the folder the path belongs to; export_artifact: its artifact id
  executions: from the export back to the input, each with
    id, component_id, type, state, pipeline, run_id, start_time, end_time
    (ISO 8601 UTC), duration_seconds, tfx_version (that of its outputs),
    maker (the odweights_maker of its outputs, {} if none), properties (the
    execution properties), inputs and outputs ({key: [artifact
    ids]}), reused_by ([{id, state, run_id}] of later runs served from cache)
  artifacts: every input and output of those executions, each with
    id, type, uri, state, create_time, properties, custom_properties,
    produced_by (execution id)
  input: the VOC input: execution, input_base, input_config, span, version,
    input_fingerprint
  runs: each run of those executions once per maker: run_id, maker,
    executions (ids), command (as `odweights run` recorded it, or null)
  verify (with --verify only): ok, files ([{file, status, recorded_sha256,
    actual_sha256}], status ok|changed|missing|unrecorded_record|extra),
    input ({status ok|changed|missing, recorded, actual})
"""

import datetime
import json
import os
from typing import Any

from google.protobuf import json_format
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from odweights.errors import BadInputError, InvalidOptionsError
from odweights.maker import MAKER_PROPERTY, RUN_COMMAND_PROPERTY, format_command, format_maker

FORMAT = "odweights.audit/1"

# Types and property names written by the components and by TFX. The type name
# is artifact_types.OdApiExport.TYPE_NAME (a test checks it), written out so
# that an audit without --verify does not load TFX and TensorFlow.
EXPORT_TYPE_NAME = "odweights.OdApiExport"
PUSHED_DESTINATION = "pushed_destination"
FILE_SHA256 = "file_sha256"
INPUT_BASE = "input_base"
INPUT_CONFIG = "input_config"
INPUT_FINGERPRINT = "input_fingerprint"
TFX_VERSION = "tfx_version"
_PIPELINE_CONTEXT = "pipeline"
_RUN_CONTEXT = "pipeline_run"
_NODE_CONTEXT = "node"

_Event = metadata_store_pb2.Event
_Execution = metadata_store_pb2.Execution

# `odweights run --output-dir OUT` writes OUT/export and OUT/metadata.sqlite.
EXPORT_FOLDER = "export"
METADATA_FILE = "metadata.sqlite"


def default_metadata_path(path: str) -> str:
    """OUT/metadata.sqlite when `path` lies inside OUT/export (the layout of `odweights run`).

    Raises InvalidOptionsError when it does not: the store cannot be guessed.
    """
    location = os.path.abspath(path)
    while True:
        if os.path.basename(location) == EXPORT_FOLDER:
            return os.path.join(os.path.dirname(location), METADATA_FILE)
        parent = os.path.dirname(location)
        if parent == location:
            raise InvalidOptionsError(
                f"{path} is not inside an OUT/{EXPORT_FOLDER} folder of `odweights run`, so "
                "the ML Metadata file cannot be guessed: give it with --metadata FILE"
            )
        location = parent


def run_audit(
    path: str, metadata_path: str | None = None, as_json: bool = False, verify: bool = False
) -> int:
    """Prints the lineage of the export at `path`; returns the exit code (0).

    `metadata_path` None: default_metadata_path(path).

    Raises:
      InvalidOptionsError (exit 2): no metadata file, or no export in it that
        `path` belongs to.
      BadInputError (exit 3): with `verify`, after printing the report, when an
        exported file or the VOC input changed since the run.
    """
    if metadata_path is None:
        metadata_path = default_metadata_path(path)
    document = lineage(path, metadata_path)
    export_dir = document["export_dir"]
    if verify:
        document["verify"] = _verify(document, export_dir)
    print(
        json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)
        if as_json
        else format_text(document)
    )
    if verify and not document["verify"]["ok"]:
        raise BadInputError(_verify_failure_message(document["verify"], export_dir))
    return 0


def lineage(path: str, metadata_path: str) -> dict[str, Any]:
    """The audit document of the export at `path` (the fields above, without `verify`).

    Raises InvalidOptionsError as run_audit does.
    """
    store = _open_store(metadata_path)
    export_dir, export = _find_export(store, path, metadata_path)
    return dict(
        format=FORMAT,
        path=path,
        metadata=metadata_path,
        export_dir=export_dir,
        export_artifact=export.id,
        **_lineage_document(store, export),
    )


# --- Finding the export ---------------------------------------------------


def _open_store(metadata_path: str) -> metadata_store.MetadataStore:
    if not os.path.isfile(metadata_path):
        raise InvalidOptionsError(
            f"no ML Metadata file at {metadata_path}: give the one of the run with "
            "--metadata (`odweights run` writes OUTPUT_DIR/metadata.sqlite)"
        )
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    try:
        return metadata_store.MetadataStore(config)
    except RuntimeError:  # what ML Metadata raises for a database without its tables
        raise InvalidOptionsError(
            f"{metadata_path} is not an ML Metadata store (it lacks ML Metadata's "
            "tables); give the metadata.sqlite of the run with --metadata"
        ) from None


def _normalised(location: str) -> str:
    if "://" in location:
        return location.rstrip("/")
    return os.path.realpath(location)


def _find_export(store, path: str, metadata_path: str) -> tuple[str, metadata_store_pb2.Artifact]:
    """(export folder, latest OdApiExport artifact whose uri or destination it is)."""
    if not os.path.exists(path):
        raise InvalidOptionsError(
            f"{path} does not exist: give an exported TFRecord file or the export "
            "folder (OUTPUT_DIR/export)"
        )
    export_dir = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    wanted = _normalised(export_dir)
    exports = store.get_artifacts_by_type(EXPORT_TYPE_NAME)
    matches = [
        artifact
        for artifact in exports
        if wanted in {_normalised(location) for location in _export_locations(artifact)}
    ]
    if not matches:
        # Published folders first: those are the ones users look for.
        known = list(
            dict.fromkeys(
                sorted(
                    {
                        location
                        for artifact in exports
                        for location in _export_locations(artifact)[1:]
                    }
                )
                + sorted(artifact.uri for artifact in exports)
            )
        )
        more = f" and {len(known) - 6} more" if len(known) > 6 else ""
        hint = (
            f"exports recorded there: {', '.join(known[:6])}{more}"
            if known
            else "it records no export at all"
        )
        raise InvalidOptionsError(
            f"no export in {metadata_path} was written to {export_dir} ({hint}); "
            "give a file or folder of a recorded export, or the metadata file of the "
            "run that wrote this one"
        )
    export = max(matches, key=lambda artifact: (artifact.create_time_since_epoch, artifact.id))
    if not os.path.isdir(path):
        recorded = _custom_properties(export).get(FILE_SHA256) or {}
        if os.path.basename(path) not in recorded:
            raise InvalidOptionsError(
                f"{path} is not one of the files of the export in {export_dir} "
                f"(its files: {', '.join(sorted(recorded))})"
            )
    return export_dir, export


def _export_locations(artifact) -> list[str]:
    locations = [artifact.uri]
    destination = artifact.custom_properties.get(PUSHED_DESTINATION)
    if destination is not None and destination.string_value:
        locations.append(destination.string_value)
    return locations


# --- Walking the lineage --------------------------------------------------


def _lineage_document(store, export) -> dict[str, Any]:
    """Executions (export first) and artifacts of the chain from the export back."""
    executions: dict[int, _Execution] = {}
    producers: dict[int, int] = {}
    reused_by: dict[int, list[int]] = {}
    events_of: dict[int, list[_Event]] = {}
    artifact_ids: list[int] = []
    frontier = [export.id]
    while frontier:
        for artifact_id in frontier:
            if artifact_id not in artifact_ids:
                artifact_ids.append(artifact_id)
        producer_ids = _producers(store, frontier, producers, reused_by)
        new_ids = [i for i in dict.fromkeys(producer_ids) if i not in executions]
        for execution in store.get_executions_by_id(new_ids):
            executions[execution.id] = execution
        next_frontier = []
        for event in store.get_events_by_execution_ids(new_ids):
            events_of.setdefault(event.execution_id, []).append(event)
            if event.artifact_id not in artifact_ids and event.artifact_id not in next_frontier:
                next_frontier.append(event.artifact_id)
        frontier = next_frontier
    # A producer always starts before its consumers: latest first is export first.
    execution_order = sorted(
        executions, key=lambda i: (executions[i].create_time_since_epoch, i), reverse=True
    )
    artifacts = {a.id: a for a in store.get_artifacts_by_id(artifact_ids)}
    type_names = {t.id: t.name for t in store.get_artifact_types()}
    cached = {
        e.id: e
        for e in store.get_executions_by_id(sorted({i for ids in reused_by.values() for i in ids}))
    }
    execution_docs = [
        _execution_doc(
            store,
            executions[i],
            events_of.get(i, []),
            [cached[c] for c in reused_by.get(i, [])],
            artifacts,
        )
        for i in execution_order
    ]
    artifact_docs = [
        _artifact_doc(artifacts[i], type_names, producers.get(i)) for i in artifact_ids
    ]
    return dict(
        executions=execution_docs,
        artifacts=artifact_docs,
        input=_input_doc(execution_docs, artifact_docs),
        runs=_runs(store, execution_docs),
    )


def _runs(store, executions) -> list[dict[str, Any]]:
    """The runs whose executions made the export, each with its maker and its recorded
    `odweights run` command; a run whose executions recorded different makers (the
    code changed while it ran) is listed once per maker."""
    runs: list[dict[str, Any]] = []
    for execution in executions:
        entry = next(
            (
                run
                for run in runs
                if run["run_id"] == execution["run_id"] and run["maker"] == execution["maker"]
            ),
            None,
        )
        if entry is None:
            entry = dict(
                run_id=execution["run_id"],
                maker=execution["maker"],
                command=_run_command(store, execution["run_id"]),
                executions=[],
            )
            runs.append(entry)
        entry["executions"].append(execution["id"])
    return runs


def recorded_command(metadata_path: str, run_id: str) -> dict[str, Any] | None:
    """The `odweights run` command recorded for a run in that store, or None."""
    return _run_command(_open_store(metadata_path), run_id)


def _run_command(store, run_id: str) -> dict[str, Any] | None:
    """The `odweights run` command recorded on a run's context, or None."""
    context = store.get_context_by_type_and_name(_RUN_CONTEXT, run_id) if run_id else None
    if context is None or RUN_COMMAND_PROPERTY not in context.custom_properties:
        return None
    return json.loads(context.custom_properties[RUN_COMMAND_PROPERTY].string_value)


def _producers(store, artifact_ids, producers, reused_by) -> list[int]:
    """Ids of the executions that output `artifact_ids` (the one that ran, not a cache hit)."""
    outputs: dict[int, list[int]] = {}
    for event in store.get_events_by_artifact_ids(artifact_ids):
        if event.type in (_Event.OUTPUT, _Event.DECLARED_OUTPUT, _Event.INTERNAL_OUTPUT):
            outputs.setdefault(event.artifact_id, []).append(event.execution_id)
    states = {
        e.id: e.last_known_state
        for e in store.get_executions_by_id(sorted({i for ids in outputs.values() for i in ids}))
    }
    result = []
    for artifact_id, execution_ids in outputs.items():
        execution_ids = sorted(set(execution_ids))
        ran = [i for i in execution_ids if states.get(i) != _Execution.CACHED] or execution_ids
        producers[artifact_id] = ran[0]
        reused_by[ran[0]] = sorted(
            set(reused_by.get(ran[0], [])) | {i for i in execution_ids if i != ran[0]}
        )
        result.append(ran[0])
    return result


def _contexts(store, execution_id: int) -> dict[str, str]:
    return {
        context.type: context.name
        for context in store.get_contexts_by_execution(execution_id)
        if context.type in (_PIPELINE_CONTEXT, _RUN_CONTEXT, _NODE_CONTEXT)
    }


def _execution_doc(store, execution, events, reusing, artifacts) -> dict[str, Any]:
    contexts = _contexts(store, execution.id)
    pipeline = contexts.get(_PIPELINE_CONTEXT, "")
    node = contexts.get(_NODE_CONTEXT, "")
    component_id = (
        node[len(pipeline) + 1 :]
        if pipeline and node.startswith(pipeline + ".")
        else (node or execution.type.rsplit(".", 1)[-1])
    )
    inputs: dict[str, list[int]] = {}
    outputs: dict[str, list[int]] = {}
    for event in sorted(events, key=lambda e: (_event_key(e), e.artifact_id)):
        side = inputs if event.type in (_Event.INPUT, _Event.DECLARED_INPUT) else outputs
        side.setdefault(_event_key(event), []).append(event.artifact_id)
    versions = sorted(
        {
            _value(artifacts[a].custom_properties[TFX_VERSION])
            for ids in outputs.values()
            for a in ids
            if a in artifacts and TFX_VERSION in artifacts[a].custom_properties
        }
    )
    # One record_maker call wrote the same maker on every output of the execution.
    makers = [
        _value(artifacts[a].custom_properties[MAKER_PROPERTY])
        for ids in outputs.values()
        for a in ids
        if a in artifacts and MAKER_PROPERTY in artifacts[a].custom_properties
    ]
    start, end = execution.create_time_since_epoch, execution.last_update_time_since_epoch
    return dict(
        id=execution.id,
        component_id=component_id,
        type=execution.type,
        state=_Execution.State.Name(execution.last_known_state),
        pipeline=pipeline,
        run_id=contexts.get(_RUN_CONTEXT, ""),
        start_time=_iso_time(start),
        end_time=_iso_time(end),
        duration_seconds=round((end - start) / 1000.0, 3),
        tfx_version=", ".join(versions),
        maker=makers[0] if makers else {},
        properties=_decoded(execution.custom_properties, execution.properties),
        inputs=inputs,
        outputs=outputs,
        reused_by=[
            dict(
                id=e.id,
                state=_Execution.State.Name(e.last_known_state),
                run_id=_contexts(store, e.id).get(_RUN_CONTEXT, ""),
            )
            for e in reusing
        ],
    )


def _event_key(event) -> str:
    return next((step.key for step in event.path.steps if step.HasField("key")), "")


def _artifact_doc(artifact, type_names, produced_by: int | None) -> dict[str, Any]:
    return dict(
        id=artifact.id,
        type=artifact.type or type_names.get(artifact.type_id, ""),
        uri=artifact.uri,
        state=metadata_store_pb2.Artifact.State.Name(artifact.state),
        create_time=_iso_time(artifact.create_time_since_epoch),
        properties=_decoded(artifact.properties),
        custom_properties=_custom_properties(artifact),
        produced_by=produced_by,
    )


def _input_doc(executions, artifacts) -> dict[str, Any]:
    """The VOC input: the input_base of the execution that read files, not artifacts."""
    readers = [e for e in executions if not e["inputs"] and INPUT_BASE in e["properties"]]
    if not readers:
        return {}
    reader = readers[-1]
    examples = next(
        (
            a
            for a in artifacts
            if a["produced_by"] == reader["id"] and INPUT_FINGERPRINT in a["custom_properties"]
        ),
        None,
    )
    recorded = examples["custom_properties"] if examples else reader["properties"]
    return dict(
        execution=reader["id"],
        input_base=reader["properties"][INPUT_BASE],
        input_config=reader["properties"].get(INPUT_CONFIG, ""),
        span=recorded.get("span", reader["properties"].get("span")),
        version=recorded.get("version", reader["properties"].get("version")),
        input_fingerprint=recorded.get(
            INPUT_FINGERPRINT, reader["properties"].get(INPUT_FINGERPRINT, "")
        ),
    )


def _custom_properties(artifact) -> dict[str, Any]:
    return _decoded(artifact.custom_properties)


def _decoded(*maps) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for values in maps:
        for key in sorted(values):
            result[key] = _value(values[key])
    return dict(sorted(result.items()))


def _value(value: metadata_store_pb2.Value) -> Any:
    kind = value.WhichOneof("value")
    if kind == "struct_value":
        decoded = _integral(json_format.MessageToDict(value.struct_value))
        # TFX wraps JSON values that are not objects as {"__value__": ...}.
        return decoded["__value__"] if set(decoded) == {"__value__"} else decoded
    if kind == "proto_value":
        return json_format.MessageToDict(value.proto_value)
    return getattr(value, kind) if kind else None


def _integral(value: Any) -> Any:
    """Struct numbers are doubles; counts read better as the integers they were."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integral(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral(item) for item in value]
    return value


def _iso_time(milliseconds: int) -> str:
    moment = datetime.datetime.fromtimestamp(milliseconds / 1000.0, tz=datetime.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- Verification -----------------------------------------------------------


def _verify(document: dict[str, Any], export_dir: str) -> dict[str, Any]:
    from odweights.components.od_export.publish import (
        MANIFEST_FILE,
        export_files,
        file_sha256,
        read_manifest,
    )
    from odweights.components.od_export.sharding import is_record_file

    export = next(a for a in document["artifacts"] if a["id"] == document["export_artifact"])
    recorded: dict[str, str] = export["custom_properties"].get(FILE_SHA256) or {}
    # The export's manifest.json lists its files (size and sha256); ML Metadata holds the
    # manifest's own sha256, so a manifest edited to match changed files is caught too.
    manifest = read_manifest(export_dir)
    sizes: dict[str, int] = {}
    if manifest is not None:
        sizes = {name: entry["size"] for name, entry in manifest.items()}
        recorded = {name: entry["sha256"] for name, entry in manifest.items()}
        recorded_manifest = export["custom_properties"].get(FILE_SHA256, {}).get(MANIFEST_FILE)
        recorded[MANIFEST_FILE] = recorded_manifest or file_sha256(
            os.path.join(export_dir, MANIFEST_FILE)
        )
    present = set(export_files(export_dir))
    files = []
    for name in sorted(set(recorded) | present):
        expected = recorded.get(name)
        path = os.path.join(export_dir, name)
        if expected is None:
            status = "unrecorded_record" if is_record_file(name) else "extra"
            actual = file_sha256(path)
        elif name not in present:
            status, actual = "missing", None
        elif name in sizes and os.path.getsize(path) != sizes[name]:
            status, actual = "changed", file_sha256(path)
        else:
            actual = file_sha256(path)
            status = "ok" if actual == expected else "changed"
        files.append(dict(file=name, status=status, recorded_sha256=expected, actual_sha256=actual))
    input_check = verify_input(document["input"])
    ok = all(f["status"] in ("ok", "extra") for f in files) and input_check["status"] == "ok"
    return dict(ok=ok, files=files, input=input_check)


def verify_input(input_doc: dict[str, Any]) -> dict[str, Any]:
    from odweights.components.voc_example_gen.driver import compute_input_fingerprint

    recorded = input_doc.get(INPUT_FINGERPRINT)
    input_base = input_doc.get(INPUT_BASE)
    if not input_base or ("://" not in input_base and not os.path.isdir(input_base)):
        return dict(status="missing", recorded=recorded, actual=None)
    actual = compute_input_fingerprint(input_base, input_doc[INPUT_CONFIG])
    return dict(status="ok" if actual == recorded else "changed", recorded=recorded, actual=actual)


def _verify_failure_message(verification: dict[str, Any], export_dir: str) -> str:
    problems = [
        f"{f['file']} {f['status'].replace('_', ' ')}"
        for f in verification["files"]
        if f["status"] not in ("ok", "extra")
    ]
    if verification["input"]["status"] != "ok":
        problems.append(f"VOC input {verification['input']['status']}")
    return (
        f"the export in {export_dir} does not match the run that wrote it: "
        f"{'; '.join(problems)}. Restore the files, or run `odweights run` again to "
        "write a new export (and audit that)"
    )


# --- Text report ------------------------------------------------------------


_MAX_INLINE = 100


def format_text(document: dict[str, Any]) -> str:
    artifacts = {a["id"]: a for a in document["artifacts"]}
    executions = document["executions"]
    step_of = {e["id"]: n for n, e in enumerate(executions, start=1)}
    export = artifacts[document["export_artifact"]]
    lines = [
        f"Export {document['export_dir']}",
        f"  artifact {export['id']} ({export['type']}), created {export['create_time']}, "
        f"metadata {document['metadata']}",
        "",
        "Made by (once per run):",
        *_maker_lines(document["runs"], step_of),
        "",
        f"Lineage, from the export back to the VOC input ({len(executions)} executions, "
        f"{len(artifacts)} artifacts):",
    ]
    for number, execution in enumerate(executions, start=1):
        lines.append("")
        lines.append(
            f"[{number}] {execution['component_id']}  execution {execution['id']}  "
            f"{execution['state']}  ({execution['type']})"
        )
        lines.append(
            f"    run {execution['run_id']} of pipeline {execution['pipeline']}, "
            f"{execution['start_time']} -> {execution['end_time']} "
            f"({execution['duration_seconds']:.1f} s), TFX {execution['tfx_version']}"
        )
        for reuse in execution["reused_by"]:
            lines.append(
                f"    reused by execution {reuse['id']} ({reuse['state']}) in run {reuse['run_id']}"
            )
        if execution["properties"]:
            lines.append("    parameters:")
            lines.extend(_property_lines(execution["properties"], "      "))
        for key, ids in execution["inputs"].items():
            for artifact_id in ids:
                producer = artifacts[artifact_id]["produced_by"]
                origin = f"from [{step_of[producer]}]" if producer in step_of else "no producer"
                lines.append(
                    f"    input  {key}: artifact {artifact_id} "
                    f"({artifacts[artifact_id]['type']}, {origin})"
                )
        for key, ids in execution["outputs"].items():
            for artifact_id in ids:
                artifact = artifacts[artifact_id]
                lines.append(f"    output {key}: artifact {artifact_id} ({artifact['type']})")
                lines.append(f"      uri: {artifact['uri']}")
                lines.extend(
                    _property_lines(
                        dict(artifact["properties"], **artifact["custom_properties"]), "      "
                    )
                )
    if document["input"]:
        source = document["input"]
        lines += [
            "",
            f"VOC input: {source['input_base']}  "
            f"(read by [{step_of[source['execution']]}], span {source['span']}, "
            f"version {'-' if source['version'] is None else source['version']})",
            "  input_fingerprint:",
        ]
        lines.extend("    " + line for line in str(source["input_fingerprint"]).splitlines())
    if "verify" in document:
        lines += ["", *_verify_lines(document["verify"])]
    return "\n".join(lines)


def _maker_lines(runs: list[dict[str, Any]], step_of: dict[int, int]) -> list[str]:
    lines = []
    for run in runs:
        steps = " ".join(f"[{step_of[i]}]" for i in run["executions"])
        lines.append(f"  run {run['run_id'] or '(none)'}, executions {steps}:")
        lines.append(f"    {format_maker(run['maker'])}")
        if run["command"]:
            lines.append(
                "    command: "
                + format_command(run["command"]["options"], run["command"]["output_dir"])
            )
    return lines


def _property_lines(properties: dict[str, Any], indent: str) -> list[str]:
    """One line per property, long values cut; the recorded file hashes in full."""
    lines = []
    for key, value in properties.items():
        if key == FILE_SHA256 and isinstance(value, dict):
            lines.append(f"{indent}{key}:")
            lines.extend(f"{indent}  {name}: {value[name]}" for name in sorted(value))
        else:
            lines.append(f"{indent}{key}: {_inline(value)}")
    return lines


def _inline(value: Any) -> str:
    text = (
        value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)
    )
    text = " ".join(text.split())
    return text if len(text) <= _MAX_INLINE else text[:_MAX_INLINE] + " ... (see --json)"


def _verify_lines(verification: dict[str, Any]) -> list[str]:
    lines = ["Verification (sha256 of the exported files, fingerprint of the VOC input):"]
    for entry in verification["files"]:
        detail = ""
        if entry["status"] == "changed":
            detail = f"  recorded {entry['recorded_sha256']}, now {entry['actual_sha256']}"
        elif entry["status"] == "unrecorded_record":
            detail = "  a record file that the run did not write"
        elif entry["status"] == "extra":
            detail = "  not part of the export (left alone)"
        lines.append(f"  {entry['status'].upper():17} {entry['file']}{detail}")
    source = verification["input"]
    lines.append(
        f"  {source['status'].upper():17} VOC input fingerprint"
        + (
            ""
            if source["status"] == "ok"
            else f"  recorded {source['recorded']!r}, now {source['actual']!r}"
        )
    )
    lines.append(
        "Verification "
        + (
            "passed: nothing changed since the run."
            if verification["ok"]
            else "FAILED: see the lines above."
        )
    )
    return lines
