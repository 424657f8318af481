"""input_reader.config: the OD API input reader blocks for the exported files.

Each block sets `max_number_of_boxes` to the most boxes of any image of its
split (at least 1): the OD API pads every image to that many boxes and silently
drops the rest, 100 by default. Each eval_input_reader is named after its split,
so that the metrics of several evaluation splits do not overwrite each other.
"""

import os
from collections.abc import Mapping

from odweights.components.od_export.sharding import shard_pattern
from odweights.label_map import LABEL_MAP_FILE


def _quoted(path: str) -> str:
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _reader_block(
    name: str, directory: str, split: str, num_shards: int, max_boxes: int, evaluation: bool
) -> str:
    lines = [f"{name} {{"]
    if evaluation:
        lines.append(f"  name: {_quoted(split)}")
    lines += [f"  label_map_path: {_quoted(os.path.join(directory, LABEL_MAP_FILE))}"]
    if evaluation:
        lines += ["  shuffle: false", "  num_epochs: 1"]
    lines.append(f"  max_number_of_boxes: {max(1, max_boxes)}")
    lines += [
        "  tf_record_input_reader {",
        f"    input_path: {_quoted(os.path.join(directory, shard_pattern(split, num_shards)))}",
        "  }",
        "}",
    ]
    return "\n".join(lines)


def input_reader_config(
    directory: str,
    num_shards: Mapping[str, int],
    training_split: str,
    num_classes: int = 0,
    *,
    max_boxes: Mapping[str, int],
) -> str:
    """train_input_reader for the training split, one eval_input_reader per other split.

    `directory` is where the OD API will read the files (the published
    destination), so the text holds absolute paths. `max_boxes`: the most boxes of
    any exported image, per split. `num_classes` (the largest id
    of the label map), when given, is named for the model's own config.
    """
    blocks = [
        "# OD API input readers for this export (written by odweights OdExport).",
        "# Paste them into your pipeline.config in place of its own",
        "# train_input_reader / eval_input_reader blocks. Box weights are in",
        "# image/object/weight; the OD API reads them as groundtruth_weights.",
    ]
    if num_classes:
        blocks.append(
            f"# Set num_classes: {num_classes} in the model block (the largest id "
            "in label_map.pbtxt)."
        )
    if training_split in num_shards:
        blocks.append(
            _reader_block(
                "train_input_reader",
                directory,
                training_split,
                num_shards[training_split],
                max_boxes[training_split],
                evaluation=False,
            )
        )
    for split in sorted(num_shards):
        if split != training_split:
            blocks.append(
                _reader_block(
                    "eval_input_reader",
                    directory,
                    split,
                    num_shards[split],
                    max_boxes[split],
                    evaluation=True,
                )
            )
    return "\n".join(blocks) + "\n"
