"""Profiles one benchmark system in-process: where the time goes, per component.

The Beam DirectRunner's in_memory mode runs every bundle in the calling thread
and LocalDagRunner runs every component in-process, so one profile of the
main thread sees all the work of (b) and (c). Two profilers:
- sampling (default): every few ms the main thread's stack is read with
  sys._current_frames(); samples are attributed to the running TFX component
  (the executor class on the stack), to the leaf function (own time), to every
  function on the stack (inclusive time) and to a package group. Low overhead,
  so the shares are honest;
- cProfile (--cprofile): exact call counts, but its per-call overhead inflates
  code that makes many small calls (e.g. logging's cache clearing).
Imports happen before profiling and are reported separately.

Usage: python benchmarks/profile_stage.py --system a|b|c --voc-dir DIR --out-dir OUT
"""

import argparse
import collections
import cProfile
import os
import pstats
import re
import sys
import threading
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)

# Where own time goes: the first fragment found in a function's file names its
# group; C functions (cProfile's file "~") are matched by their name instead.
FILE_GROUPS = (
    ("google/protobuf", "protobuf"),
    ("tensorflow_data_validation", "tfdv"),
    ("tfx_bsl", "tfx_bsl"),
    ("tensorflow_transform", "tensorflow_transform"),
    ("tensorflow", "tensorflow"),
    ("apache_beam", "apache_beam"),
    ("dill", "dill (pickling)"),
    ("/pickle.py", "dill (pickling)"),
    ("/logging/", "logging"),
    ("/work/main/components", "odweights"),
    ("/work/main/pipelines", "odweights"),
    ("/work/main/odweights", "odweights"),
    ("/work/main/benchmarks", "benchmark code"),
    ("PIL/", "PIL"),
    ("/xml/", "xml"),
    ("defusedxml", "xml"),
    ("ml_metadata", "ml_metadata"),
    ("tfx/", "tfx"),
    ("pyarrow", "pyarrow"),
    ("/inspect.py", "inspect (Beam type hints)"),
    ("/threading.py", "waiting"),
    ("/queue.py", "waiting"),
    ("grpc", "grpc"),
    ("<frozen importlib", "imports"),
    ("objsize", "objsize (Beam size estimates)"),
)
C_GROUPS = (
    ("zlib", "zlib (GZIP)"),
    ("crc", "crc"),
    ("SerializeToString", "protobuf"),
    ("ParseFromString", "protobuf"),
    ("FromString", "protobuf"),
    ("pyexpat", "xml"),
    ("_pickle", "dill (pickling)"),
    ("_thread.lock", "waiting"),
    ("sleep", "waiting"),
    ("sha256", "hashlib"),
    ("io.open", "file I/O"),
    ("_io.", "file I/O"),
)


def group_of(filename: str, function: str) -> str:
    if filename == "~":
        return next(
            (group for fragment, group in C_GROUPS if fragment in function), "other C functions"
        )
    return next((group for fragment, group in FILE_GROUPS if fragment in filename), "other")


class StackSampler:
    """Samples one thread's Python stack at a fixed interval (wall clock)."""

    _EXECUTOR = re.compile(r"(?:tfx/components|/components)/([a-z_]+)/executor\.py$")

    def __init__(self, thread_id: int, interval: float = 0.005):
        self._thread_id = thread_id
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.samples = 0
        self.by_component = collections.Counter()
        self.own = collections.defaultdict(collections.Counter)  # component -> fn
        self.inclusive = collections.defaultdict(collections.Counter)  # component -> fn
        self.groups = collections.defaultdict(collections.Counter)  # component -> group

    def __enter__(self):
        self._started = time.time()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._elapsed = time.time() - self._started

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            frame = sys._current_frames().get(self._thread_id)
            if frame is None:
                continue
            stack = []
            while frame is not None:
                code = frame.f_code
                stack.append((code.co_filename, code.co_name, frame.f_lineno))
                frame = frame.f_back
            self._record(stack)

    def _record(self, stack) -> None:
        component = "(outside executors)"
        for filename, _, _ in reversed(stack):  # outermost first; the innermost executor wins
            match = self._EXECUTOR.search(filename)
            if match:
                component = match.group(1)
        self.samples += 1
        self.by_component[component] += 1
        filename, name, line = stack[0]
        self.own[component][f"{_short(filename)}:{line}({name})"] += 1
        self.groups[component][group_of(filename, name)] += 1
        for key in {f"{_short(f)}({n})" for f, n, _ in stack}:
            self.inclusive[component][key] += 1

    def report(self, top: int) -> None:
        # The sampler runs only when it gets the GIL, so samples are shares of
        # the elapsed time, not fixed ticks.
        seconds = self._elapsed / max(self.samples, 1)
        print(f"\nSampled {self.samples} stacks in {self._elapsed:.1f} s (wall clock, main thread)")
        for component, count in self.by_component.most_common():
            print(
                f"\n== {component}: ~{count * seconds:.1f} s "
                f"({count / self.samples * 100:.1f}% of samples)"
            )
            print("  own time by group:")
            for group, n in self.groups[component].most_common(12):
                print(f"    {n / count * 100:5.1f}%  {group}")
            print("  own time, top functions:")
            for function, n in self.own[component].most_common(top):
                print(f"    {n / count * 100:5.1f}%  {function}")
            print("  inclusive time, top functions:")
            for function, n in self.inclusive[component].most_common(top):
                print(f"    {n / count * 100:5.1f}%  {function}")


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/work/main/", "python3.10/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def prepare_target(system: str, voc_dir: str, out_dir: str, beam_args):
    """Imports what the system needs (not profiled) and returns its run function."""
    if system == "a":
        import serial_converter

        return lambda: serial_converter.main(
            ["--voc-dir", voc_dir, "--output", os.path.join(out_dir, "voc.record")]
        )
    import example_gen_stage  # the TFX, Beam and TF imports of (b) and (c)

    if system == "b":
        return lambda: example_gen_stage.run_example_gen(voc_dir, out_dir, beam_args)
    from odweights.app import cli
    from odweights.pipelines import local_runner, pipeline  # noqa: F401

    def run_pipeline():
        code = cli.main(
            ["run", "--voc-dir", voc_dir, "--output-dir", out_dir]
            + [f"--beam-arg={arg}" for arg in beam_args]
        )
        if code:
            raise SystemExit(code)

    return run_pipeline


def report_cprofile(stats: pstats.Stats, top: int) -> None:
    rows = stats.stats  # {(file, line, name): (cc, nc, tottime, cumtime, callers)}
    total = sum(row[2] for row in rows.values())
    by_group = collections.Counter()
    for (filename, _, function), row in rows.items():
        by_group[group_of(filename, function)] += row[2]
    print(f"\nOwn CPU time by group (total {total:.1f} s):")
    for group, seconds in by_group.most_common():
        print(f"  {seconds:8.2f} s  {seconds / total * 100:5.1f}%  {group}")
    print(f"\nTop {top} functions by own time:")
    stats.sort_stats("tottime").print_stats(top)
    print(f"\nTop {top} functions by cumulative time:")
    stats.sort_stats("cumulative").print_stats(top)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", choices=("a", "b", "c"), required=True)
    parser.add_argument("--voc-dir", required=True)
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--beam-arg", action="append", default=[], dest="beam_args")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--cprofile",
        action="store_true",
        help="cProfile (CPU time, exact counts) instead of the sampler",
    )
    args = parser.parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    imports_started = time.time()
    run_target = prepare_target(args.system, args.voc_dir, args.out_dir, args.beam_args)
    print(f"imports {time.time() - imports_started:.1f} s (not profiled)", file=sys.stderr)
    started, cpu_started = time.time(), time.process_time()
    if args.cprofile:
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        try:
            run_target()
        finally:
            profiler.disable()
            path = os.path.join(args.out_dir, "profile.prof")
            profiler.dump_stats(path)
            report_cprofile(pstats.Stats(path), args.top)
    else:
        with StackSampler(threading.get_ident()) as sampler:
            run_target()
        sampler.report(args.top)
    print(
        f"\nwall {time.time() - started:.1f} s, CPU of this process "
        f"{time.process_time() - cpu_started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
