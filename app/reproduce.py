"""`odweights audit PATH --reproduce-command` and `--reproduce DIR`: make a recorded export again.

`odweights run` records its own command (every option, spelt out) on its run's
context in ML Metadata, and every executor records its maker on its outputs
(odweights.maker). From an audited export:
- `--reproduce-command` prints the command of the run that wrote it, with a
  new output folder to fill in;
- `--reproduce DIR` first says what differs from the recorded run before
  anything runs (the VOC input fingerprint, the label map file, the maker:
  versions, commit, stack), then runs that command through the CLI into DIR
  (a fresh ML Metadata store, so nothing comes from TFX's cache), then compares
  the sha256 of every exported file with the recorded one, one line per file
  (`same` or `DIFFERS`), and names the records that differ in the TFRecord files.
  It never writes into the audited output folder. See docs/audit.md.

The JSON document (`--json`) is the audit document with one more field,
`reproduce`: dir, run_id, command, before (input, label_map, environment),
files ([{file, status same|DIFFERS, recorded_sha256, reproduced_sha256,
note}]), not_compared (files of DIR/export that no OdExport recorded),
records ([{split, compared, differ, only_recorded, only_reproduced, recorded,
reproduced, reason}]), same.
"""

import contextlib
import hashlib
import json
import os
import sys
import tempfile
from typing import Any

from odweights.app import audit
from odweights.errors import BadInputError, InvalidOptionsError, OdWeightsError
from odweights.features import SOURCE_ID
from odweights.maker import LABELS, describe, differences, format_command, format_value

OUTPUT_DIR_PLACEHOLDER = "NEW_OUTPUT_DIR"
SAME = "same"
DIFFERS = "DIFFERS"

_LABEL_MAP_OPTION = "--label-map"
_LABEL_MAP_PROPERTY = "label_map_text"  # VocExampleGen's parameter: the label map's text
_MAX_NAMES = 20


def run_reproduce_command(path: str, metadata_path: str, as_json: bool = False) -> int:
    """Prints the `odweights run` command that made the export at `path`; returns 0."""
    document = audit.lineage(path, metadata_path)
    run_id, command = export_command(document, metadata_path)
    text = format_command(command["options"], OUTPUT_DIR_PLACEHOLDER)
    print(
        json.dumps(
            dict(
                run_id=run_id,
                command=text,
                argv=[
                    "odweights",
                    "run",
                    *command["options"],
                    "--output-dir",
                    OUTPUT_DIR_PLACEHOLDER,
                ],
            ),
            indent=2,
            ensure_ascii=False,
        )
        if as_json
        else text
    )
    return 0


def run_reproduce(path: str, metadata_path: str, directory: str, as_json: bool = False) -> int:
    """Re-runs the recorded command of the export at `path` into `directory` and compares.

    Returns 0 when every file is the same. Raises InvalidOptionsError (exit 2) for
    a `directory` that is not new and empty or overlaps the audited output folder,
    or an export with no recorded command; BadInputError (exit 3) when any file
    differs; the run's own error when the run fails.
    """
    document = audit.lineage(path, metadata_path)
    run_id, command = export_command(document, metadata_path)
    target = _checked_target(directory, document["export_dir"], metadata_path)
    report = sys.stderr if as_json else sys.stdout  # --json: stdout holds the JSON alone
    before = dict(
        input=_input_check(document),
        label_map=_label_map_check(document, command),
        environment=_environment_differences(document["runs"]),
    )
    print(
        "\n".join(
            [
                f"Reproducing the export {document['export_dir']} (artifact "
                f"{document['export_artifact']}, run {run_id}) into {target}",
                "  " + format_command(command["options"], target),
                "",
                *_before_lines(before),
                "",
            ]
        ),
        file=report,
        flush=True,
    )

    _rerun(command["options"], target, report)

    new_dir = os.path.join(target, audit.EXPORT_FOLDER)
    recorded = _export_properties(document)
    reproduced = _export_properties(
        audit.lineage(new_dir, os.path.join(target, audit.METADATA_FILE))
    )
    files, not_compared = _compare_files(
        recorded.get(audit.FILE_SHA256) or {},
        reproduced.get(audit.FILE_SHA256) or {},
        new_dir,
        recorded.get(audit.PUSHED_DESTINATION) or document["export_dir"],
    )
    records = _record_differences(files, document["export_dir"], new_dir)
    same = all(entry["status"] == SAME for entry in files)
    result = dict(
        dir=target,
        run_id=run_id,
        command=command,
        before=before,
        files=files,
        not_compared=not_compared,
        records=records,
        same=same,
    )
    if as_json:
        print(
            json.dumps(
                dict(document, reproduce=result), indent=2, sort_keys=True, ensure_ascii=False
            )
        )
    else:
        print("\n".join(["", *_comparison_lines(result)]))
    if not same:
        differing = [entry["file"] for entry in files if entry["status"] != SAME]
        raise BadInputError(
            f"the reproduction in {target} differs from the recorded export in "
            f"{len(differing)} of {len(files)} files: {', '.join(differing)} (see the "
            "differences named before the run)"
        )
    return 0


def export_command(document: dict[str, Any], metadata_path: str) -> tuple[str, dict[str, Any]]:
    """(run id, recorded command) of the run that wrote the export, or else of a
    later run that reused it from TFX's cache (the same options, as far as the
    cache can tell)."""
    producer = next(
        e
        for e in document["executions"]
        if document["export_artifact"] in [i for ids in e["outputs"].values() for i in ids]
    )
    for run_id in [producer["run_id"], *[reuse["run_id"] for reuse in producer["reused_by"]]]:
        command = audit.recorded_command(metadata_path, run_id)
        if command is not None:
            return run_id, command
    raise InvalidOptionsError(
        f"the run that wrote {document['export_dir']} (run {producer['run_id'] or 'unknown'}) "
        "recorded no `odweights run` command: it was written by an older odweights, or not "
        "by `odweights run` (Kubeflow); run the pipeline again with `odweights run` and "
        "audit that export"
    )


# --- Before the run ---------------------------------------------------------------


def _checked_target(directory: str, export_dir: str, metadata_path: str) -> str:
    """The absolute DIR, refused when not new (or empty) or when it overlaps the audit."""
    target = os.path.realpath(directory)
    audited = {
        os.path.realpath(os.path.dirname(os.path.abspath(metadata_path))),
        os.path.realpath(export_dir),
    }
    for folder in sorted(audited):
        if (
            target == folder
            or target.startswith(folder + os.sep)
            or folder.startswith(target + os.sep)
        ):
            raise InvalidOptionsError(
                f"--reproduce {directory}: it overlaps the audited output folder {folder}, "
                "which a reproduction never writes into; give a new folder elsewhere"
            )
    if os.path.exists(target):
        if not os.path.isdir(target):
            raise InvalidOptionsError(f"--reproduce {directory}: it is a file; give a new folder")
        entries = sorted(os.listdir(target))
        if audit.EXPORT_FOLDER in entries or audit.METADATA_FILE in entries:
            raise InvalidOptionsError(
                f"--reproduce {directory}: it already holds an export; give a new folder "
                "(a reproduction must not reuse an earlier run's results)"
            )
        if entries:
            raise InvalidOptionsError(
                f"--reproduce {directory}: it is not empty ({', '.join(entries[:5])}"
                f"{' ...' if len(entries) > 5 else ''}); give a new or empty folder"
            )
    return target


def _input_check(document: dict[str, Any]) -> dict[str, Any]:
    """audit.verify_input, with the splits whose fingerprint changed and how."""
    check = audit.verify_input(document["input"])
    check["changes"] = _fingerprint_changes(check["recorded"] or "", check["actual"] or "")
    return check


def _fingerprint_changes(recorded: str, actual: str) -> list[str]:
    """`split train: num_files 43 -> 44, total_bytes ... (contents changed)` per changed split."""

    def by_split(fingerprint: str) -> dict[str, dict[str, str]]:
        splits = {}
        for line in fingerprint.splitlines():
            fields = dict(item.split(":", 1) for item in line.split(",") if ":" in item)
            splits[fields.get("split", line)] = fields
        return splits

    before, after = by_split(recorded), by_split(actual)
    changes = []
    for split in sorted(set(before) | set(after)):
        old, new = before.get(split, {}), after.get(split, {})
        if old == new:
            continue
        if not old or not new:
            changes.append(f"split {split}: {'no longer read' if old else 'new'}")
            continue
        moved = [
            f"{key} {old.get(key)} -> {new.get(key)}"
            for key in ("num_files", "total_bytes")
            if old.get(key) != new.get(key)
        ]
        changes.append(
            f"split {split}: "
            + (
                ", ".join(moved)
                if moved
                else "same number and size of files, but a name or modification time changed"
            )
        )
    return changes


def _label_map_check(document: dict[str, Any], command: dict[str, Any]) -> dict[str, Any]:
    """The --label-map file of the command against the text VocExampleGen recorded."""
    options = command["options"]
    if _LABEL_MAP_OPTION not in options:
        return dict(status="none")
    path = options[options.index(_LABEL_MAP_OPTION) + 1]
    reader = next(
        (e for e in document["executions"] if e["id"] == document["input"].get("execution")), None
    )
    recorded = (reader or {}).get("properties", {}).get(_LABEL_MAP_PROPERTY)
    try:
        with open(path, "rb") as file:
            current = file.read().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return dict(status="missing", path=path)
    return dict(status="ok" if current == recorded else "changed", path=path)


def _environment_differences(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """[{field, label, recorded, now, executions}] for each recorded value that differs
    from this environment's (describe()), in LABELS order."""
    now = describe()
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for run in runs:
        for field in differences(run["maker"], now) if run["maker"] else ["maker"]:
            recorded = run["maker"].get(field) if run["maker"] else None
            entry = found.setdefault(
                (field, json.dumps(recorded)),
                dict(
                    field=field,
                    label=LABELS.get(field, "maker"),
                    recorded=recorded,
                    now=now.get(field),
                    executions=[],
                ),
            )
            entry["executions"] += run["executions"]
    order = list(LABELS) + ["maker"]
    return sorted(found.values(), key=lambda entry: order.index(entry["field"]))


def _before_lines(before: dict[str, Any]) -> list[str]:
    source, label_map, environment = before["input"], before["label_map"], before["environment"]
    lines = []
    if source["status"] == "missing":
        lines.append("  VOC input: MISSING (the recorded input folder cannot be read)")
    elif source["status"] != "ok":
        lines.append("  VOC input fingerprint: DIFFERS: " + "; ".join(source["changes"]))
    if label_map["status"] in ("changed", "missing"):
        lines.append(
            f"  label map {label_map['path']}: "
            + ("DIFFERS from the recorded text" if label_map["status"] == "changed" else "MISSING")
        )
    for entry in environment:
        if entry["field"] == "maker":
            lines.append(
                f"  maker: not recorded by executions {_ids(entry['executions'])} "
                "(an older odweights made them)"
            )
        else:
            lines.append(
                f"  {entry['label']}: recorded "
                f"{format_value(entry['field'], entry['recorded'])}, now "
                f"{format_value(entry['field'], entry['now'])} (executions "
                f"{_ids(entry['executions'])})"
            )
    if not lines:
        return [
            "Before the run: the VOC input, the label map and the environment are "
            "the same as recorded."
        ]
    return ["Before the run, what differs from the recorded run:", *lines]


def _ids(execution_ids: list[int]) -> str:
    return ", ".join(str(i) for i in sorted(execution_ids))


# --- The run ------------------------------------------------------------------------


def _rerun(options: list[str], target: str, report) -> None:
    """`odweights run OPTIONS --output-dir TARGET` through the CLI, its output to `report`."""
    from odweights.app import cli

    try:
        with contextlib.redirect_stdout(report):
            exit_code = cli.main(["run", *options, "--output-dir", target])
    except SystemExit as stop:  # argparse refused an option this odweights does not know
        raise InvalidOptionsError(
            "this odweights does not accept the recorded command (see the message above); "
            "reproduce with the odweights version that wrote the export"
        ) from stop
    if exit_code != 0:
        error_class = {
            InvalidOptionsError.exit_code: InvalidOptionsError,
            BadInputError.exit_code: BadInputError,
        }.get(exit_code, OdWeightsError)
        raise error_class(
            f"the reproduction run into {target} failed (its error is above); nothing was compared"
        )


# --- After the run ------------------------------------------------------------------


def _export_properties(document: dict[str, Any]) -> dict[str, Any]:
    return next(a for a in document["artifacts"] if a["id"] == document["export_artifact"])[
        "custom_properties"
    ]


def _compare_files(
    recorded: dict[str, str], reproduced_names, new_dir: str, destination: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """(one entry per file of either export as OdExport recorded it, the other files of
    new_dir). A file that holds the export folder's own path (input_reader.config) is
    the same when it matches once the reproduction's folder reads as the recorded one;
    manifest.json, which lists such a file's size and sha256, is then compared as
    written for the files so read."""
    from odweights.components.od_export.publish import MANIFEST_FILE, export_files, file_sha256

    present = export_files(new_dir)
    names = set(recorded) | set(reproduced_names)
    reproduced = {
        name: file_sha256(os.path.join(new_dir, name)) for name in present if name in names
    }
    files, read_as_recorded = [], {}
    for name in sorted(names):
        expected, actual = recorded.get(name), reproduced.get(name)
        status, note = (SAME, "") if expected == actual else (DIFFERS, "")
        if expected is None:
            note = "not in the recorded export"
        elif actual is None:
            note = "not written by the reproduction"
        elif status == DIFFERS and name != MANIFEST_FILE:
            data = _with_folder(os.path.join(new_dir, name), new_dir, destination)
            if data is not None and hashlib.sha256(data).hexdigest() == expected:
                status, note = SAME, f"once {new_dir} reads {destination}"
                read_as_recorded[name] = data
        files.append(
            dict(
                file=name,
                status=status,
                recorded_sha256=expected,
                reproduced_sha256=actual,
                note=note,
            )
        )
    manifest = next((f for f in files if f["file"] == MANIFEST_FILE), None)
    if (
        manifest
        and manifest["status"] == DIFFERS
        and manifest["reproduced_sha256"]
        and (read_as_recorded)
    ):
        if _manifest_sha256(new_dir, read_as_recorded) == manifest["recorded_sha256"]:
            manifest["status"] = SAME
            manifest["note"] = f"once {', '.join(sorted(read_as_recorded))} read(s) as recorded"
    return files, [name for name in present if name not in names]


def _with_folder(path: str, folder: str, recorded_folder: str) -> bytes | None:
    """The file's bytes with `folder` replaced by `recorded_folder`; None without it."""
    with open(path, "rb") as file:
        data = file.read()
    if folder.encode("utf-8") not in data:
        return None
    return data.replace(folder.encode("utf-8"), recorded_folder.encode("utf-8"))


def _manifest_sha256(new_dir: str, replaced: dict[str, bytes]) -> str:
    """sha256 of the manifest.json that OdExport's own writer gives for the files the
    reproduction's manifest lists, with `replaced` ones as given (in a scratch folder
    beside new_dir, removed afterwards)."""
    from odweights.components.od_export.publish import (
        MANIFEST_FILE,
        file_sha256,
        read_manifest,
        write_manifest,
    )

    with tempfile.TemporaryDirectory(prefix=".manifest-", dir=os.path.dirname(new_dir)) as scratch:
        for name in read_manifest(new_dir) or {}:
            if name in replaced:
                with open(os.path.join(scratch, name), "wb") as file:
                    file.write(replaced[name])
            else:
                os.symlink(os.path.join(new_dir, name), os.path.join(scratch, name))
        write_manifest(scratch)
        return file_sha256(os.path.join(scratch, MANIFEST_FILE))


def _split_of(name: str) -> str:
    return name.rsplit(".record-", 1)[0]


def _record_differences(
    files: list[dict[str, Any]], audited_dir: str, new_dir: str
) -> list[dict[str, Any]]:
    """Per split with a differing TFRecord file: which records (by image/source_id) differ.

    The recorded records are read from the audited folder, only where its files
    still have the recorded sha256.
    """
    from odweights.components.od_export.publish import file_sha256
    from odweights.components.od_export.sharding import is_record_file

    results = []
    record_files = [entry for entry in files if is_record_file(entry["file"])]
    for split in sorted({_split_of(e["file"]) for e in record_files if e["status"] != SAME}):
        in_split = [e for e in record_files if _split_of(e["file"]) == split]
        recorded = {
            os.path.join(audited_dir, e["file"]): e["recorded_sha256"]
            for e in in_split
            if e["recorded_sha256"]
        }
        intact = all(
            os.path.isfile(path) and file_sha256(path) == digest
            for path, digest in recorded.items()
        )
        if not intact:
            results.append(
                dict(
                    split=split,
                    compared=False,
                    reason=f"the files in {audited_dir} no longer have the "
                    "recorded sha256 (see `odweights audit --verify`)",
                )
            )
            continue
        old = _record_digests(sorted(recorded))
        new = _record_digests(
            [os.path.join(new_dir, e["file"]) for e in in_split if e["reproduced_sha256"]]
        )
        results.append(
            dict(
                split=split,
                compared=True,
                differ=sorted(k for k in set(old) & set(new) if sorted(old[k]) != sorted(new[k])),
                only_recorded=sorted(set(old) - set(new)),
                only_reproduced=sorted(set(new) - set(old)),
                recorded=sum(len(v) for v in old.values()),
                reproduced=sum(len(v) for v in new.values()),
            )
        )
    return results


def _record_digests(paths: list[str]) -> dict[str, list[str]]:
    """{image/source_id: [sha256 of each record with it]} of TFRecord files, streamed."""
    import tensorflow as tf

    digests: dict[str, list[str]] = {}
    if not paths:
        return digests
    for record in tf.data.TFRecordDataset(paths).as_numpy_iterator():
        feature = tf.train.Example.FromString(record).features.feature[SOURCE_ID]
        key = feature.bytes_list.value[0].decode("utf-8") if feature.bytes_list.value else ""
        digests.setdefault(key, []).append(hashlib.sha256(record).hexdigest())
    return digests


def _comparison_lines(result: dict[str, Any]) -> list[str]:
    lines = [
        f"Comparison of {os.path.join(result['dir'], audit.EXPORT_FOLDER)} with the "
        "recorded export (sha256 of every file):"
    ]
    for entry in result["files"]:
        detail = ""
        if entry["note"]:
            detail = f"  ({entry['note']})"
        elif entry["status"] == DIFFERS:
            detail = f"  recorded {entry['recorded_sha256']}, now {entry['reproduced_sha256']}"
        lines.append(f"  {entry['status']:8} {entry['file']}{detail}")
    for split in result["records"]:
        if not split["compared"]:
            lines.append(f"  records of split {split['split']} not compared: {split['reason']}")
            continue
        for key, label in (
            ("differ", "that differ"),
            ("only_recorded", "only in the recorded export"),
            ("only_reproduced", "only in the reproduction"),
        ):
            if split[key]:
                lines.append(
                    f"  records of split {split['split']} {label} "
                    f"({len(split[key])} of {split['recorded']}): " + _names(split[key])
                )
        if not (split["differ"] or split["only_recorded"] or split["only_reproduced"]):
            lines.append(
                f"  records of split {split['split']}: the same records, in "
                "another order or another sharding"
            )
    if result["not_compared"]:
        lines.append(
            "  not compared (written after the run, not part of the recorded export): "
            + ", ".join(result["not_compared"])
        )
    lines.append(
        "Reproduced: every file is the same."
        if result["same"]
        else "NOT reproduced: see the files that differ above."
    )
    return lines


def _names(names: list[str]) -> str:
    more = f" and {len(names) - _MAX_NAMES} more (see --json)" if len(names) > _MAX_NAMES else ""
    return ", ".join(names[:_MAX_NAMES]) + more
