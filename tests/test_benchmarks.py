"""The benchmark harness on tiny sizes: the baseline converter's output, the
memory measurement of a process tree, and the two-size arithmetic.
No timing assertions: performance lives in `make bench`, not in tests."""

import importlib.util
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import pytest
import tensorflow as tf

from odweights import features
from odweights.app import sample_data

BENCH_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")


def _load(name):
    spec = importlib.util.spec_from_file_location(
        f"odweights_bench_{name}", os.path.join(BENCH_DIR, f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load("run")
converter = _load("serial_converter")


@pytest.fixture(scope="module")
def voc20(tmp_path_factory):
    root = tmp_path_factory.mktemp("voc20")
    summary = sample_data.write_dataset(str(root), num_images=20, seed=0)
    return os.path.join(str(root), "VOCdevkit"), summary


def test_baseline_converts_every_listed_image_with_a_weight_per_box(voc20, tmp_path):
    voc_dir, _ = voc20
    output = str(tmp_path / "voc.record")
    run = bench.measure(
        [
            sys.executable,
            os.path.join(BENCH_DIR, "serial_converter.py"),
            "--voc-dir",
            voc_dir,
            "--output",
            output,
        ],
        str(tmp_path / "baseline.log"),
    )
    assert run["reported"]["images"] == 20
    assert run["peak_rss_mb"] > 50  # a Python process with TensorFlow loaded
    assert run["cpu_s"] > 0
    year_dir = os.path.join(voc_dir, "VOC2007")
    listed = []
    for split in ("train", "val"):
        with open(os.path.join(year_dir, "ImageSets", "Main", f"{split}.txt")) as ids:
            listed += ids.read().split()
    records = [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(output)]
    assert len(records) == len(listed) == 20
    total_boxes = 0
    for image_id, example in zip(listed, records, strict=True):
        feature = example.features.feature
        assert set(feature) == set(features.EXPORT_KEYS)
        root = ElementTree.parse(os.path.join(year_dir, "Annotations", f"{image_id}.xml"))
        filename = root.findtext("filename")
        with open(os.path.join(year_dir, "JPEGImages", filename), "rb") as image:
            assert feature[features.ENCODED].bytes_list.value[0] == image.read()
        width = int(root.findtext("size/width"))
        objects = root.findall("object")
        names = [obj.findtext("name") for obj in objects]
        assert [t.decode() for t in feature[features.CLASS_TEXT].bytes_list.value] == names
        assert list(feature[features.BBOX_XMIN].float_list.value) == pytest.approx(
            [float(obj.findtext("bndbox/xmin")) / width for obj in objects]
        )
        assert list(feature[features.WEIGHT].float_list.value) == pytest.approx(
            [converter.HARD_CODED_WEIGHTS.get(name, converter.DEFAULT_WEIGHT) for name in names]
        )
        total_boxes += len(objects)
    assert run["reported"]["boxes"] == total_boxes


def test_measure_counts_the_memory_of_the_whole_process_tree(tmp_path):
    # The child allocates nothing itself; its own child holds 300 MB for a while.
    grandchild = "b = bytearray(300 * 2**20); import time; time.sleep(1.0)"
    child = (
        "import subprocess, sys, json; "
        f"subprocess.run([sys.executable, '-c', {grandchild!r}], check=True); "
        "print(json.dumps({'done': True}))"
    )
    run = bench.measure([sys.executable, "-c", child], str(tmp_path / "tree.log"))
    assert run["reported"] == {"done": True}
    assert run["peak_rss_mb"] > 300
    assert run["peak_rss_mb"] >= run["peak_single_process_rss_mb"] > 300


def test_measure_counts_the_open_files_of_one_worker(tmp_path):
    # 50 files held open at once by the grandchild (one worker of the tree).
    grandchild = (
        "import tempfile, time; files = [tempfile.TemporaryFile() for _ in range(50)]; "
        "time.sleep(1.0)"
    )
    run = bench.measure(
        [
            sys.executable,
            "-c",
            f"import subprocess, sys; subprocess.run("
            f"[sys.executable, '-c', {grandchild!r}], check=True)",
        ],
        str(tmp_path / "files.log"),
    )
    assert run["peak_single_process_open_files"] >= 50


def test_measure_reports_a_failing_command_with_its_log(tmp_path):
    with pytest.raises(RuntimeError, match="exit code 3"):
        bench.measure([sys.executable, "-c", "import sys; sys.exit(3)"], str(tmp_path / "fail.log"))


def test_two_size_arithmetic():
    # 10 s fixed + 2 ms per image.
    assert bench.marginal_throughput(1000, 12.0, 11000, 32.0) == pytest.approx(500.0)
    assert bench.fixed_cost(1000, 12.0, 11000, 32.0) == pytest.approx(10.0)
    assert bench.marginal_throughput(1000, 12.0, 11000, 11.0) is None  # no signal
    assert bench.ratio(600.0, 500.0) == pytest.approx(1.2)
    assert bench.ratio(None, 500.0) is None
    assert bench.growth(400.0, 500.0) == pytest.approx(0.25)


def test_summaries_compare_against_the_targets():
    sizes = [1000, 11000]

    def runs(fixed, per_image, rss_small, rss_large, components=None):
        return [
            {
                "wall_s": fixed + n * per_image,
                "peak_rss_mb": rss,
                "first_work_s": 1.0,
                "work_s": fixed - 1.0 + n * per_image,
                "cpu_s": fixed + n * per_image,
                "components": components and {c: f + n * p for c, (f, p) in components.items()},
            }
            for n, rss in zip(sizes, (rss_small, rss_large), strict=True)
        ]

    summaries = {
        "a": bench.summarize("a", sizes, runs(2.0, 0.001, 300, 310)),  # 1000/s
        "b:default": bench.summarize("b:default", sizes, runs(5.0, 0.0008, 500, 520)),
        "c:default": bench.summarize(
            "c:default",
            sizes,
            runs(
                40.0,
                0.004,
                1000,
                1400,  # 250/s
                components={"VocExampleGen": (3.0, 0.001), "StatisticsGen": (6.0, 0.0005)},
            ),
        ),
    }
    assert summaries["a"]["marginal_images_per_s"] == pytest.approx(1000.0)
    assert summaries["c:default"]["fixed_s"] == pytest.approx(40.0)
    costs = {c["component"]: c for c in summaries["c:default"]["components"]}
    assert costs["StatisticsGen"]["fixed_s"] == pytest.approx(6.0)
    assert costs["StatisticsGen"]["per_image_ms"] == pytest.approx(0.5)
    checks = {c["check"]: c for c in bench.compare(summaries)}
    b_ratio = checks["marginal throughput b:default / a"]
    assert b_ratio["value"] == pytest.approx(1.25) and b_ratio["met"]
    c_ratio = checks["marginal throughput c:default / a"]
    assert c_ratio["value"] == pytest.approx(0.25) and not c_ratio["met"]
    assert c_ratio["shortfall"] == "38% below target"
    assert checks["marginal throughput (work only) c:default / a"]["value"] == pytest.approx(0.25)
    memory = checks["peak RSS growth c:default, small -> large size"]
    assert memory["value"] == pytest.approx(0.4) and not memory["met"]

    diagnosis = bench.diagnose(summaries)
    assert len(diagnosis) == 1 and diagnosis[0].startswith(  # (b) meets its target
        "(c:default) spends 4.00 ms per extra image; the target (0.4 x the baseline's "
        "1.00 ms) allows 2.50 ms. It kept 1.00 of "
    )
    assert diagnosis[0].endswith("Per image: VocExampleGen 1.00 ms, StatisticsGen 0.50 ms.")
    result = {
        "date": "today",
        "sizes": sizes,
        "summaries": summaries,
        "checks": bench.compare(summaries),
        "diagnosis": diagnosis,
        "machine": bench.machine_description(),
    }
    table = bench.markdown(result)
    assert "| (c) odweights run (whole pipeline) | default " in table
    assert "| StatisticsGen | 6.5 / 11.5 | 6.0 | 0.500 |" in table
    assert "| (c) | default | 43.0 / 83.0 | 250 | 44.0 / 84.0 | 250 |" in table
    assert "**no** (38% below target)" in table
    assert "Why the throughput targets are missed" in table and diagnosis[0] in table
    json.dumps(result)  # the JSON file holds the same


def test_sizes_must_be_two_different_counts():
    assert bench.parse_args(["--sizes", "1000,200"]).sizes == [200, 1000]
    with pytest.raises(SystemExit):
        bench.parse_args(["--sizes", "200"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--systems", "a,x"])


def test_history_entry_has_the_headline_ratios_of_one_run():
    sizes = [1000, 11000]

    def runs(fixed, per_image, rss_small, rss_large):
        return [
            {"wall_s": fixed + n * per_image, "peak_rss_mb": rss}
            for n, rss in zip(sizes, (rss_small, rss_large), strict=True)
        ]

    summaries = {
        "a": bench.summarize("a", sizes, runs(2.0, 0.001, 300, 310)),  # 1000/s
        "b:default": bench.summarize("b:default", sizes, runs(5.0, 0.0008, 500, 520)),
        "c:default": bench.summarize("c:default", sizes, runs(40.0, 0.004, 1000, 1100)),
    }
    result = {"date": "2026-01-01 00:00 UTC", "sizes": sizes, "summaries": summaries}
    entry = bench.history_entry(result, "abc1234")
    assert entry["date"] == "2026-01-01 00:00 UTC" and entry["commit"] == "abc1234"
    assert entry["marginal_images_per_s"] == {"a": 1000.0, "b:default": 1250.0, "c:default": 250.0}
    assert entry["ratio_to_baseline"] == {"b:default": 1.25, "c:default": 0.25}
    assert entry["peak_rss_growth"] == {"c:default": pytest.approx(0.1)}
    json.dumps(entry)  # one JSON line of history.jsonl


def test_git_commit_names_the_checked_out_commit():
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=bench.REPO_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert bench.git_commit() in (head, head + "-dirty")


def test_report_share_is_read_from_the_run_summary_line():
    lines = [
        "Log: /o/run.log",
        "Report: /o/export/report.html (written in 0.6 s)",
        "Finished in 55.1 s (+ 51.6 s loading TFX)",
    ]
    assert bench.report_seconds(lines) == pytest.approx(0.6)
    assert bench.report_seconds(lines[:1]) is None
    runs = [
        {"wall_s": wall, "peak_rss_mb": 100.0, "report_s": report}
        for wall, report in ((60.0, 0.6), (120.0, 1.8))
    ]
    summary = bench.summarize("c:default", [300, 3000], runs)
    assert summary["report_s"] == [0.6, 1.8] and summary["report_share"] == [0.01, 0.015]
    table = bench.markdown(
        {
            "date": "today",
            "sizes": [300, 3000],
            "summaries": {"c:default": summary},
            "checks": [],
            "machine": bench.machine_description(),
        }
    )
    assert (
        "Run report (c:default): report.html written in 0.6 / 1.8 s, 1.0% / 1.5% of the "
        "run's wall time"
    ) in table
