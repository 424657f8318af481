"""The weighting math against the worked examples of docs/weights.md and scikit-learn."""

import math
import random

import numpy as np
import pytest
from sklearn.utils.class_weight import compute_class_weight

from odweights.components.weight_gen import weighting
from odweights.components.weight_gen.weighting import ClassCount, WeightOptions
from odweights.errors import BadInputError, InvalidOptionsError

WORKED_OBJECTS = [1000, 100, 10]
EVERY_CLASS_IN_EVERY_IMAGE = [sum(WORKED_OBJECTS)] * 3


def worked_counts(images=None, objects_in_images=None):
    """The example n = [1000, 100, 10] of docs/weights.md; by default every class in every image."""
    images = images or [10, 10, 10]
    objects_in_images = objects_in_images or EVERY_CLASS_IN_EVERY_IMAGE
    return [
        ClassCount(name, class_id, objects, m, d)
        for name, class_id, objects, m, d in zip(
            ["common", "middle", "rare"],
            [1, 2, 3],
            WORKED_OBJECTS,
            images,
            objects_in_images,
            strict=True,
        )
    ]


def weights(results):
    return [result.weight for result in results]


def raw_weights(results):
    return [result.raw_weight for result in results]


@pytest.mark.parametrize(
    "method, expected",
    [
        ("inverse_frequency", [0.01, 0.1, 1.0]),
        ("inverse_sqrt_frequency", [0.1, 0.316228, 1.0]),
        ("balanced", [0.01, 0.1, 1.0]),
        ("median_frequency", [0.01, 0.1, 1.0]),
        ("median_frequency_global", [0.01, 0.1, 1.0]),
    ],
)
def test_worked_example_final_weights(method, expected):
    # Scaled by the largest, as the reference values are given.
    results = weighting.compute(worked_counts(), 10, WeightOptions(method=method, normalize="max"))
    assert weights(results) == pytest.approx(expected, rel=1e-5)
    # The default scale keeps the ratios and makes the box-weighted mean 1.
    results = weighting.compute(worked_counts(), 10, WeightOptions(method=method))
    assert weighting.mean_box_weight(results) == pytest.approx(1.0, abs=1e-9)
    scale = results[0].weight / expected[0]
    assert weights(results) == pytest.approx([scale * w for w in expected], rel=1e-5)


@pytest.mark.parametrize(
    "beta, expected",
    [
        (0.99, [0.0956, 0.1508, 1.0]),
        (0.999, [0.0157, 0.1046, 1.0]),
    ],
)
def test_worked_example_effective_number(beta, expected):
    results = weighting.compute(
        worked_counts(), 10, WeightOptions(method="effective_number", beta=beta, normalize="max")
    )
    assert weights(results) == pytest.approx(expected, abs=5e-4)
    # Raw weights are Cui et al.'s (1 - b) / (1 - b^n), before scaling.
    assert raw_weights(results) == pytest.approx(
        [(1 - beta) / (1 - beta**n) for n in WORKED_OBJECTS], rel=1e-9
    )


def test_worked_example_balanced_raw_weights():
    results = weighting.compute(worked_counts(), 10, WeightOptions(method="balanced"))
    assert raw_weights(results) == pytest.approx([0.37, 3.7, 37.0])


@pytest.mark.parametrize("method", ["median_frequency", "median_frequency_global"])
def test_worked_example_median_frequency_raw(method):
    # docs/weights.md: "if every class is in every image: [0.1, 1, 10] raw".
    results = weighting.compute(worked_counts(), 10, WeightOptions(method=method))
    assert raw_weights(results) == pytest.approx([0.1, 1.0, 10.0])


def test_median_frequency_of_classes_that_never_share_an_image_is_all_ones():
    # D_c = n_c: f_c = 1 for every class (the degenerate case of docs/weights.md).
    counts = worked_counts([500, 10, 10], objects_in_images=WORKED_OBJECTS)
    results = weighting.compute(counts, 1000, WeightOptions(method="median_frequency"))
    assert raw_weights(results) == [1.0, 1.0, 1.0]
    assert weights(results) == [1.0, 1.0, 1.0]
    # The global variant ignores the images: f_c = n_c / N.
    results = weighting.compute(counts, 1000, WeightOptions(method="median_frequency_global"))
    assert raw_weights(results) == pytest.approx([0.1, 1.0, 10.0])


def test_median_frequency_of_a_mixed_split_counted_by_hand():
    # Images (boxes): [a, a, a, b], [a, a], [b, c], [c, c].
    # n = a 5, b 2, c 3; m = 2 each; D = a 4 + 2, b 4 + 2, c 2 + 2.
    # f = a 5/6, b 2/6, c 3/4; median 3/4 -> raw 0.9, 2.25, 1; mean 1: s (4.5 + 4.5 + 3) = 10.
    counts = [ClassCount("a", 1, 5, 2, 6), ClassCount("b", 2, 2, 2, 6), ClassCount("c", 3, 3, 2, 4)]
    results = weighting.compute(counts, 4, WeightOptions(method="median_frequency"))
    assert raw_weights(results) == pytest.approx([0.9, 2.25, 1.0])
    assert weights(results) == pytest.approx([0.75, 1.875, 10 / 12])
    # Global: f = n / 10 = [0.5, 0.2, 0.3]; median 0.3 -> raw 0.6, 1.5, 1.
    results = weighting.compute(counts, 4, WeightOptions(method="median_frequency_global"))
    assert raw_weights(results) == pytest.approx([0.6, 1.5, 1.0])


def test_median_frequency_of_an_even_number_of_classes_takes_the_middle_mean():
    counts = [ClassCount(f"c{i}", i + 1, n, 1, n) for i, n in enumerate([1, 2, 4, 8])]
    results = weighting.compute(counts, 10, WeightOptions(method="median_frequency_global"))
    median = (2 / 15 + 4 / 15) / 2
    assert raw_weights(results) == pytest.approx([median / (n / 15) for n in [1, 2, 4, 8]])


def test_repeat_factors_of_weighting_md():
    results = weighting.compute(
        worked_counts([1000, 100, 10]), 2000, WeightOptions(method="balanced", rfs_threshold=0.1)
    )
    assert [r.repeat_factor for r in results] == pytest.approx([1.0, 1.414214, 4.472136])


@pytest.mark.parametrize("seed", range(5))
def test_balanced_equals_scikit_learn(seed):
    rng = random.Random(seed)
    num_classes = rng.randint(2, 40)
    objects = [rng.randint(1, 5000) for _ in range(num_classes)]
    counts = [
        ClassCount(f"class{i:02d}", i + 1, n, max(1, n // 3), n) for i, n in enumerate(objects)
    ]
    labels = np.repeat(np.arange(num_classes), objects)
    expected = compute_class_weight("balanced", classes=np.arange(num_classes), y=labels)
    results = weighting.compute(
        counts, sum(objects), WeightOptions(method="balanced", normalize="max")
    )
    assert raw_weights(results) == pytest.approx(list(expected), rel=1e-12)
    assert weights(results) == pytest.approx(list(expected / expected.max()), rel=1e-12)
    # scikit-learn's 'balanced' already has a box-weighted mean of 1 (N / K per class):
    # normalize mean leaves it as it is, and none too.
    for normalize in ("mean", "none"):
        results = weighting.compute(
            counts, sum(objects), WeightOptions(method="balanced", normalize=normalize)
        )
        assert weights(results) == pytest.approx(list(expected), rel=1e-12)


def test_effective_number_tends_to_uniform_as_beta_goes_to_zero():
    results = weighting.compute(
        worked_counts(), 10, WeightOptions(method="effective_number", beta=0.0)
    )
    assert weights(results) == [1.0, 1.0, 1.0]
    results = weighting.compute(
        worked_counts(), 10, WeightOptions(method="effective_number", beta=1e-6)
    )
    assert weights(results) == pytest.approx([1.0, 1.0, 1.0], rel=1e-5)


def test_effective_number_tends_to_inverse_frequency_as_beta_goes_to_one():
    inverse = weights(
        weighting.compute(worked_counts(), 10, WeightOptions(method="inverse_frequency"))
    )
    for beta, tolerance in ((0.99999, 1e-2), (1 - 1e-9, 1e-5)):
        results = weighting.compute(
            worked_counts(), 10, WeightOptions(method="effective_number", beta=beta)
        )
        assert weights(results) == pytest.approx(inverse, rel=tolerance)


def test_unseen_classes_weigh_as_much_as_the_rarest_class_and_get_a_flag():
    counts = worked_counts() + [ClassCount("absent", 4, 0, 0, 0)]
    for method in ("inverse_frequency", "balanced", "effective_number", "median_frequency"):
        for normalize in ("mean", "max", "none"):
            results = weighting.compute(
                counts, 10, WeightOptions(method=method, normalize=normalize)
            )
            absent = results[3]
            assert absent.raw_weight is None
            assert absent.weight == max(weights(results[:3]))
            assert absent.flags == ("unseen",)
            assert absent.repeat_factor == 1.0
            assert all(math.isfinite(r.weight) and r.weight > 0 for r in results)
        # Unseen classes hold no box: the mean over the split is still 1.
        results = weighting.compute(counts, 10, WeightOptions(method=method))
        assert weighting.mean_box_weight(results) == pytest.approx(1.0, abs=1e-9)
    results = weighting.compute(counts, 10, WeightOptions(method="balanced", normalize="max"))
    assert results[3].weight == 1.0


def test_a_split_without_objects_weighs_every_class_one():
    counts = [ClassCount("a", 1, 0, 0, 0), ClassCount("b", 2, 0, 0, 0)]
    results = weighting.compute(counts, 5, WeightOptions(method="balanced"))
    assert weights(results) == [1.0, 1.0]
    assert all(r.flags == ("unseen",) for r in results)


def test_min_weight_floors_final_weights_only():
    results = weighting.compute(
        worked_counts(),
        10,
        WeightOptions(method="inverse_frequency", min_weight=0.05, normalize="max"),
    )
    assert weights(results) == pytest.approx([0.05, 0.1, 1.0])
    assert raw_weights(results) == pytest.approx([0.001, 0.01, 0.1])
    assert [r.flags for r in results] == [("floored",), (), ()]


def test_manual_weights_are_written_as_given_unless_a_scale_is_chosen():
    given = {"common": 1, "middle": 2.5, "rare": 40}
    results = weighting.compute(
        worked_counts(), 10, WeightOptions(method="manual", class_weights=given)
    )
    assert weights(results) == [1.0, 2.5, 40.0]
    assert raw_weights(results) == [1.0, 2.5, 40.0]
    assert all(r.flags == () for r in results)
    assert WeightOptions(method="manual", class_weights=given).scale == "none"
    # (1000 * 1 + 100 * 2.5 + 10 * 40) / 1110
    assert weighting.mean_box_weight(results) == pytest.approx(1650 / 1110, rel=1e-12)
    results = weighting.compute(
        worked_counts(), 10, WeightOptions(method="manual", class_weights=given, normalize="max")
    )
    assert weights(results) == pytest.approx([0.025, 0.0625, 1.0])
    results = weighting.compute(
        worked_counts(), 10, WeightOptions(method="manual", class_weights=given, normalize="mean")
    )
    assert weights(results) == pytest.approx([w * 1110 / 1650 for w in (1, 2.5, 40)])
    assert weighting.mean_box_weight(results) == pytest.approx(1.0, abs=1e-12)


def test_manual_without_default_weight_names_every_missing_class():
    with pytest.raises(InvalidOptionsError, match="2 label map classes: middle, rare"):
        weighting.compute(
            worked_counts(), 10, WeightOptions(method="manual", class_weights={"common": 0.1})
        )


def test_manual_default_weight_fills_the_missing_classes():
    results = weighting.compute(
        worked_counts(),
        10,
        WeightOptions(method="manual", class_weights={"common": 0.1}, default_weight=1.0),
    )
    assert weights(results) == pytest.approx([0.1, 1.0, 1.0])
    assert [r.flags for r in results] == [(), ("default_weight",), ("default_weight",)]


def test_overrides_replace_computed_final_weights():
    results = weighting.compute(
        worked_counts(),
        10,
        WeightOptions(
            method="inverse_frequency",
            min_weight=0.02,
            normalize="max",
            class_weights={"common": 0.03, "rare": 0.5},
        ),
    )
    assert weights(results) == pytest.approx([0.03, 0.1, 0.5])
    assert raw_weights(results) == pytest.approx([0.001, 0.01, 0.1])
    assert [r.flags for r in results] == [("override",), (), ("override",)]


def test_overrides_are_held_fixed_while_the_mean_is_solved():
    # rare fixed at 5: 1110 - 50 = 1060 left for common and middle,
    # s * (1000 * 0.001 + 100 * 0.01) = 1060 -> s = 530.
    results = weighting.compute(
        worked_counts(), 10, WeightOptions(method="inverse_frequency", class_weights={"rare": 5})
    )
    assert weights(results) == pytest.approx([0.53, 5.3, 5.0])
    assert weighting.mean_box_weight(results) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(
    "options, message",
    [
        # 1000 * 1.2 > 1110: the other classes would need a negative weight.
        (
            dict(class_weights={"common": 1.2}),
            r"overridden classes \(common\) alone add 1200 "
            r"to the weights of the split's 1110 boxes",
        ),
        # middle and rare may not go below 0.5: 1000 * 1.06 + 110 * 0.5 > 1110.
        (
            dict(class_weights={"common": 1.06}, min_weight=0.5),
            r"overridden classes \(common\) add 1060 .* within \[55, inf\]",
        ),
        (
            dict(class_weights={"common": 1, "middle": 1, "rare": 2}),
            "override every class with objects.*mean is 1.009",
        ),
    ],
)
def test_overrides_that_make_a_mean_of_one_impossible_are_refused(options, message):
    with pytest.raises(InvalidOptionsError, match=message):
        weighting.compute(worked_counts(), 10, WeightOptions(method="balanced", **options))


def test_weight_ratio_is_largest_over_smallest():
    results = weighting.compute(worked_counts(), 10, WeightOptions(method="inverse_frequency"))
    assert weighting.weight_ratio(results) == pytest.approx(100.0)


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(method="focal"), "unknown weighting method 'focal'; choose one of: manual,"),
        (dict(beta=1.0), r"beta must be a number in \[0, 1\)"),
        (dict(beta=-0.1), r"beta must be a number in \[0, 1\)"),
        (dict(beta=float("nan")), r"beta must be a number in \[0, 1\)"),
        (dict(rfs_threshold=0.0), r"rfs_threshold must be a number in \(0, 1\]"),
        (dict(rfs_threshold=-1), r"rfs_threshold must be a number in \(0, 1\]"),
        (dict(min_weight=0.0), "min_weight must be a positive number"),
        (dict(max_weight=float("inf")), "max_weight must be a positive number"),
        (dict(max_weight=True), "max_weight must be a positive number"),
        (dict(min_weight=1.5), "min_weight 1.5 is above 1"),
        (dict(max_weight=0.5), "max_weight 0.5 is below 1"),
        (
            dict(min_weight=0.6, max_weight=0.5, normalize="max"),
            "min_weight 0.6 is above max_weight",
        ),
        (dict(min_weight=3, max_weight=2, normalize="none"), "min_weight 3 is above max_weight 2"),
        (dict(normalize="sum"), "unknown normalize 'sum'; choose one of: mean, max, none"),
        (
            dict(method="manual", class_weights={"a": 2.0}, normalize="mean", max_weight=0.9),
            "max_weight 0.9 is below 1",
        ),
        (
            dict(method="manual", class_weights={"a": -1.0, "b": 0}),
            "class weights must be positive numbers.*a=-1.0, b=0",
        ),
        (dict(method="manual", class_weights={"a": "heavy"}), "a='heavy'"),
        (
            dict(method="balanced", class_weights={"a": 2.0}, max_weight=1.5),
            r"override final weights.*bound to \[None, 1.5\]; got: a=2.0",
        ),
        (dict(method="balanced", default_weight=1.0), "default_weight applies to method 'manual'"),
        (
            dict(method="manual", class_weights={"a": 1.0}, default_weight=-2),
            "default_weight must be a positive number",
        ),
        (dict(method="manual"), "method 'manual' needs class weights"),
    ],
)
def test_invalid_options_are_refused(options, message):
    with pytest.raises(InvalidOptionsError, match=message):
        WeightOptions(**options)


def test_overrides_of_classes_outside_the_label_map_are_refused():
    with pytest.raises(
        InvalidOptionsError, match="not in the label map: dress, hat; label map classes: common"
    ):
        weighting.compute(
            worked_counts(),
            10,
            WeightOptions(method="balanced", class_weights={"hat": 0.5, "dress": 0.1}),
        )


@pytest.mark.parametrize(
    "counts, num_images, message",
    [
        ([ClassCount("a", 1, 5, 0, 5)], 10, "5 objects in 0 images is impossible"),
        ([ClassCount("a", 1, 2, 3, 2)], 10, "2 objects in 3 images is impossible"),
        ([ClassCount("a", 1, 20, 12, 20)], 10, "in 12 images but the split has only 10"),
        (
            [ClassCount("a", 1, 5, 2, 4)],
            10,
            r"5 objects and 4 objects in the images containing it \(of 5 objects in all\) is imp",
        ),
        (
            [ClassCount("a", 1, 5, 2, 9), ClassCount("b", 2, 3, 1, 3)],
            10,
            r"5 objects and 9 objects in the images containing it \(of 8 objects in all\)",
        ),
        (
            [ClassCount("a", 1, 0, 0, 3), ClassCount("b", 2, 3, 1, 3)],
            10,
            r"0 objects and 3 objects in the images containing it",
        ),
    ],
)
def test_inconsistent_counts_are_refused(counts, num_images, message):
    with pytest.raises(BadInputError, match=message):
        weighting.compute(counts, num_images, WeightOptions())


def test_parse_class_weights_reads_the_command_line_form():
    assert weighting.parse_class_weights("top=1.0, dress=0.1,") == {"top": 1.0, "dress": 0.1}
    assert weighting.parse_class_weights("") == {}


@pytest.mark.parametrize(
    "text, message",
    [
        ("top", "'top' is not NAME=WEIGHT"),
        ("top=heavy", "'top=heavy' is not NAME=WEIGHT"),
        ("=1", "'=1' is not NAME=WEIGHT"),
        ("top=1,top=2", "'top' is given twice"),
    ],
)
def test_parse_class_weights_refuses_malformed_text(text, message):
    with pytest.raises(InvalidOptionsError, match=message):
        weighting.parse_class_weights(text)


def test_class_weights_given_as_text_are_refused_with_a_hint():
    with pytest.raises(InvalidOptionsError, match="parse_class_weights reads"):
        WeightOptions(method="manual", class_weights="top=1.0")
