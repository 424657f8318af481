"""Counts from real TFDV statistics; truncated lists are refused."""

import pyarrow as pa
import pytest
import tensorflow_data_validation as tfdv
from tensorflow_data_validation.statistics.stats_impl import generate_statistics_in_memory
from tfx import v1 as tfx
from tfx.types import standard_artifacts

from odweights import features
from odweights.components.weight_gen import statistics_counts
from odweights.components.weight_gen.weighting import ClassCount
from odweights.errors import BadInputError

NUM_CLASSES = 25


def class_batch():
    """A record batch of 40 images over 25 classes: class i has i+1 objects in one
    image and, for even i, one more object in a shared image of 14 objects (two of
    class 0), written as the VOC ExampleGen writes them."""
    boxes = [[f"c{i:02d}"] * (i + 1) for i in range(NUM_CLASSES)]
    boxes += [["c00"] + [f"c{i:02d}" for i in range(0, NUM_CLASSES, 2)]]
    boxes += [[] for _ in range(40 - len(boxes))]
    return pa.RecordBatch.from_arrays(
        [
            pa.array([[n.encode() for n in b] for b in boxes], type=pa.list_(pa.binary())),
            pa.array(
                [[n.encode() for n in sorted(set(b))] for b in boxes], type=pa.list_(pa.binary())
            ),
            pa.array(
                [[n.encode() for n in sorted(set(b)) for _ in b] for b in boxes],
                type=pa.list_(pa.binary()),
            ),
            pa.array([[b"secret bytes"]] * len(boxes), type=pa.list_(pa.binary())),
        ],
        [
            features.CLASS_TEXT,
            features.CLASSES_IN_IMAGE,
            features.OBJECTS_IN_IMAGES_WITH_CLASS,
            features.ENCODED,
        ],
    )


def expected_counts():
    """Counted by hand from class_batch: the shared image holds 14 objects."""
    counts = []
    for i in range(NUM_CLASSES):
        in_shared_image = i % 2 == 0
        extra = (2 if i == 0 else 1) if in_shared_image else 0
        counts.append(
            ClassCount(
                f"c{i:02d}",
                i + 1,
                objects=i + 1 + extra,
                images=1 + int(in_shared_image),
                objects_in_images_with_class=i + 1 + (14 if in_shared_image else 0),
            )
        )
    return counts


def label_map():
    return {f"c{i:02d}": i + 1 for i in range(NUM_CLASSES)}


def test_statistics_options_list_every_class_and_count_right():
    stats = generate_statistics_in_memory(class_batch(), statistics_counts.statistics_options())
    dataset = statistics_counts.dataset_statistics(stats)
    num_images, counts = statistics_counts.class_counts(dataset, label_map())
    assert num_images == 40
    assert counts == expected_counts()
    # Only the allow-listed keys get statistics: never the image bytes.
    assert features.ENCODED not in {f.path.step[0] for f in dataset.features}


def test_truncated_statistics_are_refused():
    # TFDV's default options list 20 values: with 25 classes the list is cut short.
    stats = generate_statistics_in_memory(class_batch(), tfdv.StatsOptions())
    dataset = statistics_counts.dataset_statistics(stats)
    with pytest.raises(
        BadInputError,
        match=r"list 20 values adding up to \d+ of its \d+ values: "
        r"TFDV truncated the list",
    ):
        statistics_counts.class_counts(dataset, label_map())


def test_classes_outside_the_label_map_are_refused():
    stats = generate_statistics_in_memory(class_batch(), statistics_counts.statistics_options())
    smaller = {name: class_id for name, class_id in label_map().items() if class_id <= 23}
    with pytest.raises(BadInputError, match="not in the label map: c23, c24"):
        statistics_counts.class_counts(statistics_counts.dataset_statistics(stats), smaller)


@pytest.mark.parametrize(
    "allowlist, missing",
    [
        ([features.CLASS_TEXT], features.CLASSES_IN_IMAGE),
        ([features.CLASS_TEXT, features.CLASSES_IN_IMAGE], features.OBJECTS_IN_IMAGES_WITH_CLASS),
    ],
)
def test_statistics_without_the_class_features_are_refused(allowlist, missing):
    options = statistics_counts.statistics_options()
    options.feature_allowlist = allowlist
    stats = generate_statistics_in_memory(class_batch(), options)
    with pytest.raises(BadInputError, match=f"no feature '{missing}'.*statistics_options"):
        statistics_counts.class_counts(statistics_counts.dataset_statistics(stats), label_map())


def test_statistics_gen_accepts_the_options_through_json():
    options = statistics_counts.statistics_options()
    restored = tfdv.StatsOptions.from_json(options.to_json())
    assert restored.feature_allowlist == list(features.STATISTICS_KEYS)
    assert restored.num_top_values == restored.num_rank_histogram_buckets == 100_000
    statistics_gen = tfx.components.StatisticsGen(
        examples=tfx.dsl.Channel(type=standard_artifacts.Examples), stats_options=options
    )
    stored = tfdv.StatsOptions.from_json(statistics_gen.exec_properties["stats_options_json"])
    assert stored.feature_allowlist == list(features.STATISTICS_KEYS)
    assert stored.num_top_values == stored.num_rank_histogram_buckets == 100_000
