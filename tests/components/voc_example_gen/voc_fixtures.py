"""Small real VOC files for the VOC ExampleGen tests: XML, JPEG/PNG/GIF/BMP bytes,
a bad-input VOCdevkit with the outcome expected for every case, and helpers to
run the component on LocalDagRunner and read its outputs back."""

import glob
import io
import json
import os
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from ml_metadata.metadata_store import metadata_store
from PIL import Image
from tfx import v1 as tfx

from odweights.components.voc_example_gen.component import VocExampleGen


def pixels(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.RandomState(seed)
    return Image.fromarray((rng.rand(height, width, 3) * 255).astype("uint8"))


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def jpeg(width=40, height=30, seed=0, mode="RGB", orientation: int | None = None) -> bytes:
    image = pixels(width, height, seed).convert(mode)
    if orientation is None:
        return encode(image, "JPEG", quality=90)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(image, "JPEG", quality=90, exif=exif.tobytes())


def png(width=40, height=30, seed=0, mode="RGB") -> bytes:
    return encode(pixels(width, height, seed).convert(mode), "PNG")


def obj(name, box=("5", "6", "20", "25"), difficult="0", truncated="0", pose="Unspecified"):
    return dict(name=name, box=box, difficult=difficult, truncated=truncated, pose=pose)


def voc_xml(filename: str, size=(40, 30), objects: Sequence[dict] = (), prolog: str = "") -> str:
    """VOC XML with the children in a tool-like, not devkit, order."""
    parts = [
        prolog,
        "<annotation>\n  <folder>x</folder>\n",
        f"  <path>/home/someone/{filename}</path>\n  <filename>{filename}</filename>\n",
    ]
    if size is not None:
        parts.append(
            f"  <size><depth>3</depth><height>{size[1]}</height><width>{size[0]}</width></size>\n"
        )
    for o in objects:
        box = ""
        if o["box"] is not None:
            box = (
                "<bndbox>"
                + "".join(
                    f"<{tag}>{value}</{tag}>"
                    for tag, value in zip(
                        ("ymin", "xmin", "ymax", "xmax"),
                        (o["box"][1], o["box"][0], o["box"][3], o["box"][2]),
                        strict=True,
                    )
                    if value is not None
                )
                + "</bndbox>"
            )
        parts.append(
            f"  <object>{box}<difficult>{o['difficult']}</difficult>"
            f"<name>{o['name']}</name><pose>{o['pose']}</pose>"
            f"<truncated>{o['truncated']}</truncated></object>\n"
        )
    parts.append("</annotation>\n")
    return "".join(parts)


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<annotation><filename>&lol3;</filename></annotation>
"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE annotation [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<annotation><filename>a.jpg</filename><object><name>&secret;</name></object></annotation>
"""

# display_name and the Windows line ends must reach the export as they are
BAD_LABEL_MAP = (
    "item { id: 1 name: 'cat' display_name: 'Cat' }\r\nitem { id: 2 name: 'dog' }\r\n"
    "item { id: 7 name: 'žirafa' display_name: 'Giraffe' }\r\n"
)


def write_file(path: str, data) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)


def write_bad_devkit(devkit: str) -> dict:
    """VOCdevkit/VOC2007 with every bad-input case of docs/ingest.md.

    Returns {"kept": {source_id: expected}, "records": {(image_id, split,
    object_index, reason)}, "not_in_split": n, "clipped": n, "dropped": n}.
    """
    root = os.path.join(devkit, "VOC2007")
    kept, records = {}, set()
    train, val = [], []

    def case(image_id, xml, image_name=None, image=None, split="train", listed=True):
        write_file(os.path.join(root, "Annotations", image_id + ".xml"), xml)
        if image_name is not None and image is not None:
            write_file(os.path.join(root, "JPEGImages", image_name), image)
        if listed:
            (train if split == "train" else val).append(image_id)

    def good(image_id, name, image, size=(40, 30), objects=None, split="train", **expected):
        objects = (obj("cat"),) if objects is None else objects
        case(image_id, voc_xml(name, size, objects), name, image, split)
        kept[f"VOC2007/{image_id}"] = dict(filename=name, objects=len(objects), **expected)

    def image_reject(image_id, xml, reason, name=None, image=None, split="train"):
        case(image_id, xml, name, image, split)
        records.add((f"VOC2007/{image_id}", split, None, reason))

    # kept: plain, background, grayscale / CMYK JPEG, RGBA PNG, non-ASCII names
    good(
        "g_plain",
        "g_plain.jpg",
        jpeg(seed=1),
        objects=(obj("cat"), obj("dog", difficult="1")),
        format="jpeg",
        mode="RGB",
    )
    good("g_background", "g_background.jpg", jpeg(seed=2), objects=(), format="jpeg")
    good("g_gray", "g_gray.jpg", jpeg(seed=3, mode="L"), format="jpeg", mode="L")
    good("g_cmyk", "g_cmyk.jpg", jpeg(seed=4, mode="CMYK"), format="jpeg", mode="CMYK")
    good("g_rgba", "g_rgba.png", png(seed=5, mode="RGBA"), format="png", mode="RGBA", split="val")
    good("g_unicode_ž", "čaj_ñ.jpg", jpeg(seed=6), objects=(obj("žirafa"),), format="jpeg")
    # EXIF orientation 6 (rotate 90): the annotation tool saw a 30x40 image
    good(
        "g_exif",
        "g_exif.jpg",
        jpeg(40, 30, seed=7, orientation=6),
        size=(30, 40),
        objects=(obj("cat", box=("2", "3", "20", "35")),),
        format="jpeg",
        exif_fixed=True,
    )
    # a clipped box is kept; classes outside the user's label map and difficult objects
    # are dropped without rejecting the image ("Cat" gets a did-you-mean)
    good(
        "g_clipped",
        "g_clipped.jpg",
        jpeg(seed=12),
        objects=(obj("dog", box=("0", "1", "40.2", "30")),),
        format="jpeg",
    )
    good(
        "g_dropped",
        "g_dropped.jpg",
        jpeg(seed=13),
        objects=(obj("cat"), obj("unicorn"), obj("Cat")),
        format="jpeg",
        kept_objects=1,
    )
    records.add(("VOC2007/g_dropped", "train", 1, "unknown_class"))
    records.add(("VOC2007/g_dropped", "train", 2, "unknown_class"))
    # an image whose only object is rejected for a data error is rejected as a whole
    image_reject(
        "b_only_box_bad",
        voc_xml("b_only_box_bad.jpg", objects=[obj("cat", box=("20", "6", "5", "25"))]),
        "has_rejected_object",
        "b_only_box_bad.jpg",
        jpeg(seed=14),
    )
    records.add(("VOC2007/b_only_box_bad", "train", 0, "inverted_box"))
    # objects: one of each box problem, in this order; the image is rejected as a whole
    box_objects = (
        obj("cat"),  # 0 kept
        obj("dog", box=("20", "6", "5", "25")),  # 1 inverted
        obj("dog", box=("5", "6", "5", "25")),  # 2 zero area
        obj("dog", box=("5", "6", "80", "25")),  # 3 outside
        obj("dog", box=("nan", "6", "20", "25")),  # 4 NaN
        obj("unicorn"),  # 5 unknown class
        obj(""),  # 6 empty name
        obj("dog", box=("0", "1", "40.2", "30")),  # 7 clipped, kept
        obj("dog", box=None),  # 8 no bndbox
    )
    image_reject(
        "g_boxes",
        voc_xml("g_boxes.jpg", objects=box_objects),
        "has_rejected_object",
        "g_boxes.jpg",
        jpeg(seed=8),
    )
    for index, reason in (
        (1, "inverted_box"),
        (2, "zero_area_box"),
        (3, "box_outside_image"),
        (4, "nan_coordinate"),
        (5, "unknown_class"),
        (6, "empty_class_name"),
        (8, "missing_box"),
    ):
        records.add(("VOC2007/g_boxes", "train", index, reason))

    image_reject("b_malformed", "<annotation><filename>a.jpg</filename>", "malformed_xml")
    image_reject("b_laughs", BILLION_LAUGHS, "forbidden_xml")
    image_reject("b_external", EXTERNAL_ENTITY, "forbidden_xml")
    image_reject(
        "b_dotdot",
        voc_xml("../Annotations/g_plain.xml", objects=[obj("cat")]),
        "path_outside_dataset",
    )
    image_reject("b_missing_image", voc_xml("nowhere.jpg", objects=[obj("cat")]), "missing_image")
    image_reject(
        "b_truncated",
        voc_xml("b_truncated.jpg", objects=[obj("cat")]),
        "corrupt_image",
        "b_truncated.jpg",
        jpeg(seed=9)[:-300],
    )
    image_reject(
        "b_gif",
        voc_xml("b_gif.gif", objects=[obj("cat")]),
        "unsupported_format",
        "b_gif.gif",
        encode(pixels(40, 30), "GIF"),
        split="val",
    )
    image_reject(
        "b_bmp",
        voc_xml("b_bmp.bmp", objects=[obj("cat")]),
        "unsupported_format",
        "b_bmp.bmp",
        encode(pixels(40, 30), "BMP"),
    )
    image_reject(
        "b_size",
        voc_xml("b_size.jpg", size=(400, 300), objects=[obj("cat")]),
        "size_mismatch",
        "b_size.jpg",
        jpeg(seed=10),
    )
    # the same image annotated twice: the second source id is rejected
    image_reject("z_same_image", voc_xml("g_plain.jpg", objects=[obj("cat")]), "duplicate_image_id")
    # an id listed in both splits: kept in train, rejected in val
    val.append("g_gray")
    records.add(("VOC2007/g_gray", "val", None, "duplicate_image_id"))
    # listed, no XML
    train.append("b_no_xml")
    records.add(("VOC2007/b_no_xml", "train", None, "missing_annotation"))
    # annotation in no chosen split
    case(
        "n_unlisted",
        voc_xml("n_unlisted.jpg", objects=[obj("cat")]),
        "n_unlisted.jpg",
        jpeg(seed=11),
        listed=False,
    )

    sets = os.path.join(root, "ImageSets", "Main")
    write_file(os.path.join(sets, "train.txt"), "".join(i + "\n" for i in train))
    write_file(os.path.join(sets, "val.txt"), "".join(i + "\n" for i in val))
    return dict(kept=kept, records=records, not_in_split=1, clipped=1, dropped=1)


def run_component(
    work_dir: str,
    example_gen: VocExampleGen,
    beam_args=(),
    enable_cache: bool = False,
    name: str = "voc-example-gen-test",
) -> None:
    pipeline = tfx.dsl.Pipeline(
        pipeline_name=name,
        pipeline_root=os.path.join(work_dir, "root"),
        components=[example_gen],
        enable_cache=enable_cache,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            os.path.join(work_dir, "metadata.sqlite")
        ),
        beam_pipeline_args=list(beam_args),
    )
    tfx.orchestration.LocalDagRunner().run(pipeline)


def metadata_store_of(work_dir: str) -> metadata_store.MetadataStore:
    return metadata_store.MetadataStore(
        tfx.orchestration.metadata.sqlite_metadata_connection_config(
            os.path.join(work_dir, "metadata.sqlite")
        )
    )


def latest_artifact(work_dir: str, type_name: str):
    artifacts = metadata_store_of(work_dir).get_artifacts_by_type(type_name)
    return max(artifacts, key=lambda a: a.id)


def custom_properties(artifact) -> dict[str, object]:
    result = {}
    for key, value in artifact.custom_properties.items():
        result[key] = getattr(value, value.WhichOneof("value"))
    return result


def read_split(examples_uri: str, split: str) -> list[tf.train.Example]:
    files = sorted(glob.glob(os.path.join(examples_uri, f"Split-{split}", "data_tfrecord-*")))
    assert files, f"no files for split {split} in {examples_uri}"
    assert not [f for f in files if f.endswith(".gz")], files  # written uncompressed
    return [
        tf.train.Example.FromString(record.numpy()) for record in tf.data.TFRecordDataset(files)
    ]


def read_report(report_uri: str):
    with open(os.path.join(report_uri, "totals.json"), encoding="utf-8") as handle:
        totals = json.load(handle)
    with open(os.path.join(report_uri, "rejected.jsonl"), encoding="utf-8") as handle:
        text = handle.read()
    return totals, [json.loads(line) for line in text.splitlines()], text


def feature_values(example: tf.train.Example, key: str) -> list:
    feature = example.features.feature[key]
    kind = feature.WhichOneof("kind")
    return list(getattr(feature, kind).value) if kind else []
