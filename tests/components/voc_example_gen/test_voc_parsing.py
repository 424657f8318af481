"""Fast tests of the pure modules: XML parsing, boxes, image checks, layout, totals."""

import io
import math

import pytest
import tensorflow as tf
import voc_fixtures as vf
from PIL import Image
from tfx.components.example_gen import base_example_gen_executor
from tfx.proto import example_gen_pb2

from odweights import features
from odweights.components.voc_example_gen import class_names, layout
from odweights.components.voc_example_gen import rejections as rj
from odweights.components.voc_example_gen.annotation import (
    AnnotationError,
    may_hold_dtd,
    parse_annotation,
    resolve_image_path,
)
from odweights.components.voc_example_gen.boxes import BoxRejected, normalise_box
from odweights.components.voc_example_gen.image_check import CheckedImage, check_image
from odweights.errors import InvalidOptionsError

# ---- XML -----------------------------------------------------------------


def test_parse_reads_by_tag_name_in_any_order():
    xml = vf.voc_xml(
        "a.jpg",
        (40, 30),
        [vf.obj("cat", difficult="1", pose="Left"), vf.obj(" dog ", truncated="1")],
    )
    annotation = parse_annotation(xml.encode())
    assert annotation.filename == "a.jpg"
    assert (annotation.width, annotation.height) == (40, 30)
    assert [(o.name, o.box, o.difficult, o.truncated, o.pose) for o in annotation.objects] == [
        ("cat", ("5", "6", "20", "25"), 1, 0, "Left"),
        ("dog", ("5", "6", "20", "25"), 0, 1, "Unspecified"),
    ]


def test_parse_ignores_part_boxes_and_unknown_tags():
    xml = b"""<annotation><filename>a.jpg</filename><size><width>0</width><height>0</height>
      </size><object><part><name>hand</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax>
      <ymax>2</ymax></bndbox></part><occluded>1</occluded><name>person</name><bndbox>
      <xmin>3</xmin><ymin>4</ymin><xmax>10.5</xmax><ymax>12</ymax></bndbox></object></annotation>"""
    annotation = parse_annotation(xml)
    assert annotation.width is None and annotation.height is None  # 0 x 0: taken from the image
    assert [(o.name, o.box, o.pose) for o in annotation.objects] == [
        ("person", ("3", "4", "10.5", "12"), "")
    ]


@pytest.mark.parametrize(
    "xml, reason",
    [
        (b"<annotation><filename>a.jpg</filename>", "malformed_xml"),
        (b"<annotation><folder>x</folder></annotation>", "malformed_xml"),
        (b"<dataset><filename>a.jpg</filename></dataset>", "malformed_xml"),
        (
            b"<annotation><filename>a.jpg</filename><size><width>wide</width><height>3</height>"
            b"</size></annotation>",
            "malformed_xml",
        ),
        (vf.BILLION_LAUGHS.encode(), "forbidden_xml"),
        (vf.EXTERNAL_ENTITY.encode(), "forbidden_xml"),
    ],
)
def test_parse_refuses(xml, reason):
    with pytest.raises(AnnotationError) as error:
        parse_annotation(xml)
    assert error.value.reason == reason


def _utf16(text: str) -> bytes:
    return text.encode("utf-16")  # with a byte order mark, as expat needs


@pytest.mark.parametrize(
    "xml",
    [
        vf.BILLION_LAUGHS.encode(),
        vf.EXTERNAL_ENTITY.encode(),
        _utf16(vf.BILLION_LAUGHS),
        _utf16(vf.EXTERNAL_ENTITY),
    ],
)
def test_every_document_that_can_declare_entities_takes_the_hardened_parser(xml):
    assert may_hold_dtd(xml)
    with pytest.raises(AnnotationError) as error:
        parse_annotation(xml)
    assert error.value.reason == "forbidden_xml"


def test_documents_without_a_dtd_parse_alike_in_any_encoding():
    text = vf.voc_xml("ü.jpg", (40, 30), [vf.obj("Käfer")])
    assert not may_hold_dtd(text.encode())
    latin1 = vf.voc_xml(
        "ü.jpg", (40, 30), [vf.obj("Käfer")], prolog='<?xml version="1.0" encoding="iso-8859-1"?>\n'
    ).encode("latin-1")
    assert not may_hold_dtd(latin1)
    assert (
        parse_annotation(text.encode())
        == parse_annotation(latin1)
        == parse_annotation(_utf16(text))
    )
    assert parse_annotation(latin1).objects[0].name == "Käfer"


def test_an_undeclared_entity_is_malformed():
    xml = vf.voc_xml("a.jpg", (40, 30), [vf.obj("cat")]).replace("cat", "&cat;").encode()
    with pytest.raises(AnnotationError) as error:
        parse_annotation(xml)
    assert error.value.reason == "malformed_xml"


def test_resolve_image_path_stays_inside_the_image_folder():
    assert resolve_image_path("/d/JPEGImages", "sub/./a.jpg") == "/d/JPEGImages/sub/a.jpg"
    assert resolve_image_path("gs://b/d/JPEGImages", "a.jpg") == "gs://b/d/JPEGImages/a.jpg"
    for name in ("../a.jpg", "sub/../../a.jpg", "/etc/passwd", "..", "gs://x/a.jpg"):
        with pytest.raises(AnnotationError) as error:
            resolve_image_path("/d/JPEGImages", name)
        assert error.value.reason == "path_outside_dataset"


# ---- boxes ---------------------------------------------------------------


def test_box_normalised_as_the_od_api_converter_does():
    box = normalise_box(("1", "2", "40", "30"), 40, 30, 0.01)
    assert box == (1 / 40, 2 / 30, 1.0, 1.0, False)


@pytest.mark.parametrize(
    "box, reason",
    [
        (None, "missing_box"),
        (("1", None, "3", "4"), "missing_box"),
        (("nan", "1", "3", "4"), "nan_coordinate"),
        (("1", "inf", "3", "4"), "nan_coordinate"),
        (("1", "one", "3", "4"), "nan_coordinate"),
        (("5", "1", "3", "4"), "inverted_box"),
        (("1", "5", "3", "4"), "inverted_box"),
        (("3", "1", "3", "4"), "zero_area_box"),
        (("1", "1", "3", "1"), "zero_area_box"),
        (("1", "1", "45", "4"), "box_outside_image"),
        (("-3", "1", "5", "4"), "box_outside_image"),
        (("40.1", "1", "40.3", "4"), "zero_area_box"),  # inside the tolerance, nothing left
    ],
)
def test_box_rejections(box, reason):
    result = normalise_box(box, 40, 30, 0.01)
    assert isinstance(result, BoxRejected) and result.reason == reason, result


def test_box_slightly_outside_is_clipped():
    box = normalise_box(("-0.2", "1", "40.3", "30.2"), 40, 30, 0.01)
    assert box == (0.0, 1 / 30, 1.0, 1.0, True)
    assert isinstance(normalise_box(("-0.2", "1", "40.3", "30.2"), 40, 30, 0.0), BoxRejected)


# ---- images --------------------------------------------------------------


@pytest.mark.parametrize(
    "data, image_format, mode",
    [
        (vf.jpeg(), "jpeg", "RGB"),
        (vf.jpeg(mode="L"), "jpeg", "L"),
        (vf.jpeg(mode="CMYK"), "jpeg", "CMYK"),
        (vf.png(mode="RGBA"), "png", "RGBA"),
        (vf.png(mode="P"), "png", "P"),
        (vf.png(mode="I;16"), "png", "I;16"),
    ],
)
def test_jpeg_and_png_kept_as_they_are_and_decode_to_three_channels(data, image_format, mode):
    image = check_image(data)
    assert isinstance(image, CheckedImage)
    assert (image.encoded, image.format, image.mode, image.width, image.height) == (
        data,
        image_format,
        mode,
        40,
        30,
    )
    # what the OD API's decoder does with them
    assert tf.io.decode_image(data, channels=3).shape == (30, 40, 3)


@pytest.mark.parametrize(
    "data, reason",
    [
        (vf.jpeg()[:-300], "corrupt_image"),
        (vf.jpeg()[:100], "corrupt_image"),
        (vf.png()[:-20], "corrupt_image"),
        (b"not an image at all", "corrupt_image"),
        (vf.encode(vf.pixels(40, 30), "GIF"), "unsupported_format"),
        (vf.encode(vf.pixels(40, 30), "BMP"), "unsupported_format"),
        (vf.jpeg(orientation=6), "exif_orientation"),
    ],
)
def test_image_rejections(data, reason):
    result = check_image(data, exif_policy="reject")
    assert result.reason == reason, result


def test_trailing_zero_padding_after_jpeg_eoi_is_accepted():
    assert isinstance(check_image(vf.jpeg() + b"\x00" * 16), CheckedImage)


def test_exif_orientation_fix_reencodes_upright_and_flag_keeps_bytes():
    data = vf.jpeg(40, 30, orientation=6)
    fixed = check_image(data, exif_policy="fix")
    assert (fixed.width, fixed.height, fixed.exif_fixed, fixed.exif_orientation) == (
        30,
        40,
        True,
        6,
    )
    assert tf.io.decode_image(fixed.encoded, channels=3).shape == (40, 30, 3)
    assert Image.open(io.BytesIO(fixed.encoded)).getexif().get(0x0112, 1) == 1
    flagged = check_image(data, exif_policy="flag")
    assert (flagged.encoded, flagged.width, flagged.exif_fixed) == (data, 40, False)


def test_unsupported_formats_reencoded_to_png_on_request():
    gif = vf.encode(vf.pixels(40, 30), "GIF")
    image = check_image(gif, reencode_unsupported=True)
    assert (image.format, image.reencoded_to_png, image.width, image.height) == (
        "png",
        True,
        40,
        30,
    )
    assert Image.open(io.BytesIO(image.encoded)).format == "PNG"
    assert check_image(gif, reencode_unsupported=True).encoded == image.encoded  # deterministic


# ---- layout --------------------------------------------------------------


def test_hash_split_matches_tfx_partitioning():
    config = example_gen_pb2.SplitConfig(
        splits=[
            example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=8),
            example_gen_pb2.SplitConfig.Split(name="val", hash_buckets=2),
        ],
        partition_feature_name=features.SOURCE_ID,
    )
    for i in range(200):
        source_id = f"img_{i}_é"
        example = tf.train.Example()
        example.features.feature[features.SOURCE_ID].bytes_list.value.append(source_id.encode())
        assert layout.hash_split_index(source_id, config) == base_example_gen_executor._PartitionFn(
            example, 2, [8, 10], config
        )


def test_input_configs_for_each_layout(tmp_path):
    vf.write_bad_devkit(str(tmp_path / "VOCdevkit"))
    base, inputs, outputs = layout.voc_input_configs(str(tmp_path / "VOCdevkit"))
    assert base == str(tmp_path / "VOCdevkit")
    assert [(s.name, s.pattern) for s in inputs.splits] == [
        ("train", "*/ImageSets/Main/train.txt"),
        ("val", "*/ImageSets/Main/val.txt"),
    ]
    assert not outputs.split_config.splits
    base, inputs, _ = layout.voc_input_configs(str(tmp_path / "VOCdevkit" / "VOC2007"), ["val"])
    assert [(s.name, s.pattern) for s in inputs.splits] == [("val", "ImageSets/Main/val.txt")]

    flat = tmp_path / "flat"
    vf.write_file(str(flat / "a.xml"), vf.voc_xml("a.jpg"))
    base, inputs, outputs = layout.voc_input_configs(str(flat))
    assert [(s.name, s.pattern) for s in inputs.splits] == [("single_split", "*.xml")]
    assert [(s.name, s.hash_buckets) for s in outputs.split_config.splits] == [
        ("train", 8),
        ("val", 2),
    ]
    assert outputs.split_config.partition_feature_name == "image/source_id"


@pytest.mark.parametrize(
    "splits, message",
    [
        (("train", "test"), "available splits: \\['train', 'val'\\]"),
        (("train", "train"), "twice"),
        ((), "at least one"),
        ("train", "not the string"),
        (("../x",), "letters"),
    ],
)
def test_input_configs_refuse_bad_splits(tmp_path, splits, message):
    vf.write_bad_devkit(str(tmp_path / "VOCdevkit"))
    with pytest.raises(InvalidOptionsError, match=message):
        layout.voc_input_configs(str(tmp_path / "VOCdevkit"), splits)


def test_input_configs_refuse_unrecognised_folders(tmp_path):
    with pytest.raises(InvalidOptionsError, match="not a folder"):
        layout.voc_input_configs(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidOptionsError, match="neither a VOCdevkit"):
        layout.voc_input_configs(str(tmp_path / "empty"))


def test_flat_source_id_is_relative_to_the_pattern_root():
    root = layout.pattern_root("/data", "span-3/*.xml")
    assert root == "/data/span-3"
    assert layout.flat_source_id("/data/span-3/cat_01.xml", root) == "cat_01"
    assert layout.flat_source_id("/data/a/x.xml", layout.pattern_root("/data", "*/*.xml")) == "a/x"


def test_split_file_ids_accept_class_files():
    assert layout.split_file_ids("000005\n\n000007 -1\n 000009  1\n") == [
        "000005",
        "000007",
        "000009",
    ]


# ---- totals --------------------------------------------------------------


def test_totals_invariants_detect_a_lost_image():
    counts = rj.Counts()
    counts.add("train", rj.IMAGES_IN, 2)
    counts[rj.ANNOTATION_FILES] = counts[rj.ANNOTATIONS_LISTED] = 2
    counts.add("train", rj.EXAMPLES_OUT)
    totals = rj.make_totals(counts, ["train"], 1)
    assert rj.invariant_violations(totals, 0) == [
        "images_in == examples_out + images_rejected: 2 != 1"
    ]
    counts.reject(rj.Rejection("a.xml", "a", "train", None, "missing_image", ""), 3)
    counts.add("train", rj.OBJECTS_IN, 3)
    totals = rj.make_totals(counts, ["train"], 1)
    assert rj.invariant_violations(totals, 1) == []
    assert totals["rejected_fraction"] == 0.5


def test_requested_drops_do_not_count_as_rejected_fraction():
    counts = rj.Counts()
    counts.add("train", rj.IMAGES_IN)
    counts.add("train", rj.OBJECTS_IN, 2)
    counts.reject(rj.Rejection("a.xml", "a", "train", 0, "difficult", ""))
    assert rj.make_totals(counts, ["train"], 1)["rejected_fraction"] == 0.0
    counts.reject(rj.Rejection("a.xml", "a", "train", 1, "inverted_box", ""))
    assert math.isclose(rj.make_totals(counts, ["train"], 1)["rejected_fraction"], 0.5)


def test_merge_classes_are_parsed_and_checked():
    assert class_names.parse_merge_classes("Car=car, CAR = car,car=car") == {
        "Car": "car",
        "CAR": "car",
    }
    assert class_names.parse_merge_classes("") == {}
    for text, message in (
        ("Car", "NAME=TARGET"),
        ("=car", "NAME=TARGET"),
        ("a=b,a=c", "both 'b' and 'c'"),
        ("a=b,b=c", "'b' is both"),
    ):
        with pytest.raises(InvalidOptionsError, match=message):
            class_names.parse_merge_classes(text)
    assert class_names.format_merge_classes({"b": "x", "a": "x"}) == "a=x,b=x"


def test_case_collisions_list_every_spelling_and_a_few_files():
    files = [f"f{i}.xml" for i in range(7)]
    groups = class_names.case_collisions(
        {
            "car": (10, 8, files[:5]),
            "Car": (3, 7, files),
            "CAR": (1, 1, ["z.xml"]),
            "bus": (2, 2, ["b.xml"]),
        }
    )
    assert [[s["name"] for s in group] for group in groups] == [["car", "Car", "CAR"]]
    assert groups[0][1]["files"] == files[:5]
    message = class_names.collision_message(groups)
    assert "'Car' in 7 file(s): f0.xml, f1.xml, f2.xml, f3.xml, f4.xml, ..." in message
    assert "--merge-classes Car=car,CAR=car" in message


def test_did_you_mean_compares_case_folded():
    assert class_names.did_you_mean("CAR", {"car": 1, "bus": 2}) == "car"
    assert class_names.did_you_mean("truck", {"car": 1}) is None


def test_exif_auto_keeps_the_stored_frame_without_the_orientation_tag():
    data = vf.jpeg(40, 30, orientation=6)
    stored = check_image(data, annotated_size=(40, 30))
    assert (stored.width, stored.height, stored.exif_tag_removed, stored.exif_fixed) == (
        40,
        30,
        True,
        False,
    )
    assert Image.open(io.BytesIO(stored.encoded)).getexif().get(0x0112) == 1
    # lossless: only the two bytes of the orientation value changed
    assert len(stored.encoded) == len(data)
    assert sum(a != b for a, b in zip(stored.encoded, data, strict=True)) == 1
    assert tf.io.decode_image(stored.encoded, channels=3).shape == (30, 40, 3)


def test_exif_auto_rotates_when_the_boxes_were_drawn_upright():
    displayed = check_image(vf.jpeg(40, 30, orientation=6), annotated_size=(30, 40))
    assert (displayed.width, displayed.height, displayed.exif_fixed) == (30, 40, True)
    assert Image.open(io.BytesIO(displayed.encoded)).getexif().get(0x0112, 1) == 1


@pytest.mark.parametrize(
    "data, size",
    [
        (vf.jpeg(40, 30, orientation=3), (40, 30)),  # rotated 180: same size either way
        (vf.jpeg(30, 30, orientation=6), (30, 30)),  # square
        (vf.jpeg(40, 30, orientation=8), None),  # no <size>
    ],
)
def test_exif_auto_rejects_what_the_size_cannot_tell_unless_the_frame_is_given(data, size):
    assert check_image(data, annotated_size=size).reason == "exif_frame_ambiguous"
    stored = check_image(data, annotated_size=size, exif_frame="stored")
    assert (
        stored.exif_tag_removed
        and Image.open(io.BytesIO(stored.encoded)).getexif().get(0x0112) == 1
    )
    assert check_image(data, annotated_size=size, exif_frame="displayed").exif_fixed


def test_exif_tag_removed_from_a_png_keeps_its_chunks_valid():
    exif = Image.Exif()
    exif[0x0112] = 6
    data = vf.encode(vf.pixels(40, 30), "PNG", exif=exif.tobytes())
    stored = check_image(data, annotated_size=(40, 30))
    assert stored.exif_tag_removed and stored.format == "png"
    reopened = Image.open(io.BytesIO(stored.encoded))
    reopened.load()  # a bad chunk CRC would raise
    assert reopened.getexif().get(0x0112) == 1
    assert tf.io.decode_image(stored.encoded, channels=3).shape == (30, 40, 3)


def test_jpeg_with_data_after_its_end_is_accepted_and_flagged():
    motion_photo = vf.jpeg() + b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4
    image = check_image(motion_photo)
    assert isinstance(image, CheckedImage) and image.trailing_data
    assert image.encoded == motion_photo
    assert tf.io.decode_image(image.encoded, channels=3).shape == (30, 40, 3)
    assert not check_image(vf.jpeg()).trailing_data
    assert check_image(vf.jpeg()[:-300] + b"\xff\xd9" * 0).reason == "corrupt_image"


def test_an_emptied_training_split_stops_the_run_an_emptied_other_split_does_not():
    from odweights.components.voc_example_gen.executor import totals_problem

    def totals(emptied):
        counts = rj.Counts()
        for split in ("train", "val"):
            counts.add(split, rj.IMAGES_IN)
            if split == emptied:
                counts.reject(rj.Rejection("a.xml", "a", split, None, "missing_image", ""))
            else:
                counts.add(split, rj.EXAMPLES_OUT)
        return dict(rj.make_totals(counts, ["train", "val"], 1), class_name_collisions=[])

    options = {"max_rejected_fraction": 1.0}
    assert totals_problem(totals("val"), options, "", ["train", "val"]) == ""
    assert totals_problem(totals("train"), options, "", ["train", "val"]) == (
        "VOC ExampleGen: every image of the training split 'train' was rejected (1 images); "
        "nothing is left to train on. Rejected by reason:\n  missing_image  1"
    )
