"""Benchmark: the VOC ExampleGen's input fingerprint on a tree of N files (default 100,000).

Writes a VOCdevkit-shaped tree (half annotations, half images; one byte each:
the fingerprint lists and never reads), then times
- the fingerprint as the component computes it (driver.compute_input_fingerprint:
  directory listings, fileio.list_files), and
- one tf.io.gfile.stat per file, as before: the request-per-file pattern that
  costs one round trip each on Cloud Storage.
Prints one JSON line. See docs/scale.md for the recorded figure.

Usage: python benchmarks/fingerprint_listing.py --work-dir DIR [--files N]
"""

import argparse
import json
import os
import posixpath
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

from odweights.components.voc_example_gen.driver import compute_input_fingerprint  # noqa: E402
from odweights.components.voc_example_gen.layout import voc_input_configs  # noqa: E402


def write_tree(voc_dir: str, num_files: int) -> None:
    """VOC2007 with num_files // 2 annotations and images, all listed in train.txt."""
    year = os.path.join(voc_dir, "VOC2007")
    folders = {
        name: os.path.join(year, name) for name in ("Annotations", "JPEGImages", "ImageSets/Main")
    }
    for folder in folders.values():
        os.makedirs(folder, exist_ok=True)
    ids = [f"{index:07d}" for index in range(num_files // 2)]
    for image_id in ids:
        for folder, suffix in (("Annotations", ".xml"), ("JPEGImages", ".jpg")):
            with open(os.path.join(folders[folder], image_id + suffix), "wb") as file:
                file.write(b"x")
    with open(os.path.join(folders["ImageSets/Main"], "train.txt"), "w") as file:
        file.write("".join(image_id + "\n" for image_id in ids))


def stat_each_file(root: str) -> int:
    count = 0
    for directory, _, names in tf.io.gfile.walk(root):
        for name in names:
            tf.io.gfile.stat(posixpath.join(directory, name))
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", required=True)
    parser.add_argument("--files", type=int, default=100_000)
    args = parser.parse_args()
    voc_dir = os.path.join(args.work_dir, "VOCdevkit")
    if not os.path.isdir(voc_dir):
        write_tree(voc_dir, args.files)
    _, input_config, _ = voc_input_configs(voc_dir, ("train",))
    started = time.perf_counter()
    fingerprint = compute_input_fingerprint(voc_dir, input_config)
    listing_seconds = time.perf_counter() - started
    started = time.perf_counter()
    stats = stat_each_file(os.path.join(voc_dir, "VOC2007"))
    stat_seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "files": stats,
                "fingerprint": fingerprint.split(",sha256")[0],
                "listing_seconds": round(listing_seconds, 2),
                "stat_per_file_seconds": round(stat_seconds, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
