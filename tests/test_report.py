"""The HTML run report (docs/report.md): its parts, and one real run opened in Chromium.

The end-to-end tests share one `odweights run` on sample data with defects
added (a box to clip, a box far outside its image, a truncated JPEG), so the
report has rejections, clipped boxes and samples to show.
"""

import base64
import contextlib
import html
import io
import json
import os
import re
import xml.etree.ElementTree as ElementTree

import headless_chromium
import pytest
import tensorflow as tf
from PIL import Image

from odweights import features
from odweights.app import audit, cli, sample_data
from odweights.app.report import chart, page, rejections, thumbnails
from odweights.app.report.records import SAMPLE_SIZE, Shown, read_tfrecords
from odweights.app.report.writer import REPORT_FILE
from odweights.errors import OdWeightsError

SECTIONS = ("run", "classes", "rejections", "quality", "samples", "lineage")
MAX_REPORT_BYTES = 20 * 1024 * 1024
_IMG = re.compile(r'<img src="data:image/jpeg;base64,([^"]+)"')


def _jpeg(width, height, colour=(90, 140, 200)):
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="JPEG")
    return buffer.getvalue()


def _data_uri_image(data_uri):
    return Image.open(io.BytesIO(base64.b64decode(data_uri.split(",", 1)[1])))


# --- Parts --------------------------------------------------------------------


def test_thumbnail_is_at_most_256_pixels_long_and_deterministic():
    decoded = thumbnails.decode(_jpeg(1600, 900))
    assert (decoded.width, decoded.height) == (1600, 900)  # the stored size, not the draft's
    boxes = [thumbnails.Box(0.1, 0.1, 0.5, 0.6, "person 0.5", thumbnails.KEPT)]
    first = thumbnails.render(decoded.image, boxes)
    image = _data_uri_image(first.data_uri)
    assert image.format == "JPEG" and image.size == (256, 144) == (first.width, first.height)
    assert thumbnails.render(thumbnails.decode(_jpeg(1600, 900)).image, boxes) == first


def test_boxes_outside_the_image_widen_the_canvas_so_they_stay_visible():
    image = thumbnails.decode(_jpeg(200, 200)).image
    inside = thumbnails.render(image, [thumbnails.Box(0.1, 0.1, 0.5, 0.5, "", thumbnails.KEPT)])
    outside = thumbnails.render(
        image,
        [
            thumbnails.Box(-0.1, 0.1, 1.1, 0.5, "a", thumbnails.BEFORE_CLIPPING),
            thumbnails.Box(0.0, 0.1, 1.0, 0.5, "", thumbnails.AFTER_CLIPPING),
            thumbnails.Box(float("nan"), 0, 1, 1, "no coordinates", thumbnails.REJECTED),
        ],
    )
    assert (inside.width, inside.height) == (200, 200)
    assert outside.width > outside.height  # 1.2 image widths wide, scaled to 256
    assert max(outside.width, outside.height) <= thumbnails.MAX_SIDE
    # The widened canvas is background grey left of the image, the image itself is blue.
    pixels = _data_uri_image(outside.data_uri).convert("RGB")
    assert pixels.getpixel((3, outside.height - 5))[0] > 200
    assert pixels.getpixel((outside.width // 2, outside.height - 5))[2] > 150


def test_budget_stops_rendering_once_its_bytes_are_spent():
    image = thumbnails.decode(_jpeg(300, 200)).image
    size = len(thumbnails.render(image, []).data_uri)
    budget = thumbnails.Budget(limit_bytes=2 * size + size // 2)
    drawn = [budget.render(image, []) for _ in range(4)]
    assert [d is not None for d in drawn] == [True, True, False, False]
    assert budget.used_bytes == budget.limit_bytes


def test_an_unreadable_image_decodes_to_none():
    assert thumbnails.decode(b"not an image") is None
    assert thumbnails.decode(b"") is None


def test_chart_is_svg_with_one_point_per_class_on_a_log_axis():
    svg = chart.counts_against_weights(
        [("person", 2500, 0.01), ("bird", 3, 1.0), ("a<b", 40, 0.2)], "counts & weights"
    )
    root = ElementTree.fromstring(svg)  # well-formed, names escaped
    circles = root.findall("{http://www.w3.org/2000/svg}circle")
    assert len(circles) == 3
    ticks = [t.text for t in root.findall("{http://www.w3.org/2000/svg}text")]
    assert {"1", "10", "100", "1,000", "10,000"} <= set(ticks) and "a<b" in ticks
    x = {
        c.find("{http://www.w3.org/2000/svg}title").text.split(":")[0]: float(c.get("cx"))
        for c in circles
    }
    assert x["bird"] < x["a<b"] < x["person"]


def _record(image_id, reason, index=None, split="train"):
    return {
        "file": f"VOC2007/Annotations/{image_id}.xml",
        "image_id": f"VOC2007/{image_id}",
        "split": split,
        "object_index": index,
        "reason": reason,
        "detail": "why",
    }


def test_rejections_are_counted_per_reason_with_at_most_12_examples_each():
    records = [_record(f"{n:06d}", "corrupt_image") for n in range(40)]
    records += [
        _record("000100", "has_rejected_object"),
        _record("000100", "inverted_box", 1),
        _record("000100", "a_reason_added_later", 3),
    ]
    collected = rejections.collect(iter(records))
    assert collected.counts == {
        "a_reason_added_later": 1,
        "corrupt_image": 40,
        "has_rejected_object": 1,
        "inverted_box": 1,
    }
    assert len(collected.examples["corrupt_image"]) == rejections.MAX_EXAMPLES
    _, image = collected.examples["inverted_box"][0]
    assert image.object_reasons == {1: ("inverted_box", "why"), 3: ("a_reason_added_later", "why")}
    assert image.image_reasons == [("has_rejected_object", "why")]


def test_record_reader_matches_tensorflow_and_refuses_a_cut_file(tmp_path):
    path = str(tmp_path / "x.record")
    with tf.io.TFRecordWriter(path) as writer:
        for n in range(5):
            writer.write(bytes([n]) * (n * 100))
    assert list(read_tfrecords(path)) == [r.numpy() for r in tf.data.TFRecordDataset(path)]
    data = open(path, "rb").read()
    open(path, "wb").write(data[:-3])
    with pytest.raises(OdWeightsError, match="truncated or corrupt"):
        list(read_tfrecords(path))


def test_page_escapes_text_and_allows_no_scripts_or_network():
    shown = Shown(None, "<script>alert(1)</script>", ["a & b"])
    text = page.document(
        "t", "s", [("x", "X", [page.figures([shown]), page.table(["<b>"], [["<i>"]])])]
    )
    assert "<script>" not in text and "&lt;script&gt;" in text and "a &amp; b" in text
    assert page.CONTENT_SECURITY_POLICY in text and "default-src 'none'" in text


# --- One real run -------------------------------------------------------------


def _edit_first_box(xml_path, **coordinates):
    tree = ElementTree.parse(xml_path)
    box = tree.getroot().find("object/bndbox")
    for tag, value in coordinates.items():
        box.find(tag).text = str(value)
    tree.write(xml_path)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("voc")
    sample_data.write_dataset(str(root), num_images=30, seed=5)
    year = root / "VOCdevkit" / "VOC2007"
    annotations = sorted((year / "Annotations").iterdir())
    width = int(ElementTree.parse(annotations[0]).getroot().find("size/width").text)
    _edit_first_box(annotations[0], xmax=width + 1)  # within clip_tolerance: clipped
    _edit_first_box(annotations[1], xmin=-300)  # far outside: rejected
    filename = ElementTree.parse(annotations[2]).getroot().find("filename").text
    image = year / "JPEGImages" / filename
    image.write_bytes(image.read_bytes()[:200])  # truncated: corrupt_image
    out = tmp_path_factory.mktemp("out")
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = cli.main(
            [
                "run",
                "--voc-dir",
                str(root / "VOCdevkit"),
                "--output-dir",
                str(out),
                "--max-rejected-fraction",
                "0.5",
            ]
        )
    assert code == 0, stderr.getvalue()
    export_dir = str(out / "export")
    path = os.path.join(export_dir, REPORT_FILE)
    return dict(
        out=str(out),
        export_dir=export_dir,
        path=path,
        printed=stdout.getvalue(),
        html=open(path, encoding="utf-8").read(),
        bytes=open(path, "rb").read(),
    )


def _section(text, section_id):
    match = re.search(rf'<section id="{section_id}">(.*?)</section>', text, re.S)
    assert match, section_id
    return match.group(1)


def test_run_writes_the_report_and_prints_its_path(run):
    assert f"Report: {run['path']} (written in " in run["printed"]
    assert [m for m in re.findall(r'<section id="([a-z]+)">', run["html"])] == list(SECTIONS)


def test_report_costs_under_5_percent_of_the_run(run):
    report_seconds = float(re.search(r"\(written in ([\d.]+) s\)", run["printed"]).group(1))
    run_seconds = float(
        re.search(r"Finished in ([\d.]+) s \(\+ ([\d.]+) s loading", run["printed"]).group(1)
    )
    assert report_seconds <= 0.05 * run_seconds, (report_seconds, run_seconds)


def test_odweights_report_writes_the_same_bytes_again(run):
    os.remove(run["path"])
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert cli.main(["report", run["out"]]) == 0
    assert stdout.getvalue() == f"Report: {run['path']}\n"
    assert open(run["path"], "rb").read() == run["bytes"]


def test_report_of_a_folder_without_export_is_refused(tmp_path, capsys):
    assert cli.main(["report", str(tmp_path)]) == 2
    assert "no export/ folder" in capsys.readouterr().err


def test_report_is_self_contained_bounded_and_its_thumbnails_small(run):
    assert len(run["bytes"]) <= MAX_REPORT_BYTES
    assert not re.search(r"""(src|href)=["'](?!data:|#)""", run["html"])  # nothing to fetch
    assert "<script" not in run["html"]
    images = _IMG.findall(run["html"])
    assert images
    for data in images:
        with Image.open(io.BytesIO(base64.b64decode(data))) as image:
            assert max(image.size) <= thumbnails.MAX_SIDE


def test_sample_is_drawn_from_the_exported_records(run):
    samples = _section(run["html"], "samples")
    for split in ("train", "val"):
        paths = sorted(tf.io.gfile.glob(os.path.join(run["export_dir"], f"{split}.record-*")))
        source_ids = [
            tf.train.Example.FromString(r.numpy())
            .features.feature[features.SOURCE_ID]
            .bytes_list.value[0]
            .decode()
            for r in tf.data.TFRecordDataset(paths)
        ]
        block = samples.split(f"<h3>{split}: ")[1].split("<h3>")[0]
        shown = re.findall(r"<figcaption><b>([^<]+)</b>", block)
        assert shown == source_ids[:SAMPLE_SIZE]
        assert len(_IMG.findall(block)) == len(shown)
        assert block.startswith(f"{len(shown)} of {len(source_ids)} records")


def test_every_rejection_reason_is_counted_and_shown(run):
    lines = [
        json.loads(line)
        for line in open(os.path.join(run["export_dir"], "rejected.jsonl"), encoding="utf-8")
    ]
    assert {"box_outside_image", "corrupt_image"} <= {line["reason"] for line in lines}
    section = _section(run["html"], "rejections")
    for reason in {line["reason"] for line in lines}:
        count = sum(1 for line in lines if line["reason"] == reason)
        assert f"<h3>{reason} ({count})</h3>" in section
    corrupt = section.split("<h3>corrupt_image")[1].split("<h3>")[0]
    assert "no image to show" in corrupt  # the truncated JPEG cannot be drawn
    outside = section.split("<h3>box_outside_image")[1].split("<h3>")[0]
    assert len(_IMG.findall(outside)) == 1  # the image with its boxes, the rejected one red


def test_quality_section_draws_the_clipped_box(run):
    section = _section(run["html"], "quality")
    assert "<h3>Clipped boxes</h3>" in section
    clipped = section.split("<h3>Clipped boxes</h3>")[1]
    assert "1 box clipped" in clipped and len(_IMG.findall(clipped)) == 1


def test_lineage_is_what_odweights_audit_prints(run):
    document = audit.lineage(run["export_dir"], os.path.join(run["out"], "metadata.sqlite"))
    lineage = _section(run["html"], "lineage")
    assert html.escape(audit.format_text(document)) in lineage
    assert html.escape(document["input"]["input_fingerprint"]) in lineage


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    """A run that the VOC ExampleGen stops: a truncated image is more than 1% of 12."""
    root = tmp_path_factory.mktemp("voc_stopped")
    sample_data.write_dataset(str(root), num_images=12, seed=6)
    year = root / "VOCdevkit" / "VOC2007"
    annotation = sorted((year / "Annotations").iterdir())[0]
    image = year / "JPEGImages" / ElementTree.parse(annotation).getroot().find("filename").text
    image.write_bytes(image.read_bytes()[:200])
    out = tmp_path_factory.mktemp("out_stopped")
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = cli.main(["run", "--voc-dir", str(root / "VOCdevkit"), "--output-dir", str(out)])
    path = out / "export" / REPORT_FILE
    return dict(
        code=code,
        out=str(out),
        path=str(path),
        printed=stdout.getvalue(),
        html=path.read_text(encoding="utf-8"),
    )


def test_a_stopped_run_reports_why_and_its_rejections(stopped_run):
    assert stopped_run["code"] == 3
    assert f"Report: {stopped_run['path']}" in stopped_run["printed"]
    text = stopped_run["html"]
    assert re.findall(r'<section id="([a-z]+)">', text) == list(SECTIONS)
    assert "The run stopped at VocExampleGen: " in _section(text, "run")
    assert "Rejected: 1 image, 0 objects; 1 record in rejected.jsonl." in text
    assert "<h3>corrupt_image (1)</h3>" in _section(text, "rejections")
    assert "Not written: the run stopped before this step." in _section(text, "samples")
    before = stopped_run["html"].encode()
    assert cli.main(["report", stopped_run["out"]]) == 0
    assert open(stopped_run["path"], "rb").read() == before


def test_report_renders_in_chromium_without_errors(run, tmp_path):
    if headless_chromium.find_chromium() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing on CI: scripts/ensure-chromium should install it")
        pytest.skip("chromium is not installed (run scripts/ensure-chromium)")
    result = headless_chromium.open_page(run["path"])
    inspection = result["inspection"]
    assert result["console_errors"] == []
    assert [s["id"] for s in inspection["sections"]] == list(SECTIONS)
    assert all(s["height"] > 50 and s["heading"] for s in inspection["sections"])
    assert inspection["images"] and all(
        i["complete"] and i["naturalWidth"] > 0 for i in inspection["images"]
    )
    assert len(inspection["images"]) == len(_IMG.findall(run["html"]))
    assert inspection["svgs"] == 1
    (tmp_path / "report.png").write_bytes(result["screenshot"])
    with Image.open(tmp_path / "report.png") as screenshot:
        assert screenshot.size == (headless_chromium.WIDTH, inspection["height"])
        assert len(set(screenshot.convert("L").resize((64, 64)).getdata())) > 20  # not blank
