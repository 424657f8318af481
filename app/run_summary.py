"""The table printed at the end of `odweights run`.

`format_summary` renders it from the run as ML Metadata recorded it
(pipelines/run_record.py) and from the export's summary.json and
class_weights.json.
"""

import os
from collections.abc import Mapping, Sequence
from typing import Any

from odweights.artifact_files import INPUT_READER_FILE
from odweights.maker import format_maker
from odweights.pipelines.run_record import ExecutionRecord, RunRecord


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """Left-aligned first column, right-aligned numbers."""
    cells = [[str(value) for value in header]] + [[_cell(value) for value in row] for row in rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(header))]

    def line(row):
        return (
            "  "
            + "  ".join(
                value.ljust(widths[i]) if i == 0 else value.rjust(widths[i])
                for i, value in enumerate(row)
            ).rstrip()
        )

    return [line(cells[0]), "  " + "  ".join("-" * width for width in widths)] + [
        line(row) for row in cells[1:]
    ]


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _weights_line(class_weights: Mapping, export_weights: Mapping) -> list[str]:
    """The scale of the weights: mean_box_weight (1 keeps the OD API's loss scale, see
    docs/weights.md) and the range; and whether the boxes carry them at all."""
    weights = [c["weight"] for c in class_weights.get("classes", [])]
    if not weights:
        return []
    line = (
        f"Weights: normalize {class_weights.get('normalize')}, mean_box_weight "
        f"{_cell(class_weights.get('mean_box_weight'))}, range "
        f"{_cell(min(weights))}..{_cell(max(weights))}"
    )
    if export_weights.get("box_weights") == "ones":
        line += "; the export writes 1.0 on every box (--resample rfs without --keep-weights)"
    return [line]


def _maker_lines(executions: Sequence[ExecutionRecord]) -> list[str]:
    """`Made by ...` as ML Metadata recorded it (see docs/audit.md); the components
    after each maker only when they differ (cached steps of an older code)."""
    makers: list[dict[str, Any]] = []
    for record in executions:
        if record.maker not in makers:
            makers.append(record.maker)
    if len(makers) == 1:
        return [f"Made by {format_maker(makers[0])}"]
    return [
        f"Made by {format_maker(maker)} ("
        + ", ".join(r.component_id for r in executions if r.maker == maker)
        + ")"
        for maker in makers
    ]


def format_summary(
    run: RunRecord,
    export_dir: str,
    summary: Mapping,
    class_weights: Mapping,
    metadata_path: str,
    log_file: str | None = None,
) -> str:
    """The end-of-run report: components, splits, classes, rejections, where the export is."""
    lines = [f"Run {run.run_id}", ""]
    lines += _table(
        ("component", "state", "seconds"),
        [(r.component_id, r.state_name, f"{r.seconds:.1f}") for r in run.executions],
    )
    lines += ["", *_maker_lines(run.executions)]

    splits = summary.get("splits", {})
    lines += ["", "Splits"]
    lines += _table(
        ("split", "images", "background", "objects", "records", "shards"),
        [
            (
                name,
                s.get("images"),
                s.get("background_images"),
                s.get("objects"),
                s.get("records"),
                s.get("num_shards"),
            )
            for name, s in splits.items()
        ],
    )

    parameters = class_weights.get("parameters", {})
    shown = {k: v for k, v in parameters.items() if v not in (None, {}, [])}
    lines += [
        "",
        f"Classes (counts from split {class_weights.get('split')!r}; method "
        f"{class_weights.get('method')}"
        + "".join(f", {k}={v}" for k, v in sorted(shown.items()))
        + ")",
    ]
    lines += _table(
        ("class", "id", "objects", "images", "weight", "repeat factor", "flags"),
        [
            (
                c["name"],
                c["id"],
                c["objects"],
                c["images"],
                c["weight"],
                c["repeat_factor"],
                ",".join(c.get("flags", [])),
            )
            for c in class_weights.get("classes", [])
        ],
    )
    lines += _weights_line(class_weights, summary.get("weights", {}))

    rejections = summary.get("rejections", {})
    by_reason = {
        reason: count for reason, count in (rejections.get("by_reason") or {}).items() if count
    }
    lines += [
        "",
        f"Rejected: {rejections.get('images', 0)} images, "
        f"{rejections.get('objects', 0)} objects"
        + (" (nothing lost: every rejection is in rejected.jsonl)" if by_reason else ""),
    ]
    if by_reason:
        lines += _table(("reason", "count"), sorted(by_reason.items()))

    lines += [f"Warning: {warning}" for warning in summary.get("warnings", [])]
    lines += [
        "",
        f"Export: {export_dir}",
        f"  OD API: paste {os.path.join(export_dir, INPUT_READER_FILE)} into your "
        "pipeline.config (train_input_reader / eval_input_reader)",
        f"ML Metadata: {metadata_path}",
    ]
    if log_file:
        lines.append(f"Log: {log_file}")
    return "\n".join(lines) + "\n"
