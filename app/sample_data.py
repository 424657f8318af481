"""A deterministic synthetic Pascal VOC dataset that exercises the real format.

Images are drawn with Pillow: a noisy, low-saturation background with clutter and,
for every annotated object, a filled shape in its class colour that covers exactly
the annotated box (boxes of one image never overlap). Class frequencies follow a
long tail with fixed per-class quotas, so the head:tail ratio is a property of the
generator, not of luck. The XML files imitate the tools that write VOC annotations
(LabelImg, CVAT, the original VOC2007 files, ad-hoc converters): absolute paths from
another machine, tab or space indentation, float coordinates, unknown tags and a
varying child order. Same options: byte-identical files.
"""

import colorsys
import dataclasses
import io
import os
import random
from collections.abc import Sequence
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image, ImageDraw

from odweights import errors

LAYOUT_VOCDEVKIT = "vocdevkit"
LAYOUT_FLAT = "flat"
LAYOUTS = (LAYOUT_VOCDEVKIT, LAYOUT_FLAT)
SPLITS = ("train", "val", "trainval")

MIN_CLASSES = 8
MAX_CLASSES = 60
MAX_IMAGES = 999_999  # ids have six digits, as in VOC2007

# Realistic names (VOC and fashion); beyond this list names are generated.
CLASS_NAMES = (
    "person",
    "car",
    "top",
    "dress",
    "chair",
    "bicycle",
    "dog",
    "bottle",
    "trousers",
    "bird",
    "shoe",
    "cat",
    "bag",
    "bus",
    "skirt",
    "horse",
    "hat",
    "boat",
    "coat",
    "sofa",
    "motorbike",
    "scarf",
    "train",
    "sheep",
    "jacket",
    "cow",
    "pottedplant",
    "tvmonitor",
    "diningtable",
    "aeroplane",
    "shorts",
    "glasses",
    "belt",
    "sock",
    "glove",
    "umbrella",
    "backpack",
    "watch",
    "tie",
    "boot",
)

# Saturated colours (chroma >= 150), far from the low-saturation background, so
# that a pixel tells whether it belongs to an object; more classes get evenly
# spaced hues.
_BASE_COLOURS = (
    (230, 25, 75),
    (40, 190, 60),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (0, 160, 160),
    (200, 120, 0),
    (180, 0, 0),
    (30, 30, 200),
    (160, 160, 0),
    (255, 60, 150),
    (0, 220, 130),
    (255, 170, 0),
    (120, 60, 255),
)

HEAD_TO_TAIL_TARGET = 100.0  # quota ratio of the first to the last class
MIN_HEAD_TO_TAIL = 50.0  # guaranteed for any N >= 300
PNG_FRACTION = 0.10
EMPTY_FRACTION = 0.03
DIFFICULT_FRACTION = 0.06
TRUNCATED_FRACTION = 0.08
TRAIN_FRACTION = 0.7
OBJECTS_PER_IMAGE = (1, 2, 3, 4, 5, 6)
OBJECTS_PER_IMAGE_WEIGHTS = (20, 25, 22, 15, 10, 8)
MIN_SIDE, MAX_SIDE = 120, 320
MIN_BOX = 10
BOX_GAP = 6  # pixels between two boxes, so pixel checks see background between them
BORDER_MARGIN = 3  # pixels between a non-truncated box and the image border
# Every region of a cut image is at least this wide and high: with at most
# MIN_SIDE // MIN_REGION objects, room for a box of MIN_BOX and the gaps.
MIN_REGION = MIN_BOX + 2 * max(BOX_GAP // 2, BORDER_MARGIN)
assert MIN_REGION * max(OBJECTS_PER_IMAGE) <= MIN_SIDE
SHADE = 0.9  # inner shape of an object: its class colour, slightly darker
JPEG_QUALITY = 90
PNG_COMPRESS_LEVEL = 6

# Annotation-tool profiles; every image gets one, cyclically and then shuffled,
# so that each appears in any dataset of at least len(_PROFILE_CYCLE) images.
_PROFILE_CYCLE = ("labelimg", "labelimg", "cvat", "voc2007", "labelimg_linux", "converter")


@dataclasses.dataclass
class SampleSummary:
    """What `write_dataset` wrote, with the counts tests and users check."""

    dataset_dir: str
    layout: str
    num_images: int
    png_images: int
    empty_images: int
    class_names: list[str]
    class_colours: dict[str, tuple[int, int, int]]
    class_counts: dict[str, int]  # objects per class, classes by falling frequency
    # The splits of ImageSets/Main (the flat layout writes no split files).
    split_images: dict[str, int]
    split_objects: dict[str, int]
    split_class_counts: dict[str, dict[str, int]]
    difficult_objects: int
    truncated_objects: int

    @property
    def num_objects(self) -> int:
        return sum(self.class_counts.values())

    @property
    def head_to_tail(self) -> float:
        """Objects of the most frequent class per object of the rarest one."""
        counts = list(self.class_counts.values())
        return max(counts) / max(1, min(counts))

    def describe(self) -> str:
        counts = list(self.class_counts.values())
        classes = ", ".join(f"{name} {count}" for name, count in self.class_counts.items())
        if self.layout == LAYOUT_FLAT:
            splits = "none written (flat layout)"
        else:
            splits = ", ".join(
                f"{split} {self.split_images[split]} images / {self.split_objects[split]} objects"
                for split in SPLITS
            )
        return "\n".join(
            [
                f"Wrote {self.num_images} images ({self.num_images - self.png_images} JPEG, "
                f"{self.png_images} PNG, {self.empty_images} without objects) to "
                f"{self.dataset_dir} (layout {self.layout})",
                f"Objects: {self.num_objects} in {len(counts)} classes, "
                f"{self.difficult_objects} difficult, {self.truncated_objects} truncated; "
                f"head:tail {max(counts)}:{min(counts)} = {self.head_to_tail:.1f}:1",
                f"Splits: {splits}",
                f"Classes: {classes}",
            ]
        )


@dataclasses.dataclass
class _Object:
    class_index: int
    difficult: bool
    truncated: bool
    box: tuple[int, int, int, int] = (0, 0, 0, 0)  # VOC xmin, ymin, xmax, ymax (1-based)


@dataclasses.dataclass
class _ImagePlan:
    image_id: str
    extension: str
    width: int
    height: int
    profile: str
    objects: list[_Object]
    split: str = ""


def class_names(num_classes: int) -> list[str]:
    """The class names of a dataset with `num_classes` classes, head class first."""
    return [
        CLASS_NAMES[i] if i < len(CLASS_NAMES) else f"class_{i + 1:02d}" for i in range(num_classes)
    ]


def class_colours(num_classes: int) -> list[tuple[int, int, int]]:
    """The fill colour of each class, in class order."""
    colours = list(_BASE_COLOURS[:num_classes])
    extra = num_classes - len(colours)
    for i in range(extra):
        hue = (i + 0.5) / extra
        value = 0.95 if i % 2 == 0 else 0.75
        colours.append(_hsv_to_rgb(hue, 0.9, value))
    return colours


def write_dataset(
    out_dir,
    num_images: int = 300,
    seed: int = 0,
    num_classes: int = 10,
    layout: str = LAYOUT_VOCDEVKIT,
) -> SampleSummary:
    """Writes the dataset below `out_dir` and returns what it wrote."""
    _check_options(num_images, seed, num_classes, layout)
    names = class_names(num_classes)
    plans = _plan_dataset(num_images, seed, num_classes)
    out_dir = os.fspath(out_dir)
    if layout == LAYOUT_VOCDEVKIT:
        root = os.path.join(out_dir, "VOCdevkit")
        dataset_dir = os.path.join(root, "VOC2007")
        annotations_dir = os.path.join(dataset_dir, "Annotations")
        images_dir = os.path.join(dataset_dir, "JPEGImages")
        sets_dir = os.path.join(dataset_dir, "ImageSets", "Main")
    else:
        root = dataset_dir = annotations_dir = images_dir = out_dir
        sets_dir = None
    planned = set()
    for plan in plans:
        planned.add(os.path.join(annotations_dir, plan.image_id + ".xml"))
        planned.add(os.path.join(images_dir, plan.image_id + plan.extension))
    if sets_dir:
        planned.update(os.path.join(sets_dir, split + ".txt") for split in SPLITS)
    _refuse_foreign_files(root, planned)

    for folder in {annotations_dir, images_dir, sets_dir} - {None}:
        os.makedirs(folder, exist_ok=True)
    colours = class_colours(num_classes)
    for plan in plans:
        image_rng = _image_rng(seed, plan.image_id)
        image_bytes = _draw_image(plan, colours, image_rng)
        _write_bytes(os.path.join(images_dir, plan.image_id + plan.extension), image_bytes)
        xml_text = _annotation_xml(plan, names, image_rng)
        _write_bytes(
            os.path.join(annotations_dir, plan.image_id + ".xml"), xml_text.encode("utf-8")
        )
    if sets_dir:
        for split in SPLITS:
            ids = sorted(p.image_id for p in plans if split == "trainval" or p.split == split)
            _write_bytes(
                os.path.join(sets_dir, split + ".txt"),
                "".join(i + "\n" for i in ids).encode("ascii"),
            )
    return _summarise(plans, names, colours, dataset_dir, layout)


def _check_options(num_images, seed, num_classes, layout) -> None:
    if not _is_int(num_images) or not 1 <= num_images <= MAX_IMAGES:
        raise errors.InvalidOptionsError(
            f"number of images must be an integer from 1 to {MAX_IMAGES}, got {num_images!r}"
        )
    if not _is_int(num_classes) or not MIN_CLASSES <= num_classes <= MAX_CLASSES:
        raise errors.InvalidOptionsError(
            f"number of classes must be an integer from {MIN_CLASSES} to {MAX_CLASSES} "
            f"(a long tail needs at least {MIN_CLASSES}), got {num_classes!r}"
        )
    if not _is_int(seed):
        raise errors.InvalidOptionsError(f"seed must be an integer, got {seed!r}")
    if layout not in LAYOUTS:
        raise errors.InvalidOptionsError(
            f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}"
        )


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _refuse_foreign_files(root: str, planned: set) -> None:
    """Stops before mixing a new dataset with files of an older one or of the user."""
    if not os.path.isdir(root):
        return
    foreign = []
    for folder, _, files in os.walk(root):
        foreign.extend(
            os.path.join(folder, f) for f in files if os.path.join(folder, f) not in planned
        )
    if foreign:
        foreign.sort()
        raise errors.InvalidOptionsError(
            f"{root} already holds {len(foreign)} file(s) that are not part of this sample "
            f"dataset (e.g. {foreign[0]}), probably from other options or another seed; "
            "delete that folder or choose an empty one"
        )


# ---------------------------------------------------------------- planning


def _plan_dataset(num_images: int, seed: int, num_classes: int) -> list[_ImagePlan]:
    """Decides every image's format, size, objects, boxes and split (no pixels yet)."""
    rng = random.Random(f"odweights-sample-data:{seed}")
    ids = [f"{i:06d}" for i in range(1, num_images + 1)]
    png_ids = set(rng.sample(ids, _fraction_count(num_images, PNG_FRACTION, minimum_n=3)))
    empty_ids = set(rng.sample(ids, _fraction_count(num_images, EMPTY_FRACTION, minimum_n=10)))
    profiles = [_PROFILE_CYCLE[i % len(_PROFILE_CYCLE)] for i in range(num_images)]
    rng.shuffle(profiles)

    object_counts = [
        0 if i in empty_ids else rng.choices(OBJECTS_PER_IMAGE, OBJECTS_PER_IMAGE_WEIGHTS)[0]
        for i in ids
    ]
    total = sum(object_counts)
    labels = [c for c, quota in enumerate(_class_quotas(total, num_classes)) for _ in range(quota)]
    rng.shuffle(labels)
    difficult = set(rng.sample(range(total), _fraction_count(total, DIFFICULT_FRACTION, 10)))
    truncated = set(rng.sample(range(total), _fraction_count(total, TRUNCATED_FRACTION, 10)))

    plans = []
    next_object = 0
    for image_id, count, profile in zip(ids, object_counts, profiles, strict=True):
        objects = [
            _Object(labels[k], k in difficult, k in truncated)
            for k in range(next_object, next_object + count)
        ]
        next_object += count
        width = rng.randrange(MIN_SIDE, MAX_SIDE + 1)
        height = rng.randrange(MIN_SIDE, MAX_SIDE + 1)
        plan = _ImagePlan(
            image_id, ".png" if image_id in png_ids else ".jpg", width, height, profile, objects
        )
        _place_boxes(plan, rng)
        plans.append(plan)
    _assign_splits(plans, num_classes, rng)
    return plans


def _fraction_count(n: int, fraction: float, minimum_n: int) -> int:
    """round(n * fraction), but at least 1 once n reaches minimum_n."""
    if n < minimum_n:
        return 0
    return max(1, round(n * fraction))


def _class_quotas(total: int, num_classes: int) -> list[int]:
    """Objects per class: a geometric long tail whose head:tail ratio is at least 50."""
    weights = [HEAD_TO_TAIL_TARGET ** (-i / (num_classes - 1)) for i in range(num_classes)]
    scale = total / sum(weights)
    quotas = [int(w * scale) for w in weights]
    if total >= num_classes:
        quotas = [max(1, q) for q in quotas]
    quotas[0] += total - sum(quotas)
    # Rounding can flatten the tail of small datasets: move tail objects to the head.
    while quotas[-1] > 1 and quotas[0] < MIN_HEAD_TO_TAIL * quotas[-1]:
        quotas[-1] -= 1
        quotas[0] += 1
    return quotas


def _place_boxes(plan: _ImagePlan, rng: random.Random) -> None:
    """Gives every object a box; boxes lie in disjoint regions, so never overlap.

    The image is cut into one region per object (guillotine cuts at random
    positions); truncated objects get regions on the image border and touch it.
    An object whose region does not reach the border loses its truncated flag.
    """
    regions = _cut_regions((0, 0, plan.width, plan.height), len(plan.objects), rng)
    on_border = [r for r in regions if _border_sides(r, plan.width, plan.height)]
    inside = [r for r in regions if not _border_sides(r, plan.width, plan.height)]
    # Truncated objects first, so that they get the border regions.
    order = sorted(range(len(plan.objects)), key=lambda k: not plan.objects[k].truncated)
    for k, region in zip(order, on_border + inside, strict=True):
        obj = plan.objects[k]
        sides = _border_sides(region, plan.width, plan.height)
        obj.truncated = obj.truncated and bool(sides)
        obj.box = _box_in_region(
            region, plan.width, plan.height, obj, rng.choice(sides) if obj.truncated else None, rng
        )


def _cut_regions(rect, count: int, rng: random.Random) -> list[tuple[int, int, int, int]]:
    if count <= 1:
        return [rect] if count == 1 else []
    x0, y0, x1, y1 = rect
    first = rng.randint(1, count - 1)
    share = first / count * rng.uniform(0.8, 1.2)
    # Cutting the longer side keeps it >= MIN_REGION * count for both halves.
    horizontal = x1 - x0 >= y1 - y0
    start, end = (x0, x1) if horizontal else (y0, y1)
    cut = start + round((end - start) * share)
    cut = min(max(cut, start + MIN_REGION * first), end - MIN_REGION * (count - first))
    if horizontal:
        halves = (x0, y0, cut, y1), (cut, y0, x1, y1)
    else:
        halves = (x0, y0, x1, cut), (x0, cut, x1, y1)
    return _cut_regions(halves[0], first, rng) + _cut_regions(halves[1], count - first, rng)


def _border_sides(region, width: int, height: int) -> list[str]:
    x0, y0, x1, y1 = region
    return [
        side
        for side, touches in (
            ("left", x0 == 0),
            ("top", y0 == 0),
            ("right", x1 == width),
            ("bottom", y1 == height),
        )
        if touches
    ]


def _box_in_region(
    region, width, height, obj: _Object, border_side: str | None, rng: random.Random
) -> tuple[int, int, int, int]:
    """A VOC box (1-based, inclusive) inside `region` (0-based, half-open)."""
    x0, y0, x1, y1 = region
    # Usable pixels: half a gap from each cut, a margin from each image border.
    lo_x = x0 + (BORDER_MARGIN if x0 == 0 else BOX_GAP // 2)
    hi_x = x1 - 1 - (BORDER_MARGIN if x1 == width else BOX_GAP // 2)
    lo_y = y0 + (BORDER_MARGIN if y0 == 0 else BOX_GAP // 2)
    hi_y = y1 - 1 - (BORDER_MARGIN if y1 == height else BOX_GAP // 2)
    if border_side == "left":
        lo_x = 0
    elif border_side == "right":
        hi_x = width - 1
    elif border_side == "top":
        lo_y = 0
    elif border_side == "bottom":
        hi_y = height - 1
    box_w = _box_side(hi_x - lo_x + 1, obj.difficult, rng)
    box_h = _box_side(hi_y - lo_y + 1, obj.difficult, rng)
    left = rng.randint(lo_x, hi_x - box_w + 1)
    top = rng.randint(lo_y, hi_y - box_h + 1)
    if border_side == "left":
        left = 0
    elif border_side == "right":
        left = width - box_w
    elif border_side == "top":
        top = 0
    elif border_side == "bottom":
        top = height - box_h
    return left + 1, top + 1, left + box_w, top + box_h


def _box_side(available: int, difficult: bool, rng: random.Random) -> int:
    if difficult:  # difficult objects are small, as in VOC
        return min(available, rng.randint(MIN_BOX, max(MIN_BOX, available // 3)))
    return max(min(available, MIN_BOX), round(available * rng.uniform(0.45, 0.95)))


def _assign_splits(plans: list[_ImagePlan], num_classes: int, rng: random.Random) -> None:
    """About 70/30 train/val, so that every class is in train and, if it can, in val.

    Classes are handled from the rarest up: each takes about 70% of its still
    unassigned images into train, counting the images it already has there.
    """
    order = list(plans)
    rng.shuffle(order)
    holders_by_class = [[] for _ in range(num_classes)]
    for plan in order:
        for class_index in sorted({o.class_index for o in plan.objects}):
            holders_by_class[class_index].append(plan)
    for holders in reversed(holders_by_class):
        in_train = sum(p.split == "train" for p in holders)
        wanted = max(1, round(TRAIN_FRACTION * len(holders))) if holders else 0
        if len(holders) >= 2:
            wanted = min(wanted, len(holders) - 1)
        for plan in holders:
            if not plan.split:
                plan.split = "train" if in_train < wanted else "val"
                in_train += plan.split == "train"
    unassigned = [p for p in order if not p.split]
    in_train = sum(p.split == "train" for p in plans)
    target = round(TRAIN_FRACTION * len(plans))
    for plan in unassigned:
        plan.split = "train" if in_train < target else "val"
        in_train += plan.split == "train"


def _summarise(plans, names, colours, dataset_dir, layout) -> SampleSummary:
    split_class_counts = {split: {name: 0 for name in names} for split in SPLITS}
    split_images = {split: 0 for split in SPLITS}
    for plan in plans:
        for split in (plan.split, "trainval"):
            split_images[split] += 1
            for obj in plan.objects:
                split_class_counts[split][names[obj.class_index]] += 1
    objects = [o for p in plans for o in p.objects]
    return SampleSummary(
        dataset_dir=dataset_dir,
        layout=layout,
        num_images=len(plans),
        png_images=sum(p.extension == ".png" for p in plans),
        empty_images=sum(not p.objects for p in plans),
        class_names=list(names),
        class_colours=dict(zip(names, colours, strict=True)),
        class_counts=dict(split_class_counts["trainval"]),
        split_images=split_images,
        split_objects={s: sum(c.values()) for s, c in split_class_counts.items()},
        split_class_counts=split_class_counts,
        difficult_objects=sum(o.difficult for o in objects),
        truncated_objects=sum(o.truncated for o in objects),
    )


# ---------------------------------------------------------------- pixels


def _image_rng(seed: int, image_id: str) -> random.Random:
    return random.Random(f"odweights-sample-data:{seed}:{image_id}")


def _draw_image(plan: _ImagePlan, colours, rng: random.Random) -> bytes:
    """The encoded image: textured background, clutter, then one shape per box."""
    noise = np.random.default_rng(rng.getrandbits(64))
    width, height = plan.width, plan.height
    grey = rng.randint(80, 170)
    tint = np.array([rng.randint(-15, 15) for _ in range(3)], dtype=np.float32)
    coarse = noise.normal(0.0, 22.0, (height // 16 + 2, width // 16 + 2)).astype(np.float32)
    coarse_image = Image.fromarray(np.clip(coarse + 128.0, 0, 255).astype(np.uint8))
    smooth = (
        np.asarray(coarse_image.resize((width, height), Image.BICUBIC), dtype=np.float32) - 128.0
    )
    fine = noise.normal(0.0, 5.0, (height, width, 3)).astype(np.float32)
    pixels = grey + tint + smooth[:, :, None] + fine
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")

    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(2, 6)):  # clutter: muted strokes and blobs
        level = rng.randint(60, 190)
        muted = tuple(level + rng.randint(-18, 18) for _ in range(3))
        points = [(rng.randrange(width), rng.randrange(height)) for _ in range(2)]
        if rng.random() < 0.5:
            draw.line(points, fill=muted, width=rng.randint(1, 4))
        else:
            (ax, ay), (bx, by) = points
            draw.ellipse((min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)), fill=muted)

    for obj in plan.objects:
        xmin, ymin, xmax, ymax = obj.box
        colour = colours[obj.class_index]
        rect = (xmin - 1, ymin - 1, xmax - 1, ymax - 1)  # PIL: 0-based, inclusive
        draw.rectangle(rect, fill=colour)
        inset_x, inset_y = (xmax - xmin) // 5, (ymax - ymin) // 5
        shade = tuple(round(c * SHADE) for c in colour)
        if rng.random() < 0.5:
            draw.ellipse(
                (rect[0] + inset_x, rect[1] + inset_y, rect[2] - inset_x, rect[3] - inset_y),
                fill=shade,
            )
        else:
            draw.rectangle(
                (rect[0] + inset_x, rect[1] + inset_y, rect[2] - inset_x, rect[3] - inset_y),
                fill=shade,
            )

    buffer = io.BytesIO()
    if plan.extension == ".png":
        image.save(buffer, "PNG", compress_level=PNG_COMPRESS_LEVEL)
    else:
        image.save(
            buffer, "JPEG", quality=JPEG_QUALITY, subsampling=0, optimize=False, progressive=False
        )
    return buffer.getvalue()


def _hsv_to_rgb(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    return tuple(round(c * 255) for c in colorsys.hsv_to_rgb(hue, saturation, value))


def _write_bytes(path: str, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)


# ---------------------------------------------------------------- annotations


def _annotation_xml(plan: _ImagePlan, names: Sequence[str], rng: random.Random) -> str:
    """The annotation as one of the tools in _PROFILE_CYCLE would have written it."""
    profile = plan.profile
    filename = plan.image_id + plan.extension
    size = ("size", [("width", plan.width), ("height", plan.height), ("depth", 3)])
    if profile == "labelimg":
        header = [
            ("folder", "img"),
            ("filename", filename),
            ("path", f"D:\\data\\img\\{filename}"),
            ("source", [("database", "Unknown")]),
            size,
        ]
    elif profile == "labelimg_linux":
        header = [
            ("folder", "JPEGImages"),
            ("filename", filename),
            ("path", f"/home/annotator/datasets/shop/JPEGImages/{filename}"),
            ("source", [("database", "Unknown")]),
            size,
        ]
    elif profile == "voc2007":  # <owner> has a <name> child too, as in VOC2007
        header = [
            ("folder", "VOC2007"),
            ("filename", filename),
            (
                "source",
                [
                    ("database", "The VOC2007 Database"),
                    ("annotation", "PASCAL VOC2007"),
                    ("image", "flickr"),
                    ("flickrid", str(rng.randrange(10**8, 10**9))),
                ],
            ),
            ("owner", [("flickrid", "odweights"), ("name", "?")]),
            size,
        ]
    elif profile == "cvat":
        header = [
            ("folder", ""),
            ("filename", filename),
            ("source", [("database", "Unknown"), ("annotation", "Unknown"), ("image", "Unknown")]),
            size,
        ]
    else:  # converter: size first, a relative Windows path, no source
        header = [size, ("filename", filename), ("path", f"images\\{filename}")]
    float_coords = profile in ("cvat", "converter")
    children = (
        header
        + [("segmented", 0)]
        + [
            ("object", _object_children(obj, names, profile, float_coords, rng))
            for obj in plan.objects
        ]
    )
    indent = {
        "labelimg": "\t",
        "voc2007": "\t",
        "cvat": "  ",
        "labelimg_linux": "    ",
        "converter": "  ",
    }[profile]
    lines = ['<?xml version="1.0" encoding="utf-8"?>'] if float_coords else []
    _serialise("annotation", children, indent, 0, lines)
    return "\n".join(lines) + "\n"


def _serialise(tag: str, value, indent: str, depth: int, lines: list[str]) -> None:
    """Appends one element; a list value holds (tag, value) pairs of child elements."""
    pad = indent * depth
    if isinstance(value, list):
        lines.append(f"{pad}<{tag}>")
        for child_tag, child_value in value:
            _serialise(child_tag, child_value, indent, depth + 1, lines)
        lines.append(f"{pad}</{tag}>")
    else:
        lines.append(f"{pad}<{tag}>{escape(str(value))}</{tag}>")


def _object_children(
    obj: _Object, names, profile: str, float_coords: bool, rng: random.Random
) -> list:
    """(tag, value) pairs of one <object>; a list value is a nested element."""
    xmin, ymin, xmax, ymax = obj.box
    fmt = (lambda v: f"{v:.1f}") if float_coords else str
    coords = [("xmin", fmt(xmin)), ("ymin", fmt(ymin)), ("xmax", fmt(xmax)), ("ymax", fmt(ymax))]
    if profile == "converter" and rng.random() < 0.5:
        coords = [coords[0], coords[2], coords[1], coords[3]]  # xmin, xmax, ymin, ymax
    bndbox = ("bndbox", coords)
    name = ("name", names[obj.class_index])
    pose = (
        "pose",
        "Unspecified"
        if profile != "voc2007" or rng.random() < 0.5
        else rng.choice(("Left", "Right", "Frontal", "Rear")),
    )
    truncated = ("truncated", int(obj.truncated))
    difficult = ("difficult", int(obj.difficult))
    if profile == "cvat":
        attributes = ("attributes", [("attribute", [("name", "rotation"), ("value", "0.0")])])
        return [
            name,
            pose,
            truncated,
            difficult,
            ("occluded", int(rng.random() < 0.2)),
            bndbox,
            attributes,
        ]
    if profile == "converter":
        children = [bndbox, name, ("occluded", 0), truncated]
        if obj.difficult:  # this tool writes <difficult> only when it is set
            children.append(difficult)
        if rng.random() < 0.5:
            children.insert(1, ("confidence", "1.0"))
        return children
    if profile == "labelimg_linux" and rng.random() < 0.3:
        return [bndbox, name, pose, truncated, difficult]
    return [name, pose, truncated, difficult, bndbox]
