"""OUT/export/report.html: the run report, written from what the run left in OUT.

Reads only OUT: the export's summary.json, class_weights.json and
rejected.jsonl (streamed), the exported TFRecords (streamed once per split),
ML Metadata (the lineage, as `odweights audit` reads it) and, for the
thumbnails of rejections and clipped boxes, the VOC files the lineage names.
Everything shown is bounded (see MAX_EXAMPLES, SAMPLE_SIZE, MAX_FLAGGED), so
the file stays small for any dataset. No clock is read: the only times in it
are the ones ML Metadata recorded, so the same run gives the same bytes.
See docs/report.md.
"""

import json
import os
from collections.abc import Mapping
from html import escape
from typing import Any

from odweights.app import audit
from odweights.app.report import chart, page, records, rejections, sources, thumbnails
from odweights.artifact_files import REJECTED_FILE
from odweights.class_weights_io import CLASS_WEIGHTS_FILE
from odweights.components.od_export.executor import SUMMARY_FILE
from odweights.components.voc_example_gen.rejections import REASONS
from odweights.pipelines.local_runner import EXPORT_DIR, METADATA_FILE
from odweights.pipelines.run_record import sqlite_store

REPORT_FILE = "report.html"
INGEST_TOTALS = "ingest_totals"  # the VOC ExampleGen's totals.json, a property of its artifacts
STOPPED = "stopped"  # summary.json's status when the VOC ExampleGen stopped the run
_MAX_PROPERTY = 60


def write_report(output_dir: str) -> str:
    """Writes OUT/export/report.html for the output folder of `odweights run`; returns its path."""
    output_dir = os.path.abspath(output_dir)
    export_dir = os.path.join(output_dir, EXPORT_DIR)
    html = build_report(export_dir, os.path.join(output_dir, METADATA_FILE))
    path = os.path.join(export_dir, REPORT_FILE)
    partial = os.path.join(export_dir, f".{REPORT_FILE}.partial")
    with open(partial, "w", encoding="utf-8") as file:
        file.write(html)
    os.replace(partial, path)
    return path


def _read_json(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def build_report(export_dir: str, metadata_path: str) -> str:
    """The report's HTML text."""
    summary = _read_json(os.path.join(export_dir, SUMMARY_FILE))
    if summary.get("status") == STOPPED:
        return _stopped_report(export_dir, metadata_path, summary)
    lineage = audit.lineage(export_dir, metadata_path)
    class_weights = _read_json(os.path.join(export_dir, CLASS_WEIGHTS_FILE))
    totals = _ingest_totals(lineage)
    source = lineage.get("input") or {}
    input_base = source.get("input_base", "")
    budget = thumbnails.Budget()
    split_records = [
        records.scan_split(
            export_dir,
            split,
            int(entry.get("num_shards") or 0),
            (lambda source_id: sources.annotation_of_source_id(input_base, source_id))
            if input_base
            else None,
            totals,
            budget,
        )
        for split, entry in summary.get("splits", {}).items()
    ]
    rejected = rejections.collect(rejections.read_lines(os.path.join(export_dir, REJECTED_FILE)))
    executions = lineage["executions"]
    run_ids = sorted({e["run_id"] for e in executions if e["run_id"]})
    subtitle = (
        f"export {export_dir}, written by run {', '.join(run_ids) or '-'}"
        f" of pipeline {executions[0]['pipeline'] if executions else '-'}"
    )
    return page.document(
        "odweights run report",
        subtitle,
        [
            ("run", "The run", _run_section(lineage, summary, totals)),
            ("classes", "Classes", _classes_section(summary, class_weights)),
            (
                "rejections",
                "Rejections",
                _rejections_section(rejected, summary, input_base, budget),
            ),
            (
                "quality",
                "Data-quality flags",
                _quality_section(lineage, totals, split_records, summary, rejected.counts),
            ),
            ("samples", "Sample of exported examples", _samples_section(split_records)),
            ("lineage", "Lineage", _lineage_section(lineage)),
        ],
    )


def _stopped_report(export_dir: str, metadata_path: str, summary: Mapping) -> str:
    """The report of a run that the VOC ExampleGen stopped: why, and what it rejected.
    The later steps did not run, so their sections say so."""
    input_base = _latest_input_base(metadata_path)
    rejected = rejections.collect(rejections.read_lines(os.path.join(export_dir, REJECTED_FILE)))
    splits = summary.get("splits", {})
    counters = sorted({name for entry in splits.values() for name in entry})
    run_parts = [
        page.paragraph(
            f"The run stopped at {summary.get('stopped_by', '-')}: {summary.get('message', '')}",
            "warning",
        ),
        page.key_values(
            [("input", input_base or "-"), ("export", export_dir), ("ML Metadata", metadata_path)]
        ),
        "<h3>Totals per split</h3>",
        page.table(
            ["split", *counters],
            [[name, *(entry.get(c) for c in counters)] for name, entry in splits.items()],
        ),
    ]
    not_reached = [page.paragraph("Not written: the run stopped before this step.", "note")]
    return page.document(
        "odweights run report: stopped",
        f"export {export_dir}",
        [
            ("run", "The run", run_parts),
            ("classes", "Classes", not_reached),
            (
                "rejections",
                "Rejections",
                _rejections_section(rejected, summary, input_base, thumbnails.Budget()),
            ),
            ("quality", "Data-quality flags", not_reached),
            ("samples", "Sample of exported examples", not_reached),
            (
                "lineage",
                "Lineage",
                [
                    page.paragraph(
                        "No export was recorded in ML Metadata: the run stopped before it.", "note"
                    )
                ],
            ),
        ],
    )


def _latest_input_base(metadata_path: str) -> str:
    """The VOC input of the newest execution that read one (the stopped one recorded it
    when it started), or "" when ML Metadata has none."""
    if not os.path.isfile(metadata_path):
        return ""
    store = sqlite_store(metadata_path)
    readers = [e for e in store.get_executions() if audit.INPUT_BASE in e.custom_properties]
    latest = max(readers, key=lambda e: e.id, default=None)
    return latest.custom_properties[audit.INPUT_BASE].string_value if latest else ""


def _ingest_totals(lineage: Mapping) -> dict[str, Any]:
    """The VOC ExampleGen's totals.json, as recorded on its report artifact in ML Metadata."""
    for artifact in lineage["artifacts"]:
        value = artifact["custom_properties"].get(INGEST_TOTALS)
        if value:
            return json.loads(value) if isinstance(value, str) else dict(value)
    return {}


def _property_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    text = " ".join(text.split())
    return text if len(text) <= _MAX_PROPERTY else text[:_MAX_PROPERTY] + " ..."


def _stack_table(executions: list[Mapping]) -> str:
    """The stack each execution recorded (odweights.maker): one column per distinct stack."""
    columns: dict[str, list[str]] = {}
    for execution in executions:
        maker = execution.get("maker")  # absent for runs of an odweights that did not record it
        if maker:
            key = json.dumps(maker, sort_keys=True)
            columns.setdefault(key, []).append(execution["component_id"])
    if not columns:
        return page.paragraph(
            "Not recorded: this run's odweights did not record its stack.", "note"
        )
    makers = [json.loads(key) for key in columns]
    fields = sorted({field for maker in makers for field in maker})
    header = [
        "",
        *(", ".join(ids) if len(columns) > 1 else "every execution" for ids in columns.values()),
    ]
    return page.table(
        header,
        [[field, *(_property_text(maker.get(field)) for maker in makers)] for field in fields],
    )


def _run_section(lineage: Mapping, summary: Mapping, totals: Mapping) -> list[str]:
    source = lineage.get("input") or {}
    executions = list(reversed(lineage["executions"]))  # run order
    parts = [
        page.key_values(
            [
                ("input", source.get("input_base", "-")),
                ("export", lineage["export_dir"]),
                ("ML Metadata", lineage["metadata"]),
                (
                    "TFX recorded",
                    ", ".join(sorted({e["tfx_version"] for e in executions if e["tfx_version"]}))
                    or "-",
                ),
            ]
        )
    ]
    for warning in summary.get("warnings") or []:  # recorded by newer OdExports only
        parts.append(page.paragraph(f"Warning: {str(warning)[:500]}", "warning"))
    parts.append("<h3>Time per component</h3>")
    parts.append(
        page.table(
            ("component", "execution", "state", "started (UTC)", "seconds", "reused by later runs"),
            [
                (
                    e["component_id"],
                    e["id"],
                    e["state"],
                    e["start_time"],
                    e["duration_seconds"],
                    len(e["reused_by"]),
                )
                for e in executions
            ],
        )
    )
    per_split = totals.get("per_split", {})
    parts.append("<h3>Totals per split</h3>")
    parts.append(
        page.table(
            (
                "split",
                "images listed",
                "images exported",
                "records",
                "objects exported",
                "images rejected",
                "objects rejected",
                "objects in rejected images",
                "shards",
            ),
            [
                (
                    name,
                    per_split.get(name, {}).get("images_in"),
                    entry.get("images"),
                    entry.get("records"),
                    entry.get("objects"),
                    per_split.get(name, {}).get("images_rejected"),
                    per_split.get(name, {}).get("objects_rejected"),
                    per_split.get(name, {}).get("objects_in_rejected_images"),
                    entry.get("num_shards"),
                )
                for name, entry in summary.get("splits", {}).items()
            ],
        )
    )
    parts.append("<h3>Options</h3>")
    parts.append(
        page.paragraph(
            "As recorded in ML Metadata for each execution; long values "
            "are cut (the lineage below has them).",
            "note",
        )
    )
    parts.append(
        page.table(
            ("component", "options"),
            [
                (
                    e["component_id"],
                    "; ".join(
                        f"{key} {_property_text(value)}" for key, value in e["properties"].items()
                    ),
                )
                for e in executions
            ],
        )
    )
    parts.append("<h3>Stack</h3>")
    parts.append(page.paragraph("As each execution recorded it in ML Metadata.", "note"))
    parts.append(_stack_table(executions))
    return parts


def _classes_section(summary: Mapping, class_weights: Mapping) -> list[str]:
    classes = class_weights.get("classes", [])
    parameters = {
        k: v for k, v in (class_weights.get("parameters") or {}).items() if v not in (None, {}, [])
    }
    scale = [
        f"{key} {class_weights[key]}"
        for key in ("normalize", "mean_box_weight")
        if class_weights.get(key) is not None
    ]  # recorded by newer WeightGens only
    parts = [
        page.paragraph(
            f"Weights by {class_weights.get('method')} from split "
            f"{class_weights.get('split')!r}"
            + "".join(f", {k}={v}" for k, v in sorted(parameters.items()))
            + (f"; {', '.join(scale)}" if scale else "")
            + "."
        )
    ]
    splits = summary.get("splits", {})
    means = [
        f"{name}: {entry['weighted_objects'] / entry['objects']:.4g} over "
        f"{entry['objects']:,} boxes"
        for name, entry in splits.items()
        if entry.get("objects") and entry.get("weighted_objects") is not None
    ]
    if means:
        parts.append(
            page.paragraph(
                "Box-weighted mean weight (sum of the box weights / boxes): "
                + "; ".join(means)
                + ". The loss of a batch scales with it: see docs/weights.md."
            )
        )
    split_names = list(splits)
    header = ["class", "id", "raw weight", "final weight", "repeat factor", "flags"]
    for name in split_names:
        header += [f"{name} objects", f"{name} images"]
    rows = []
    for entry in classes:
        row = [
            entry.get("name"),
            entry.get("id"),
            entry.get("raw_weight"),
            entry.get("weight"),
            entry.get("repeat_factor"),
            ", ".join(entry.get("flags", [])),
        ]
        for name in split_names:
            counts = splits[name].get("classes", {}).get(entry.get("name"), {})
            row += [counts.get("objects", 0), counts.get("images", 0)]
        rows.append(row)
    parts.append(page.table(header, rows))
    parts.append(
        chart.counts_against_weights(
            [(c["name"], int(c.get("objects", 0)), float(c.get("weight", 0.0))) for c in classes],
            f"objects per class in split {class_weights.get('split')!r} against final weight",
        )
    )
    return parts


def _rejections_section(
    rejected: rejections.Rejections, summary: Mapping, input_base: str, budget: thumbnails.Budget
) -> list[str]:
    recorded = summary.get("rejections", {})
    parts = [
        page.paragraph(
            f"Rejected: {records.counted(recorded.get('images', 0), 'image')}, "
            f"{records.counted(recorded.get('objects', 0), 'object')}; "
            f"{records.counted(sum(rejected.counts.values()), 'record')} in rejected.jsonl. Up to "
            f"{rejections.MAX_EXAMPLES} examples per reason."
        )
    ]
    if not rejected.counts:
        parts.append(page.paragraph("Nothing was rejected.", "note"))
        return parts
    parts.append(
        page.table(
            ("reason", "level", "records", "meaning"),
            [
                (
                    reason,
                    REASONS.get(reason, ("-", ""))[0],
                    count,
                    REASONS.get(reason, ("", "-"))[1],
                )
                for reason, count in rejected.counts.items()
            ],
        )
    )
    parts.append(
        page.legend(
            [
                (thumbnails.REJECTED, "rejected box (index: reason)"),
                (thumbnails.KEPT, "other boxes of the image"),
            ]
        )
    )
    for reason, examples in rejected.examples.items():
        parts.append(f"<h3>{escape(reason)} ({rejected.counts[reason]:,})</h3>")
        parts.append(
            page.figures(
                [rejections.show(record, image, input_base, budget) for record, image in examples]
            )
        )
    return parts


def _quality_section(
    lineage: Mapping,
    totals: Mapping,
    split_records: list[records.SplitRecords],
    summary: Mapping,
    rejected_counts: Mapping[str, int],
) -> list[str]:
    ingest = next((e for e in lineage["executions"] if not e["inputs"]), None)
    ingest_options = ingest["properties"] if ingest else {}
    parts = [
        page.table(
            ("flag", "count", "note"),
            [
                (
                    "EXIF orientation fixed (re-encoded upright)",
                    totals.get("exif_fixed"),
                    f"exif_policy {ingest_options.get('exif_policy', '-')}",
                ),
                ("EXIF orientation flagged (bytes kept)", totals.get("exif_flagged"), ""),
                ("EXIF orientation rejected", rejected_counts.get("exif_orientation", 0), ""),
                (
                    "re-encoded to PNG",
                    totals.get("reencoded_to_png"),
                    f"reencode_unsupported {ingest_options.get('reencode_unsupported', '-')}",
                ),
                (
                    "boxes clipped",
                    totals.get("boxes_clipped"),
                    f"clip_tolerance {ingest_options.get('clip_tolerance', '-')}",
                ),
                ("size taken from the image (no <size>)", totals.get("size_from_image"), ""),
                (
                    "difficult objects dropped",
                    rejected_counts.get("difficult", 0),
                    f"drop_difficult {ingest_options.get('drop_difficult', '-')}",
                ),
            ],
        )
    ]
    parts.append("<h3>Per split, as exported</h3>")
    parts.append(
        page.table(
            (
                "split",
                "records",
                "boxes",
                "difficult boxes",
                "truncated boxes",
                "records without objects",
                "images without objects",
            ),
            [
                (
                    s.split,
                    s.records,
                    s.objects,
                    s.difficult,
                    s.truncated,
                    s.without_objects,
                    summary.get("splits", {}).get(s.split, {}).get("background_images"),
                )
                for s in split_records
            ],
        )
    )
    parts.append("<h3>Every ingest counter</h3>")
    parts.append(
        page.paragraph(
            "The VOC ExampleGen's totals as it recorded them (counters "
            "added by later versions show up here too).",
            "note",
        )
    )
    parts.append(
        page.key_values(
            [
                (name, _property_text(value))
                for name, value in sorted(totals.items())
                if name not in ("per_split", "rejected_by_reason")
            ]
        )
    )
    clipped = [shown for s in split_records for shown in s.clipped][: records.MAX_FLAGGED]
    if clipped:
        parts.append("<h3>Clipped boxes</h3>")
        parts.append(
            page.legend(
                [
                    (thumbnails.BEFORE_CLIPPING, "as in the XML"),
                    (thumbnails.AFTER_CLIPPING, "as exported (clipped)"),
                ]
            )
        )
        parts.append(page.figures(clipped))
    reencoded = [shown for s in split_records for shown in s.reencoded][: records.MAX_FLAGGED]
    if reencoded:
        parts.append("<h3>Re-encoded images</h3>")
        parts.append(page.figures(reencoded))
    return parts


def _samples_section(split_records: list[records.SplitRecords]) -> list[str]:
    parts = [
        page.paragraph(
            f"The first {records.SAMPLE_SIZE} records of each split, decoded from the exported "
            "TFRecords (what the OD API reads): boxes, class names and the box weights "
            "image/object/weight."
        )
    ]
    for entry in split_records:
        parts.append(
            f"<h3>{escape(entry.split)}: {len(entry.sample)} of {entry.records:,} records</h3>"
        )
        parts.append(page.figures(entry.sample))
    return parts


def _lineage_section(lineage: Mapping) -> list[str]:
    source: Mapping | None = lineage.get("input")
    parts = [
        page.paragraph(
            "From the export back to the VOC input, as `odweights audit` prints it. "
            "Check the files against it with `odweights audit EXPORT --verify`."
        )
    ]
    if source:
        parts.append(
            page.key_values(
                [
                    ("export artifact", lineage["export_artifact"]),
                    ("VOC input", source.get("input_base")),
                    ("input fingerprint", source.get("input_fingerprint")),
                ]
            )
        )
    parts.append(f"<pre>{escape(audit.format_text(lineage))}</pre>")
    return parts
