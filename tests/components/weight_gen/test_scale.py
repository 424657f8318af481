"""The scale of the final weights: normalize mean / max / none, min_weight and max_weight.

Worked examples: docs/weights.md ("The scale"), n = [1000, 100, 10] objects,
inverse frequency (raw weights 0.001, 0.01, 0.1; N = 1110).
"""

import random

import pytest

from odweights.components.weight_gen import weighting
from odweights.components.weight_gen.weighting import ClassCount, WeightOptions
from odweights.errors import InvalidOptionsError

COMPUTED_METHODS = [method for method in weighting.METHODS if method != "manual"]


def worked_counts():
    return [
        ClassCount(name, class_id, objects, 10, 1110)
        for name, class_id, objects in (("common", 1, 1000), ("middle", 2, 100), ("rare", 3, 10))
    ]


def compute(**options):
    return weighting.compute(
        worked_counts(),
        10,
        WeightOptions(method=options.pop("method", "inverse_frequency"), **options),
    )


def weights(results):
    return [result.weight for result in results]


def flags(results):
    return [result.flags for result in results]


def long_tailed_counts(rng, num_classes):
    objects = [
        max(1, int(5000 * rng.random() ** 4)) if rng.random() > 0.1 else 0
        for _ in range(num_classes)
    ]
    total = sum(objects)
    return [
        ClassCount(f"c{index:02d}", index + 1, n, max(1, n // 2) if n else 0, min(total, n * 3))
        for index, n in enumerate(objects)
    ]


def box_mean(results):
    total = sum(result.objects for result in results)
    return sum(result.objects * result.weight for result in results) / total


def test_mean_is_the_default_of_computed_methods_and_none_of_manual():
    assert WeightOptions().scale == "mean"
    assert WeightOptions(method="manual", default_weight=1.0).scale == "none"
    assert WeightOptions(method="manual", default_weight=1.0, normalize="mean").scale == "mean"


def test_worked_example_under_each_scale():
    # none: the raw weights; max: largest 1; mean: s * (1 + 1 + 1) = 1110, s = 370.
    assert weights(compute(normalize="none")) == pytest.approx([0.001, 0.01, 0.1])
    assert weights(compute(normalize="max")) == pytest.approx([0.01, 0.1, 1.0])
    results = compute()
    assert weights(results) == pytest.approx([0.37, 3.7, 37.0])
    assert weighting.mean_box_weight(results) == pytest.approx(1.0, abs=1e-12)
    # The max-scaled weights of the same data have a box-weighted mean far below 1.
    assert weighting.mean_box_weight(compute(normalize="max")) == pytest.approx(3 / 111)


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("method", COMPUTED_METHODS)
def test_mean_is_exactly_one_and_the_ratios_are_the_methods(method, seed):
    rng = random.Random(seed)
    counts = long_tailed_counts(rng, rng.randint(1, 60))
    if not any(count.objects for count in counts):
        counts[0] = ClassCount("c00", 1, 7, 3, 7)
    results = weighting.compute(counts, 10_000, WeightOptions(method=method))
    assert weighting.mean_box_weight(results) == pytest.approx(1.0, abs=1e-9)
    assert box_mean(results) == pytest.approx(1.0, abs=1e-9)
    maxed = weighting.compute(counts, 10_000, WeightOptions(method=method, normalize="max"))
    ratios = [mean.weight / top.weight for mean, top in zip(results, maxed, strict=True)]
    assert ratios == pytest.approx([ratios[0]] * len(ratios), rel=1e-9)


def test_max_weight_caps_and_the_others_are_solved_again():
    # rare and middle held at 2 (220 of the 1110); common: 1000 * 0.001 * s = 890.
    results = compute(max_weight=2)
    assert weights(results) == pytest.approx([0.89, 2.0, 2.0], rel=1e-12)
    assert flags(results) == [(), ("capped",), ("capped",)]
    assert weighting.mean_box_weight(results) == pytest.approx(1.0, abs=1e-12)


def test_min_weight_floors_and_the_others_are_solved_again():
    # common held at 0.5 (500 of the 1110); s * (100 * 0.01 + 10 * 0.1) = 610, s = 305.
    results = compute(min_weight=0.5)
    assert weights(results) == pytest.approx([0.5, 3.05, 30.5], rel=1e-12)
    assert flags(results) == [("floored",), (), ()]
    assert weighting.mean_box_weight(results) == pytest.approx(1.0, abs=1e-12)


def test_both_bounds_at_once():
    # rare and middle capped at 1.2 (132); common 978 / 1000 = 0.978, above the floor.
    results = compute(min_weight=0.9, max_weight=1.2)
    assert weights(results) == pytest.approx([0.978, 1.2, 1.2], rel=1e-12)
    assert flags(results) == [(), ("capped",), ("capped",)]
    # A cap of 1 leaves one answer: every weight 1.
    results = compute(max_weight=1)
    assert weights(results) == pytest.approx([1.0, 1.0, 1.0], rel=1e-12)
    # And a floor of 1 too.
    results = compute(min_weight=1)
    assert weights(results) == pytest.approx([1.0, 1.0, 1.0], rel=1e-12)


def test_bounds_apply_to_max_and_none_without_solving_again():
    results = compute(normalize="max", min_weight=0.05, max_weight=0.5)
    assert weights(results) == pytest.approx([0.05, 0.1, 0.5])
    assert flags(results) == [("floored",), (), ("capped",)]
    results = compute(normalize="none", max_weight=0.005)
    assert weights(results) == pytest.approx([0.001, 0.005, 0.005])


def test_manual_weights_keep_their_values_and_only_explicit_bounds_move_them():
    given = {"common": 0.2, "middle": 3.0, "rare": 12.0}
    results = compute(method="manual", class_weights=given)
    assert weights(results) == [0.2, 3.0, 12.0]
    results = compute(method="manual", class_weights=given, max_weight=5.0)
    assert weights(results) == [0.2, 3.0, 5.0]
    assert flags(results) == [(), (), ("capped",)]


@pytest.mark.parametrize("seed", range(200))
def test_bounded_mean_on_random_data(seed):
    rng = random.Random(seed)
    counts = long_tailed_counts(rng, rng.randint(1, 40))
    if not any(count.objects for count in counts):
        counts[0] = ClassCount("c00", 1, 3, 1, 3)
    low = rng.choice([None, rng.uniform(0.01, 1.0), 1.0])
    high = rng.choice([None, rng.uniform(1.0, 50.0), 1.0])
    method = rng.choice(COMPUTED_METHODS)
    results = weighting.compute(
        counts, 10_000, WeightOptions(method=method, min_weight=low, max_weight=high, beta=0.99)
    )
    assert weighting.mean_box_weight(results) == pytest.approx(1.0, abs=1e-9)
    raw = {r.name: r.raw_weight for r in results if r.objects}
    scales = set()
    for result in results:
        assert low is None or result.weight >= low
        assert high is None or result.weight <= high
        if "capped" in result.flags:
            assert result.weight == high
        elif "floored" in result.flags:
            assert result.weight == low
        elif result.objects:
            scales.add(result.weight / raw[result.name])
    # Every class within the bounds has the same scale: one solution, not an approximation.
    assert max(scales, default=1) == pytest.approx(min(scales, default=1), rel=1e-9)
    # The method's order of the classes is kept.
    ordered = sorted((r for r in results if r.objects), key=lambda r: r.raw_weight)
    assert [r.weight for r in ordered] == sorted(r.weight for r in ordered)


def test_solve_scale_finds_the_piece_that_holds_the_target():
    # Two classes, n = 1 each, raw 1 and 4, bounds [0.5, 2]: the sum 0.5 + 0.5 at s <= 0.125,
    # 0.5 + 4s up to s = 0.5 (cap of the second), then s + 2 up to s = 2.
    free = [(1, 1.0), (1, 4.0)]
    assert weighting.solve_scale(free, 1.5, 0.5, 2.0) == pytest.approx(0.25)
    assert weighting.solve_scale(free, 3.0, 0.5, 2.0) == pytest.approx(1.0)
    assert weighting.solve_scale(free, 4.0, 0.5, 2.0) == pytest.approx(2.0)
    assert weighting.solve_scale(free, 1.0, 0.5, 2.0) == pytest.approx(0.125)


@pytest.mark.parametrize("target, low, high", [(5.0, 0.5, 2.0), (0.9, 0.5, 2.0), (0.0, None, None)])
def test_solve_scale_refuses_a_target_out_of_reach(target, low, high):
    with pytest.raises(InvalidOptionsError, match="widen the bounds"):
        weighting.solve_scale([(1, 1.0), (1, 4.0)], target, low, high)


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(max_weight=0.5), "max_weight 0.5 is below 1"),
        (dict(min_weight=2.0), "min_weight 2.0 is above 1"),
        (dict(min_weight=2.0, max_weight=1.5, normalize="none"), "is above max_weight 1.5"),
        (dict(normalize="median"), "unknown normalize 'median'"),
    ],
)
def test_combinations_that_cannot_work_are_refused_before_anything_runs(options, message):
    with pytest.raises(InvalidOptionsError, match=message):
        WeightOptions(**options)


def test_a_split_without_boxes_has_no_mean():
    counts = [ClassCount("a", 1, 0, 0, 0)]
    results = weighting.compute(counts, 3, WeightOptions())
    assert weights(results) == [1.0]
    assert weighting.mean_box_weight(results) is None
