"""`make bench`: throughput and memory of odweights against a serial converter.

Generates Pascal VOC data at two sizes and measures, each in a fresh
subprocess so that start-up is counted and memory is per run:
  (a) baseline   benchmarks/serial_converter.py (one process, one loop)
  (b) examplegen the VOC ExampleGen alone in a one-component TFX pipeline
  (c) pipeline   the whole `odweights run`
For each: wall time at both sizes, fixed cost (the intercept of the line
through the two sizes), marginal throughput (extra images / extra seconds),
peak resident memory of the process tree, the ratios of marginal throughput
against the baseline with their targets (docs/benchmarks.md), and for (b) and (c) a
per-component breakdown read from the runs' ML Metadata executions.
Writes benchmarks/results/latest.json and latest.md, and appends one line
(date, commit, headline ratios) to benchmarks/results/history.jsonl.

Options also come from the environment: ODW_BENCH_SIZES (e.g. "200,1000"),
ODW_BENCH_SYSTEMS (e.g. "a,b"), ODW_BENCH_BEAM_MODES (default
"default,ingest_workers_2": in-process, and the VOC ExampleGen on 2 worker
processes).
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

import psutil

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(BENCH_DIR)
DEFAULT_WORK_DIR = os.path.join(BENCH_DIR, "work")
DEFAULT_RESULTS_DIR = os.path.join(BENCH_DIR, "results")
HISTORY_FILE = "history.jsonl"
DEFAULT_SIZES = "2000,20000"
SEED = 0

SYSTEMS = {
    "a": "baseline (serial converter)",
    "b": "VOC ExampleGen alone",
    "c": "odweights run (whole pipeline)",
}
# Targets (docs/benchmarks.md): marginal throughput relative to the baseline, and the
# growth of (c)'s peak memory from the smaller to the larger size.
THROUGHPUT_TARGETS = {"b": 1.2, "c": 0.4}
MEMORY_GROWTH_TARGET = 0.25

# Beam DirectRunner modes. "default" passes no Beam argument (for (c): what
# `odweights run` chooses by itself; for (b): Beam's own default, in_memory).
BEAM_MODES = {
    "default": [],
    "in_memory": ["--direct_running_mode=in_memory", "--direct_num_workers=1"],
    "multi_processing": ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
    "multi_threading": ["--direct_running_mode=multi_threading", "--direct_num_workers=2"],
    # The VOC ExampleGen on 2 worker processes, every other component in-process:
    # for (b) the same as multi_processing, for (c) `odweights run --ingest-workers 2`.
    "ingest_workers_2": ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
}
RUN_FLAGS = {"ingest_workers_2": ["--ingest-workers", "2"]}
"""`odweights run` flags of a mode for (c), given instead of its Beam arguments."""
DEFAULT_BEAM_MODES = "default,ingest_workers_2"
RSS_POLL_SECONDS = 0.25


# --------------------------------------------------------------------------
# Arithmetic of the two-size measurement (pure; tested in tests/test_benchmarks.py)


def marginal_throughput(n1: int, t1: float, n2: int, t2: float) -> float | None:
    """Extra images per extra second between the two sizes (None if undefined)."""
    if n2 == n1 or t2 <= t1:
        return None
    return (n2 - n1) / (t2 - t1)


def fixed_cost(n1: int, t1: float, n2: int, t2: float) -> float | None:
    """Seconds at zero images: intercept of the line through the two points."""
    if n2 == n1:
        return None
    return t1 - n1 * (t2 - t1) / (n2 - n1)


def ratio(value: float | None, reference: float | None) -> float | None:
    if value is None or not reference:
        return None
    return value / reference


def growth(small: float | None, large: float | None) -> float | None:
    """Relative growth from small to large (0.1 = 10% more)."""
    if not small or large is None:
        return None
    return large / small - 1.0


def component_costs(
    durations_small: dict[str, float], durations_large: dict[str, float], n1: int, n2: int
) -> list[dict]:
    """Fixed seconds and milliseconds per image of each component, from its
    duration at both sizes (components missing at either size are skipped)."""
    costs = []
    for component, t1 in durations_small.items():
        if component not in durations_large:
            continue
        t2 = durations_large[component]
        per_image = (t2 - t1) / (n2 - n1)
        costs.append(
            {
                "component": component,
                "seconds": [round(t1, 3), round(t2, 3)],
                "fixed_s": round(t1 - n1 * per_image, 3),
                "per_image_ms": round(per_image * 1000.0, 4),
            }
        )
    return costs


def _marginal_of(field: str, n1: int, n2: int, r1: dict, r2: dict) -> float | None:
    if r1.get(field) is None or r2.get(field) is None:
        return None
    return marginal_throughput(n1, r1[field], n2, r2[field])


def _shortfall(value: float | None, met: bool, text: str) -> str | None:
    if met:
        return None
    return "not measurable" if value is None else text


def summarize(system: str, sizes: Sequence[int], runs: Sequence[dict]) -> dict:
    """Two runs (small, large) of one system: its derived numbers."""
    (n1, n2), (r1, r2) = sizes, runs
    t1, t2 = r1["wall_s"], r2["wall_s"]
    summary = {
        "system": system,
        "wall_s": [round(t1, 3), round(t2, 3)],
        "images_per_s": [round(n1 / t1, 1), round(n2 / t2, 1)],
        "fixed_s": _round(fixed_cost(n1, t1, n2, t2), 3),
        "first_work_s": [_round(r.get("first_work_s"), 3) for r in runs],
        "marginal_images_per_s": _round(marginal_throughput(n1, t1, n2, t2), 1),
        "cpu_s": [_round(r.get("cpu_s"), 3) for r in runs],
        "cpu_marginal_images_per_cpu_s": _round(_marginal_of("cpu_s", n1, n2, r1, r2), 1),
        "work_s": [_round(r.get("work_s"), 3) for r in runs],
        "work_marginal_images_per_s": _round(_marginal_of("work_s", n1, n2, r1, r2), 1),
        "peak_rss_mb": [round(r["peak_rss_mb"], 1) for r in runs],
        "peak_rss_growth": _round(growth(r1["peak_rss_mb"], r2["peak_rss_mb"]), 3),
        "peak_worker_rss_mb": [_round(r.get("peak_single_process_rss_mb"), 1) for r in runs],
        "peak_worker_open_files": [r.get("peak_single_process_open_files") for r in runs],
    }
    if r1.get("report_s") is not None and r2.get("report_s") is not None:
        summary["report_s"] = [r1["report_s"], r2["report_s"]]
        summary["report_share"] = [round(r["report_s"] / r["wall_s"], 4) for r in runs]
    if r2.get("stage_bytes"):
        summary["bytes_per_image"] = {
            stage: round(size / n2) for stage, size in r2["stage_bytes"].items()
        }
    if r1.get("components") and r2.get("components"):
        summary["components"] = component_costs(r1["components"], r2["components"], n1, n2)
    return summary


def compare(summaries: dict[str, dict]) -> list[dict]:
    """Each (b)/(c) variant against the baseline (a), with their targets."""
    baseline = summaries.get("a")
    if baseline is None:
        return []
    checks = []
    for key, summary in summaries.items():
        system = key.split(":")[0]
        if system not in THROUGHPUT_TARGETS:
            continue
        target = THROUGHPUT_TARGETS[system]
        for label, field in (
            ("", "marginal_images_per_s"),
            (" (work only)", "work_marginal_images_per_s"),
            (" (CPU time)", "cpu_marginal_images_per_cpu_s"),
        ):
            value = ratio(summary[field], baseline[field])
            met = value is not None and value >= target
            checks.append(
                {
                    "check": f"marginal throughput{label} {key} / a",
                    "value": _round(value, 3),
                    "target": f">= {target}",
                    "met": met,
                    "shortfall": _shortfall(
                        value,
                        met,
                        value is not None and f"{(1 - value / target) * 100:.0f}% below target",
                    ),
                }
            )
        if system == "c":
            memory = summary["peak_rss_growth"]
            met = memory is not None and memory <= MEMORY_GROWTH_TARGET
            checks.append(
                {
                    "check": f"peak RSS growth {key}, small -> large size",
                    "value": memory,
                    "target": f"<= {MEMORY_GROWTH_TARGET}",
                    "met": met,
                    "shortfall": _shortfall(
                        memory,
                        met,
                        memory is not None
                        and f"{(memory - MEMORY_GROWTH_TARGET) * 100:.0f} points over target",
                    ),
                }
            )
    return checks


def diagnose(summaries: dict[str, dict]) -> list[str]:
    """Why a (b)/(c) variant misses its throughput target, from the measurements:
    its cost per extra image against what the target allows, how many cores it kept
    busy, and which components the cost comes from."""
    baseline = summaries.get("a")
    if not baseline or not baseline["marginal_images_per_s"]:
        return []
    baseline_ms = 1000.0 / baseline["marginal_images_per_s"]
    reasons = []
    for key, summary in summaries.items():
        system = key.split(":")[0]
        target = THROUGHPUT_TARGETS.get(system)
        throughput = summary["marginal_images_per_s"]
        if target is None or not throughput or throughput >= target / baseline_ms * 1000.0:
            continue
        wall, cpu = summary["wall_s"], summary["cpu_s"]
        cores = (
            (cpu[1] - cpu[0]) / (wall[1] - wall[0])
            if None not in cpu and wall[1] > wall[0]
            else None
        )
        text = (
            f"({key}) spends {1000.0 / throughput:.2f} ms per extra image; the target "
            f"({target} x the baseline's {baseline_ms:.2f} ms) allows "
            f"{baseline_ms / target:.2f} ms."
        )
        if cores is not None:
            text += f" It kept {cores:.2f} of {os.cpu_count()} cores busy"
            text += (
                ": Beam's in-process DirectRunner runs every bundle in one Python "
                "thread, as the baseline does."
                if cores < 1.1
                else "."
            )
        costs = sorted(
            (
                c
                for c in summary.get("components") or []
                if c["per_image_ms"] is not None and c["per_image_ms"] >= 0.01
            ),
            key=lambda c: -c["per_image_ms"],
        )
        if costs:
            text += (
                " Per image: "
                + ", ".join(f"{c['component']} {c['per_image_ms']:.2f} ms" for c in costs)
                + "."
            )
        reasons.append(text)
    return reasons


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


# --------------------------------------------------------------------------
# Running one measured subprocess


class TreeMemoryPoller:
    """Peak resident memory of a process and all its descendants, summed
    (Beam's multi-processing workers are children of the measured process), and
    per worker: the largest memory and the most open files of any one process."""

    def __init__(self, pid: int):
        self._root = psutil.Process(pid)
        self.peak_bytes = 0
        self.peak_single_bytes = 0
        self.peak_single_open_files = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                processes = [self._root] + self._root.children(recursive=True)
            except psutil.Error:
                return
            total = 0
            for process in processes:
                try:
                    rss = process.memory_info().rss
                    open_files = process.num_fds()
                except psutil.Error:
                    continue
                total += rss
                self.peak_single_bytes = max(self.peak_single_bytes, rss)
                self.peak_single_open_files = max(self.peak_single_open_files, open_files)
            self.peak_bytes = max(self.peak_bytes, total)
            self._stop.wait(RSS_POLL_SECONDS)


def measure(command: list[str], log_path: str) -> dict:
    """Runs command; wall time, CPU time and peak RSS of its process tree, and
    its last JSON stdout line. CPU time (user + sys of the child and of every
    descendant it waited for) is the figure that other load on the machine
    disturbs least."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(log_path, "w") as log:
        usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.time()
        child = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=log, env=env, cwd=REPO_DIR, text=True
        )
        with TreeMemoryPoller(child.pid) as poller:
            stdout, _ = child.communicate()
        finished = time.time()
        usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (usage_after.ru_utime + usage_after.ru_stime) - (
        usage_before.ru_utime + usage_before.ru_stime
    )
    if child.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed with exit code {child.returncode}; see {log_path}"
        )
    reported = {}
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            reported = json.loads(line)
            break
    return {
        "command": command,
        "started": started,
        "finished": finished,
        "wall_s": finished - started,
        "cpu_s": cpu_s,
        "peak_rss_mb": poller.peak_bytes / 2**20,
        "peak_single_process_rss_mb": poller.peak_single_bytes / 2**20,
        "peak_single_process_open_files": poller.peak_single_open_files,
        "reported": reported,
        "stdout_tail": stdout.splitlines()[-40:],
    }


# --------------------------------------------------------------------------
# ML Metadata: when each component ran


def execution_times(metadata_path: str) -> dict[str, dict]:
    """Per component (node id): start, end and state of its execution."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    store = metadata_store.MetadataStore(config)
    node_type_ids = {t.id for t in store.get_context_types() if t.name == "node"}
    times = {}
    for execution in store.get_executions():
        node = next(
            (
                c.name
                for c in store.get_contexts_by_execution(execution.id)
                if c.type_id in node_type_ids
            ),
            str(execution.id),
        )
        node = node.split(".", 1)[-1]
        times[node] = {
            "start": execution.create_time_since_epoch / 1000.0,
            "end": execution.last_update_time_since_epoch / 1000.0,
            "state": metadata_store_pb2.Execution.State.Name(execution.last_known_state),
        }
    return times


def attach_components(run: dict, metadata_path: str) -> None:
    """Adds per-component durations and the time to the first component."""
    times = execution_times(metadata_path)
    run["executions"] = times
    run["components"] = {name: t["end"] - t["start"] for name, t in times.items()}
    if times:
        first = min(t["start"] for t in times.values())
        last = max(t["end"] for t in times.values())
        run["first_work_s"] = first - run["started"]
        run["work_s"] = last - first
        run["after_last_component_s"] = run["finished"] - last
        run["between_components_s"] = (last - first) - sum(run["components"].values())


# --------------------------------------------------------------------------
# The three systems


def dataset_dir(work_dir: str, size: int) -> str:
    """Generates (once) and returns the VOCdevkit folder of a dataset of `size` images."""
    root = os.path.join(work_dir, f"voc-{size}-seed{SEED}")
    if not os.path.exists(os.path.join(root, ".complete")):
        from odweights.app import sample_data

        shutil.rmtree(root, ignore_errors=True)
        print(f"generating {size} VOC images in {root} ...", flush=True)
        sample_data.write_dataset(root, num_images=size, seed=SEED)
        open(os.path.join(root, ".complete"), "w").close()
    return os.path.join(root, "VOCdevkit")


def warm_page_cache(directory: str) -> None:
    """Reads every file once so that no run pays for cold disk reads."""
    for parent, _, names in os.walk(directory):
        for name in names:
            with open(os.path.join(parent, name), "rb") as handle:
                while handle.read(1 << 20):
                    pass


def odweights_command() -> list[str]:
    script = os.path.join(os.path.dirname(sys.executable), "odweights")
    if os.path.exists(script):
        return [script]
    return [sys.executable, "-m", "odweights.app.cli"]


def run_system(system: str, mode: str, voc_dir: str, out_dir: str) -> dict:
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    log = out_dir + ".log"
    mode_args = [f"--beam-arg={arg}" for arg in BEAM_MODES[mode]]
    if system == "c" and mode in RUN_FLAGS:
        mode_args = RUN_FLAGS[mode]
    if system == "a":
        run = measure(
            [
                sys.executable,
                os.path.join(BENCH_DIR, "serial_converter.py"),
                "--voc-dir",
                voc_dir,
                "--output",
                os.path.join(out_dir, "voc.record"),
            ],
            log,
        )
        reported = run["reported"]
        if reported.get("first_image_done"):
            run["first_work_s"] = reported["first_image_done"] - run["started"]
        if reported.get("imports_done"):
            run["work_s"] = reported["finished"] - reported["imports_done"]
        return run
    if system == "b":
        run = measure(
            [
                sys.executable,
                os.path.join(BENCH_DIR, "example_gen_stage.py"),
                "--voc-dir",
                voc_dir,
                "--work-dir",
                out_dir,
            ]
            + mode_args,
            log,
        )
        attach_components(run, os.path.join(out_dir, "metadata.sqlite"))
        return run
    run = measure(
        odweights_command() + ["run", "--voc-dir", voc_dir, "--output-dir", out_dir] + mode_args,
        log,
    )
    attach_components(run, os.path.join(out_dir, "metadata.sqlite"))
    run["stage_bytes"] = stage_bytes(voc_dir, out_dir)
    run["report_s"] = report_seconds(run["stdout_tail"])
    return run


_REPORT_LINE = re.compile(r"^Report: .* \(written in ([\d.]+) s\)$")


def report_seconds(stdout_lines: Sequence[str]) -> float | None:
    """How long `odweights run` took to write report.html, from its summary line."""
    for line in stdout_lines:
        match = _REPORT_LINE.match(line)
        if match:
            return float(match.group(1))
    return None


def _folder_bytes(folder: str) -> int:
    return sum(
        os.path.getsize(os.path.join(parent, name))
        for parent, _, names in os.walk(folder)
        for name in names
    )


def stage_bytes(voc_dir: str, out_dir: str) -> dict[str, int]:
    """Bytes at each stage of a run of (c): the input, each component's artifacts
    (OUT/pipeline/<component>), and the export."""
    sizes = {"input (VOC)": _folder_bytes(voc_dir)}
    pipeline_root = os.path.join(out_dir, "pipeline")
    for component in sorted(os.listdir(pipeline_root)) if os.path.isdir(pipeline_root) else []:
        if os.path.isdir(os.path.join(pipeline_root, component)):
            sizes[component] = _folder_bytes(os.path.join(pipeline_root, component))
    sizes["export"] = _folder_bytes(os.path.join(out_dir, "export"))
    return sizes


def measure_startup(work_dir: str) -> dict:
    """The floor of any start-up: a fresh `python -c "import tensorflow"`."""
    run = measure(
        [sys.executable, "-c", "import tensorflow"], os.path.join(work_dir, "import-tensorflow.log")
    )
    return {
        "import_tensorflow_s": round(run["wall_s"], 3),
        "import_tensorflow_cpu_s": round(run["cpu_s"], 3),
    }


# --------------------------------------------------------------------------
# Machine, table, files


def machine_description() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for package in (
        "tfx",
        "apache_beam",
        "tensorflow",
        "tensorflow_data_validation",
        "tensorflow_transform",
    ):
        try:
            from importlib import metadata

            versions[package] = metadata.version(package.replace("_", "-"))
        except Exception:  # noqa: BLE001 - a missing package is reported as such
            versions[package] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def _fmt(value, digits=1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _pair(values, digits=1) -> str:
    return f"{_fmt(values[0], digits)} / {_fmt(values[1], digits)}"


def git_commit() -> str | None:
    """The short commit of the measured code, with "-dirty" when tracked files
    differ from it (None outside a git checkout)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_DIR,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_DIR,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("-dirty" if status.stdout.strip() else "")


def history_entry(result: dict, commit: str | None) -> dict:
    """One line of history.jsonl: when, on which code, and the headline numbers
    (each variant's marginal throughput, its ratio to the baseline, and the
    peak-memory growth of (c))."""
    summaries = result["summaries"]
    baseline = summaries.get("a", {}).get("marginal_images_per_s")
    return {
        "date": result["date"],
        "commit": commit,
        "sizes": result["sizes"],
        "marginal_images_per_s": {
            key: summary["marginal_images_per_s"] for key, summary in summaries.items()
        },
        "ratio_to_baseline": {
            key: _round(ratio(summary["marginal_images_per_s"], baseline), 3)
            for key, summary in summaries.items()
            if key != "a"
        },
        "peak_rss_growth": {
            key: summary["peak_rss_growth"]
            for key, summary in summaries.items()
            if key.startswith("c")
        },
    }


def markdown(result: dict) -> str:
    n1, n2 = result["sizes"]
    machine = result["machine"]
    lines = [
        f"Benchmark of {result['date']} on {machine['cpu']}, {machine['cores']} cores, "
        f"{machine['ram_gb']} GB RAM, Python {machine['python']}, "
        f"tfx {machine['versions'].get('tfx')}, apache-beam "
        f"{machine['versions'].get('apache_beam')}; sizes {n1} and {n2} images "
        f"(fastest of {result.get('repeat', 1)} run(s) each).",
        "",
        f"| system | Beam mode | wall s ({n1} / {n2}) | images/s ({n1} / {n2}) "
        f"| fixed s | first work s ({n1} / {n2}) | **marginal images/s** "
        f"| peak RSS MB ({n1} / {n2}) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows = [
        (key, *key.partition(":")[::2], summary) for key, summary in result["summaries"].items()
    ]
    for _, system, mode, summary in rows:
        lines.append(
            f"| ({system}) {SYSTEMS[system]} | {mode or '-'} | {_pair(summary['wall_s'])} "
            f"| {_pair(summary['images_per_s'], 0)} | {_fmt(summary['fixed_s'])} "
            f"| {_pair(summary['first_work_s'])} "
            f"| **{_fmt(summary['marginal_images_per_s'], 0)}** "
            f"| {_pair(summary['peak_rss_mb'], 0)} |"
        )
    lines += [
        "",
        "The same runs measured without process start-up (work: the component "
        "executions, or the baseline's loop) and in CPU time of the process tree "
        "(least disturbed by other load on the machine):",
        "",
        f"| system | Beam mode | work s ({n1} / {n2}) | marginal images/s, work only "
        f"| CPU s ({n1} / {n2}) | marginal images per CPU s |",
        "|---|---|---|---|---|---|",
    ]
    for _, system, mode, summary in rows:
        lines.append(
            f"| ({system}) | {mode or '-'} | {_pair(summary['work_s'])} "
            f"| {_fmt(summary['work_marginal_images_per_s'], 0)} "
            f"| {_pair(summary['cpu_s'])} "
            f"| {_fmt(summary['cpu_marginal_images_per_cpu_s'], 0)} |"
        )
    if result["checks"]:
        lines += ["", "| check | value | target | met |", "|---|---|---|---|"]
        for check in result["checks"]:
            met = "yes" if check["met"] else f"**no** ({check['shortfall']})"
            lines.append(
                f"| {check['check']} | {_fmt(check['value'], 2)} | {check['target']} | {met} |"
            )
    if result.get("diagnosis"):
        lines += ["", "Why the throughput targets are missed (from the numbers above):", ""]
        lines += [f"- {reason}" for reason in result["diagnosis"]]
    lines += [
        "",
        "Per worker (the largest single process of the run's process tree), to check "
        "that workers stay bounded as the data grows 10x (docs/scale.md):",
        "",
        f"| system | Beam mode | peak RSS MB ({n1} / {n2}) | peak open files ({n1} / {n2}) |",
        "|---|---|---|---|",
    ]
    for _, system, mode, summary in rows:
        lines.append(
            f"| ({system}) | {mode or '-'} | {_pair(summary['peak_worker_rss_mb'], 0)} "
            f"| {_pair(summary['peak_worker_open_files'], 0)} |"
        )
    startup = result.get("startup")
    if startup:
        lines += [
            "",
            f'Start-up: `python -c "import tensorflow"` takes '
            f"{_fmt(startup['import_tensorflow_s'])} s ({_fmt(startup['import_tensorflow_cpu_s'])} "
            "CPU s), the floor of any TFX process; first work s above is the start-up "
            "of each system (process start to its first component).",
        ]
    for key, _, _, summary in rows:
        if summary.get("report_s"):
            shares = " / ".join(f"{share:.1%}" for share in summary["report_share"])
            lines += [
                "",
                f"Run report ({key}): report.html written in "
                f"{_pair(summary['report_s'])} s, {shares} of the run's wall time "
                "(target: at most 5 %, docs/report.md).",
            ]
    for key, _, _, summary in rows:
        if summary.get("bytes_per_image"):
            lines += [
                "",
                f"Bytes per image at each stage, ({key}), {n2} images:",
                "",
                "| stage | bytes per image |",
                "|---|---|",
            ]
            lines += [f"| {stage} | {size} |" for stage, size in summary["bytes_per_image"].items()]
    for key, _, _, summary in rows:
        if not summary.get("components"):
            continue
        lines += [
            "",
            f"Per component, ({key}), from the ML Metadata executions:",
            "",
            f"| component | s ({n1} / {n2}) | fixed s | ms per image |",
            "|---|---|---|---|",
        ]
        for cost in summary["components"]:
            lines.append(
                f"| {cost['component']} | {_pair(cost['seconds'])} "
                f"| {_fmt(cost['fixed_s'])} | {_fmt(cost['per_image_ms'], 3)} |"
            )
    return "\n".join(lines) + "\n"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default=os.environ.get("ODW_BENCH_SIZES", DEFAULT_SIZES),
        help="two image counts, small,large (default: %(default)s)",
    )
    parser.add_argument(
        "--systems",
        default=os.environ.get("ODW_BENCH_SYSTEMS", "a,b,c"),
        help="which of a,b,c to run (default: %(default)s)",
    )
    parser.add_argument(
        "--beam-modes",
        default=os.environ.get("ODW_BENCH_BEAM_MODES", DEFAULT_BEAM_MODES),
        help="Beam DirectRunner modes for (b) and (c), comma-separated, of "
        f"{', '.join(BEAM_MODES)} (default: %(default)s)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=int(os.environ.get("ODW_BENCH_REPEAT", 1)),
        help="runs per system and size; the fastest is kept (default: %(default)s)",
    )
    parser.add_argument("--work-dir", default=DEFAULT_WORK_DIR)
    parser.add_argument("--results-dir", default=DEFAULT_RESULTS_DIR)
    args = parser.parse_args(argv)
    args.sizes = sorted(int(size) for size in args.sizes.split(","))
    if len(args.sizes) != 2 or args.sizes[0] == args.sizes[1] or args.sizes[0] <= 0:
        parser.error("--sizes takes two different positive image counts, e.g. 2000,20000")
    args.systems = [s for s in args.systems.split(",") if s]
    if set(args.systems) - set(SYSTEMS):
        parser.error(f"--systems takes a comma-separated subset of {','.join(SYSTEMS)}")
    args.beam_modes = [m for m in args.beam_modes.split(",") if m]
    if set(args.beam_modes) - set(BEAM_MODES):
        parser.error(f"--beam-modes takes a comma-separated subset of {','.join(BEAM_MODES)}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    os.makedirs(args.work_dir, exist_ok=True)
    datasets = {size: dataset_dir(args.work_dir, size) for size in args.sizes}
    variants = []
    for system in args.systems:
        modes = args.beam_modes if system in ("b", "c") else [""]
        variants += [f"{system}:{mode}" if mode else system for mode in modes]
    runs: dict[str, list[dict]] = {}
    for key in variants:
        system, _, mode = key.partition(":")
        for size in args.sizes:
            warm_page_cache(datasets[size])
            out_dir = os.path.join(args.work_dir, "runs", f"{key.replace(':', '-')}-{size}")
            print(f"running ({key}) {SYSTEMS[system]} on {size} images ...", flush=True)
            attempts = []
            for _ in range(args.repeat):
                attempts.append(run_system(system, mode or "default", datasets[size], out_dir))
                print(
                    f"  {attempts[-1]['wall_s']:.1f} s, peak RSS "
                    f"{attempts[-1]['peak_rss_mb']:.0f} MB",
                    flush=True,
                )
            run = min(attempts, key=lambda attempt: attempt["wall_s"])
            run["wall_s_all"] = [round(attempt["wall_s"], 3) for attempt in attempts]
            runs.setdefault(key, []).append(run)
    summaries = {key: summarize(key, args.sizes, key_runs) for key, key_runs in runs.items()}
    startup = measure_startup(args.work_dir)
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_description(),
        "sizes": args.sizes,
        "repeat": args.repeat,
        "startup": startup,
        "summaries": summaries,
        "checks": compare(summaries),
        "diagnosis": diagnose(summaries),
        "runs": {
            key: [{k: v for k, v in run.items() if k != "stdout_tail"} for run in key_runs]
            for key, key_runs in runs.items()
        },
    }
    os.makedirs(args.results_dir, exist_ok=True)
    with open(os.path.join(args.results_dir, "latest.json"), "w") as handle:
        json.dump(result, handle, indent=2)
    table = markdown(result)
    with open(os.path.join(args.results_dir, "latest.md"), "w") as handle:
        handle.write(table)
    with open(os.path.join(args.results_dir, HISTORY_FILE), "a") as handle:
        handle.write(json.dumps(history_entry(result, git_commit()), sort_keys=True) + "\n")
    print()
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
