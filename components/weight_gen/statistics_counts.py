"""Per-class counts taken from StatisticsGen's statistics, and the options that make them exact.

`image/object/class/text` holds one value per box, so its top values give the
objects per class (n_c); the auxiliary `odweights/classes_in_image` holds each
class present in an image once, so its top values give the images per class
(m_c); the auxiliary `odweights/objects_in_images_with_class` holds each class
present in an image once per box of the image, so its top values give the
objects in the images containing the class (D_c). TFDV lists only
`num_top_values` values: a list that does not add up to the feature's number of
values was truncated and is refused.
"""

from collections.abc import Mapping

import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import statistics_pb2

from odweights import features
from odweights.components.weight_gen.weighting import ClassCount
from odweights.errors import BadInputError

# Enough for any label map (LVIS has 1203 classes, Open Images 600): TFDV then
# lists every value of the few string features in STATISTICS_KEYS.
MAX_LISTED_VALUES = 100_000


def statistics_options() -> tfdv.StatsOptions:
    """StatsOptions for StatisticsGen: every class listed, only the keys that need statistics.

    Never the image bytes or per-image ids (STATISTICS_KEYS), which is also the
    bulk of StatisticsGen's time. JSON-serialisable, as StatisticsGen requires.
    """
    return tfdv.StatsOptions(
        feature_allowlist=list(features.STATISTICS_KEYS),
        num_top_values=MAX_LISTED_VALUES,
        num_rank_histogram_buckets=MAX_LISTED_VALUES,
    )


def dataset_statistics(
    stats_list: statistics_pb2.DatasetFeatureStatisticsList,
) -> statistics_pb2.DatasetFeatureStatistics:
    """The statistics of all examples (not of a slice) of one split."""
    if len(stats_list.datasets) == 1:
        return stats_list.datasets[0]
    for dataset in stats_list.datasets:
        if dataset.name == tfdv.constants.DEFAULT_SLICE_KEY:
            return dataset
    raise BadInputError(
        f"the statistics hold {len(stats_list.datasets)} slices and none named "
        f"{tfdv.constants.DEFAULT_SLICE_KEY!r}; run StatisticsGen without slicing"
    )


def value_counts(stats: statistics_pb2.DatasetFeatureStatistics, feature: str) -> dict[str, int]:
    """{value: occurrences} of a string feature, verified to be complete."""
    for feature_stats in stats.features:
        if tuple(feature_stats.path.step) == (feature,) or feature_stats.name == feature:
            break
    else:
        raise BadInputError(
            f"the statistics have no feature {feature!r}; run StatisticsGen on the VOC "
            "ExampleGen's examples with stats_options=statistics_options() "
            "(odweights.components.weight_gen.statistics_counts)"
        )
    if feature_stats.WhichOneof("stats") != "string_stats":
        raise BadInputError(
            f"feature {feature!r} has no string statistics (type "
            f"{statistics_pb2.FeatureNameStatistics.Type.Name(feature_stats.type)}); "
            "it must hold class names"
        )
    string_stats = feature_stats.string_stats
    counts = {top.value: int(round(top.frequency)) for top in string_stats.top_values}
    listed = sum(counts.values())
    total = string_stats.common_stats.tot_num_values
    if listed != total:
        raise BadInputError(
            f"the statistics of {feature!r} list {len(counts)} values adding up to {listed} "
            f"of its {total} values: TFDV truncated the list (num_top_values). Run "
            "StatisticsGen with stats_options=statistics_options() "
            "(odweights.components.weight_gen.statistics_counts), which lists every class"
        )
    return counts


def class_counts(
    stats: statistics_pb2.DatasetFeatureStatistics, label_map: Mapping[str, int]
) -> tuple[int, list[ClassCount]]:
    """(number of images, counts of every label-map class in id order)."""
    objects = value_counts(stats, features.CLASS_TEXT)
    images = value_counts(stats, features.CLASSES_IN_IMAGE)
    objects_in_images = value_counts(stats, features.OBJECTS_IN_IMAGES_WITH_CLASS)
    for feature, counts in (
        (features.CLASS_TEXT, objects),
        (features.CLASSES_IN_IMAGE, images),
        (features.OBJECTS_IN_IMAGES_WITH_CLASS, objects_in_images),
    ):
        unknown = sorted(set(counts) - set(label_map))
        if unknown:
            raise BadInputError(
                f"the statistics of {feature!r} hold classes that are not in the label map: "
                f"{', '.join(unknown)}; the examples and the label map do not belong together"
            )
    ordered = sorted(label_map.items(), key=lambda item: item[1])
    return stats.num_examples, [
        ClassCount(
            name=name,
            id=class_id,
            objects=objects.get(name, 0),
            images=images.get(name, 0),
            objects_in_images_with_class=objects_in_images.get(name, 0),
        )
        for name, class_id in ordered
    ]
