"""The pipeline on this machine, on TFX's LocalDagRunner or BeamDagRunner.

Layout of the output folder OUT:
  OUT/metadata.sqlite   ML Metadata (SQLite), kept across runs: TFX's cache
  OUT/pipeline/         the pipeline root (every component's artifacts)
  OUT/export/           the OD API files of the latest run (and the application's report.html)
  OUT/run.log           everything TFX, Beam and TensorFlow logged in the latest run

The runner only chooses the orchestrator; the pipeline comes from
pipeline.create_pipeline. Both runners come from their own TFX modules, not
tfx.v1, which imports every TFX extension (Vertex AI, Kubernetes) at start-up.
TFX, TensorFlow and Beam are imported inside `running`, once the log file
captures what they log and warn while they load. What `odweights run` prints and
writes at the end (the summary, report.html) is the application's (app/run.py).
"""

import contextlib
import dataclasses
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, TextIO

from odweights import errors
from odweights.maker import RUN_COMMAND_PROPERTY
from odweights.pipelines import preflight, progress
from odweights.pipelines.options import IN_PROCESS_RUNNER_ARG, PipelineOptions

if TYPE_CHECKING:  # ML Metadata loads inside `running`, with the other libraries
    from odweights.pipelines.run_record import RunRecord

ORCHESTRATOR_LOCAL = "local"
ORCHESTRATOR_BEAM = "beam"
ORCHESTRATORS = (ORCHESTRATOR_LOCAL, ORCHESTRATOR_BEAM)

METADATA_FILE = "metadata.sqlite"
PIPELINE_DIR = "pipeline"
EXPORT_DIR = "export"
LOG_FILE = "run.log"

# Beam appends the failing step to an exception's message; users need the message only.
_BEAM_STEP_ANNOTATION = re.compile(r" \[while running '[^']*'\]")
# A multi-process or remote Beam worker returns the error as text.
_REMOTE_ERROR = re.compile(
    r"odweights\.errors\.(BadInputError|InvalidOptionsError): (.+?)(?: \[while running|\n|$)"
)


def _orchestrator(name: str):
    if name == ORCHESTRATOR_LOCAL:
        from tfx.orchestration.local.local_dag_runner import LocalDagRunner

        return LocalDagRunner()
    from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner

    return BeamDagRunner()


@dataclasses.dataclass
class LocalRun:
    """A finished run: what ML Metadata recorded of it, and where its files are."""

    record: "RunRecord"
    output_dir: str
    export_dir: str
    metadata_path: str
    log_file: str
    started: float  # time.monotonic() when the pipeline started
    loading_seconds: float  # loading TFX before that


@contextlib.contextmanager
def running(
    options: PipelineOptions,
    output_dir: str,
    orchestrator: str = ORCHESTRATOR_LOCAL,
    stream: TextIO | None = None,
    command: Mapping[str, Any] | None = None,
) -> Iterator[LocalRun]:
    """Runs the pipeline into `output_dir`, printing progress to `stream`, publishes
    its export, then yields the LocalRun while run.log still captures every log, so
    that what the caller does at the end of the run is logged there too.

    `command`: the `odweights run` command, recorded on the run's context in ML
    Metadata (maker.RUN_COMMAND_PROPERTY) for `odweights audit`.
    Raises OdWeightsError (exit code by its class) for anything that stops the run,
    the block's own exceptions included (see `user_error`).
    """
    stream = stream or sys.stdout
    options.validate()
    if orchestrator not in ORCHESTRATORS:
        raise errors.InvalidOptionsError(
            f"orchestrator {orchestrator!r}: choose one of {', '.join(ORCHESTRATORS)}"
        )
    output_dir = os.path.abspath(output_dir)
    preflight.check_output_dir(options.voc_dir, output_dir)
    preflight.check_split_files(options.voc_dir, options.splits)
    metadata_path = os.path.join(output_dir, METADATA_FILE)
    export_dir = os.path.join(output_dir, EXPORT_DIR)
    log_file = os.path.join(output_dir, LOG_FILE)
    try:
        os.makedirs(output_dir, exist_ok=True)
    except OSError as error:
        raise errors.InvalidOptionsError(
            f"cannot create the output folder {output_dir} ({error.strerror}); "
            "choose a writable --output-dir"
        ) from None

    started_ms = int(time.time() * 1000)
    # The in-process runner that options.py names is the DirectRunner's own FnApiRunner.
    beam_args = [arg for arg in options.beam_pipeline_args if arg != IN_PROCESS_RUNNER_ARG]
    stream.write(
        f"odweights: running pipeline {options.pipeline_name!r} on {orchestrator} "
        f"({' '.join(beam_args) or 'Beam DirectRunner, in process'})"
        f"\n  input  {options.voc_dir}\n  output {output_dir}\n  log    {log_file}\n"
    )
    stream.flush()
    with progress.capture_logs(log_file):
        loading = time.monotonic()
        from tfx.orchestration.metadata import sqlite_metadata_connection_config

        from odweights.pipelines.pipeline import COMPONENT_IDS, create_pipeline

        started = time.monotonic()
        pipeline = create_pipeline(
            pipeline_root=os.path.join(output_dir, PIPELINE_DIR),
            export_dir=export_dir,
            metadata_connection_config=(sqlite_metadata_connection_config(metadata_path)),
            **options.factory_arguments(),
        )
        handler = progress.ProgressHandler(COMPONENT_IDS, stream)
        with handler.watching():
            try:
                _orchestrator(orchestrator).run(pipeline)
            except Exception as error:  # every failure becomes an OdWeightsError
                handler.failed()
                if errors.interrupted(error):
                    raise KeyboardInterrupt from None
                if isinstance(error, errors.IngestStoppedError) and error.report_dir:
                    _publish_stopped_report(error, export_dir)
                raise user_error(error, log_file) from error
        record = _finish(options, metadata_path, export_dir, started_ms, COMPONENT_IDS)
        if command is not None:
            _record_command(metadata_path, record.run_id, command)
        try:
            yield LocalRun(
                record=record,
                output_dir=output_dir,
                export_dir=export_dir,
                metadata_path=metadata_path,
                log_file=log_file,
                started=started,
                loading_seconds=started - loading,
            )
        except Exception as error:  # the export is complete; say what failed and where
            raise user_error(error, log_file) from error


def _publish_stopped_report(error: errors.IngestStoppedError, export_dir: str) -> None:
    """OUT/export of a run the VOC ExampleGen stopped: its rejected.jsonl and a
    summary.json saying why, published like an export (the previous one goes)."""
    from odweights.artifact_files import REJECTED_FILE, TOTALS_FILE
    from odweights.components.od_export import summary
    from odweights.components.od_export.executor import SUMMARY_FILE
    from odweights.components.od_export.publish import publish_export, write_manifest
    from odweights.fileio import read_bytes

    staging = os.path.join(os.path.dirname(export_dir), f".stopped-{os.getpid()}")
    os.makedirs(staging, exist_ok=True)
    try:
        with open(os.path.join(staging, REJECTED_FILE), "wb") as file:
            file.write(read_bytes(os.path.join(error.report_dir, REJECTED_FILE)))
        totals = json.loads(read_bytes(os.path.join(error.report_dir, TOTALS_FILE)))
        message = _BEAM_STEP_ANNOTATION.sub("", str(error)).split("\nRejection records:")[0]
        with open(os.path.join(staging, SUMMARY_FILE), "w", encoding="utf-8") as file:
            json.dump(
                summary.stopped_summary_document(totals, message),
                file,
                indent=2,
                sort_keys=True,
                ensure_ascii=False,
            )
            file.write("\n")
        write_manifest(staging)
        publish_export(staging, export_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _finish(
    options: PipelineOptions, metadata_path: str, export_dir: str, started_ms: int, component_ids
) -> "RunRecord":
    """Publishes a cached export; returns the run's RunRecord."""
    from odweights.components.od_export.publish import publish_export
    from odweights.pipelines.run_record import read_run

    record = read_run(metadata_path, options.pipeline_name, component_ids, since_ms=started_ms)
    export = record.execution("OdExport")
    if not export.ran:
        # A cached OdExport did not publish in this run: OUT/export must still be this run's.
        publish_export(export.output_uri("export"), export_dir)
    return record


def _record_command(metadata_path: str, run_id: str, command: Mapping[str, Any]) -> None:
    from odweights.pipelines.run_record import sqlite_store

    store = sqlite_store(metadata_path, read_only=False)
    context = store.get_context_by_type_and_name("pipeline_run", run_id)
    context.custom_properties[RUN_COMMAND_PROPERTY].string_value = json.dumps(
        command, sort_keys=True
    )
    store.put_contexts([context])


def user_error(error: Exception, log_file: str) -> errors.OdWeightsError:
    """The OdWeightsError to report for an exception that stopped the run."""
    if isinstance(error, errors.OdWeightsError):
        message = _BEAM_STEP_ANNOTATION.sub("", str(error))
        # Other arguments (IngestStoppedError's report_dir) are kept.
        return type(error)(f"{message}\n(details: {log_file})", *error.args[1:])
    remote = _REMOTE_ERROR.search(str(error))
    if remote:
        error_class = getattr(errors, remote.group(1))
        return error_class(f"{remote.group(2)}\n(details: {log_file})")
    message = _BEAM_STEP_ANNOTATION.sub("", f"{type(error).__name__}: {error}")
    return errors.OdWeightsError(
        f"internal failure: {message}\nThe full log is in {log_file}. If the input and "
        "options look right, please report this with that log."
    )
