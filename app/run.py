"""`odweights run`: the pipeline on this machine (pipelines/local_runner.py), then
the summary it prints and the HTML report it writes (docs/run.md, docs/report.md).
"""

import os
import sys
import time
import traceback
from collections.abc import Mapping
from typing import Any, TextIO

from odweights import errors
from odweights.pipelines import local_runner
from odweights.pipelines.options import PipelineOptions


def run(
    options: PipelineOptions,
    output_dir: str,
    orchestrator: str = local_runner.ORCHESTRATOR_LOCAL,
    stream: TextIO | None = None,
    command: Mapping[str, Any] | None = None,
):
    """Runs the pipeline into `output_dir`, printing progress and a summary to `stream`,
    and writes OUT/export/report.html.

    `command`: the `odweights run` command, recorded in ML Metadata for `odweights
    audit`. Returns the run's RunRecord. Raises OdWeightsError (exit code by its
    class) for anything that stops the run.
    """
    stream = stream or sys.stdout
    try:
        with local_runner.running(options, output_dir, orchestrator, stream, command) as local:
            summary = _summary(local)
            report_started = time.monotonic()
            from odweights.app.report.writer import write_report

            html_report = write_report(local.output_dir)
            report_seconds = time.monotonic() - report_started
    except errors.IngestStoppedError as error:
        if error.report_dir:
            _write_stopped_run_report(os.path.abspath(output_dir), stream)
        raise
    stream.write(
        "\n" + summary + f"Report: {html_report} (written in {report_seconds:.1f} s)\n"
        f"Finished in {time.monotonic() - local.started:.1f} s "
        f"(+ {local.loading_seconds:.1f} s loading TFX)\n"
    )
    stream.flush()
    return local.record


def _summary(local: local_runner.LocalRun) -> str:
    """The end-of-run table, from ML Metadata, the export's summary.json and the weights."""
    from odweights.app import run_summary
    from odweights.class_weights_io import load_class_weights
    from odweights.components.od_export.executor import SUMMARY_FILE
    from odweights.pipelines.run_record import read_json

    record = local.record
    summary = read_json(
        os.path.join(record.execution("OdExport").output_uri("export"), SUMMARY_FILE)
    )
    class_weights = load_class_weights(record.execution("WeightGen").output_uri("class_weights"))
    return run_summary.format_summary(
        record, local.export_dir, summary, class_weights, local.metadata_path, local.log_file
    )


def _write_stopped_run_report(output_dir: str, stream: TextIO) -> None:
    """report.html of a stopped run (what was rejected, drawn), so that the previous run's
    report does not stay beside this run's files. A failure to write it goes to run.log:
    the error that stopped the run is the one to report."""
    try:
        from odweights.app.report.writer import write_report

        stream.write(f"Report: {write_report(output_dir)}\n")
    except Exception:  # pylint: disable=broad-except
        with open(os.path.join(output_dir, local_runner.LOG_FILE), "a", encoding="utf-8") as log:
            log.write("the report of the stopped run was not written:\n" + traceback.format_exc())
