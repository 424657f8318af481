"""Class weights and repeat factors from per-class counts: the pure math.

Formulas, worked examples and references: docs/weights.md. Counts per class:
`objects` (n_c, boxes of the class), `images` (m_c, images containing it),
`objects_in_images_with_class` (D_c, all boxes of the images containing it);
`num_images` (M) is the number of images of the split. Raw weights follow
the chosen method; only their ratios are the method. The weight written to
boxes is `scale * raw`, bounded by `min_weight` and `max_weight`, where the
scale follows `normalize` (see docs/weights.md): `mean` makes the box-weighted
mean over the split exactly 1 (the loss scale of unweighted training), `max`
makes the largest weight 1, `none` keeps the raw weights.
"""

import dataclasses
import math
import statistics
from collections.abc import Mapping, Sequence

from odweights.errors import BadInputError, InvalidOptionsError
from odweights.numeric import is_number

MANUAL = "manual"
INVERSE_FREQUENCY = "inverse_frequency"
INVERSE_SQRT_FREQUENCY = "inverse_sqrt_frequency"
BALANCED = "balanced"
EFFECTIVE_NUMBER = "effective_number"
MEDIAN_FREQUENCY = "median_frequency"
MEDIAN_FREQUENCY_GLOBAL = "median_frequency_global"

METHODS = (
    MANUAL,
    INVERSE_FREQUENCY,
    INVERSE_SQRT_FREQUENCY,
    BALANCED,
    EFFECTIVE_NUMBER,
    MEDIAN_FREQUENCY,
    MEDIAN_FREQUENCY_GLOBAL,
)

DEFAULT_METHOD = EFFECTIVE_NUMBER
DEFAULT_BETA = 0.999
DEFAULT_RFS_THRESHOLD = 0.001

# The scale of the final weights (`normalize`).
NORMALIZE_MEAN = "mean"  # box-weighted mean over the split = 1: sum_c n_c w_c = N
NORMALIZE_MAX = "max"  # largest weight = 1
NORMALIZE_NONE = "none"  # the raw weights
NORMALIZE_MODES = (NORMALIZE_MEAN, NORMALIZE_MAX, NORMALIZE_NONE)

# Relative tolerance of "the box-weighted mean is 1" where it cannot be solved for.
_MEAN_TOLERANCE = 1e-9

# Flags a class can carry in the result.
FLAG_UNSEEN = "unseen"  # no objects in the split: weight 1.0 (computed methods)
FLAG_FLOORED = "floored"  # weight raised to min_weight
FLAG_CAPPED = "capped"  # weight lowered to max_weight
FLAG_OVERRIDE = "override"  # weight given by the user on top of a computed method
FLAG_DEFAULT_WEIGHT = "default_weight"  # manual method: weight is the default weight


@dataclasses.dataclass(frozen=True)
class ClassCount:
    """Counts of one label-map class in one split."""

    name: str
    id: int
    objects: int
    images: int
    objects_in_images_with_class: int


@dataclasses.dataclass(frozen=True)
class WeightOptions:
    """The user's choice of method and parameters (validated on creation)."""

    method: str = DEFAULT_METHOD
    beta: float = DEFAULT_BETA
    rfs_threshold: float = DEFAULT_RFS_THRESHOLD
    min_weight: float | None = None
    class_weights: Mapping[str, float] = dataclasses.field(default_factory=dict)
    default_weight: float | None = None
    # None: `mean` for computed methods, `none` for manual (weights as given).
    normalize: str | None = None
    max_weight: float | None = None

    def __post_init__(self):
        validate_options(self)

    @property
    def scale(self) -> str:
        """The normalize mode that applies: the chosen one, else the method's default."""
        if self.normalize is not None:
            return self.normalize
        return NORMALIZE_NONE if self.method == MANUAL else NORMALIZE_MEAN

    def parameters(self) -> dict[str, object]:
        """The parameters that apply to the method, for reports and metadata."""
        parameters: dict[str, object] = {
            "rfs_threshold": self.rfs_threshold,
            "min_weight": self.min_weight,
            "max_weight": self.max_weight,
            "class_weights": dict(sorted(self.class_weights.items())),
        }
        if self.method == EFFECTIVE_NUMBER:
            parameters["beta"] = self.beta
        if self.method == MANUAL:
            parameters["default_weight"] = self.default_weight
        return parameters


@dataclasses.dataclass(frozen=True)
class ClassWeight:
    """The result for one class."""

    name: str
    id: int
    objects: int
    images: int
    objects_in_images_with_class: int
    raw_weight: float | None
    weight: float
    repeat_factor: float
    flags: tuple[str, ...]


def parse_class_weights(text: str) -> dict[str, float]:
    """{name: weight} from the command-line form `top=1.0,dress=0.1`."""
    weights: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, separator, value = item.rpartition("=")
        name = name.strip()
        try:
            weight = float(value)
        except ValueError:
            weight = None
        if not separator or not name or weight is None:
            raise InvalidOptionsError(
                f"class weights: {item!r} is not NAME=WEIGHT; write them as top=1.0,dress=0.1"
            )
        if name in weights:
            raise InvalidOptionsError(f"class weights: {name!r} is given twice")
        weights[name] = weight
    return weights


def validate_options(options: WeightOptions) -> None:
    """Raises InvalidOptionsError for any option that cannot be used."""
    if options.method not in METHODS:
        raise InvalidOptionsError(
            f"unknown weighting method {options.method!r}; choose one of: {', '.join(METHODS)}"
        )
    if not is_number(options.beta) or not 0.0 <= options.beta < 1.0:
        raise InvalidOptionsError(
            f"beta must be a number in [0, 1) (0: uniform weights, towards 1: inverse "
            f"frequency; the paper uses 0.9-0.9999), got {options.beta!r}"
        )
    if not is_number(options.rfs_threshold) or not 0.0 < options.rfs_threshold <= 1.0:
        raise InvalidOptionsError(
            f"rfs_threshold must be a number in (0, 1] (the fraction of images below which "
            f"a class is oversampled; LVIS uses 0.001), got {options.rfs_threshold!r}"
        )
    _validate_scale(options)
    if not isinstance(options.class_weights, Mapping):
        raise InvalidOptionsError(
            f"class weights must be a mapping of class name to weight, got "
            f"{options.class_weights!r} (parse_class_weights reads 'top=1.0,dress=0.1')"
        )
    bad = {
        name: weight
        for name, weight in options.class_weights.items()
        if not is_number(weight) or weight <= 0
    }
    if bad:
        raise InvalidOptionsError(
            "class weights must be positive numbers (a weight of 0 stops the OD API from "
            "matching the class's boxes at all; remove the class from the label map instead), "
            f"got: {', '.join(f'{name}={weight!r}' for name, weight in sorted(bad.items()))}"
        )
    if options.method != MANUAL:
        low = -math.inf if options.min_weight is None else options.min_weight
        high = math.inf if options.max_weight is None else options.max_weight
        outside = {name: w for name, w in options.class_weights.items() if not low <= w <= high}
        if outside:
            raise InvalidOptionsError(
                f"with method {options.method!r} class weights override final weights, which "
                f"min_weight and max_weight bound to [{options.min_weight}, "
                f"{options.max_weight}]; got: "
                + ", ".join(f"{name}={w!r}" for name, w in sorted(outside.items()))
            )
    if options.default_weight is not None:
        if options.method != MANUAL:
            raise InvalidOptionsError(
                f"default_weight applies to method 'manual' only (method is {options.method!r}); "
                "drop it or use method 'manual'"
            )
        if not is_number(options.default_weight) or options.default_weight <= 0:
            raise InvalidOptionsError(
                f"default_weight must be a positive number, got {options.default_weight!r}"
            )
    if options.method == MANUAL and not options.class_weights and options.default_weight is None:
        raise InvalidOptionsError(
            "method 'manual' needs class weights (e.g. top=1.0,dress=0.1) or a default weight"
        )


def _validate_scale(options: WeightOptions) -> None:
    """normalize, min_weight and max_weight: known, positive, and able to give a mean of 1."""
    if options.normalize is not None and options.normalize not in NORMALIZE_MODES:
        raise InvalidOptionsError(
            f"unknown normalize {options.normalize!r}; choose one of: "
            f"{', '.join(NORMALIZE_MODES)} (mean: box-weighted mean weight 1, max: largest "
            "weight 1, none: raw weights)"
        )
    for name in ("min_weight", "max_weight"):
        value = getattr(options, name)
        if value is not None and (not is_number(value) or value <= 0):
            raise InvalidOptionsError(
                f"{name} must be a positive number (a weight is any finite number > 0), "
                f"got {value!r}"
            )
    low, high = options.min_weight, options.max_weight
    if low is not None and high is not None and low > high:
        raise InvalidOptionsError(
            f"min_weight {low} is above max_weight {high}: no weight can lie between them"
        )
    if options.scale == NORMALIZE_MEAN:
        if high is not None and high < 1.0:
            raise InvalidOptionsError(
                f"max_weight {high} is below 1, so every weight would be below 1 and the "
                "box-weighted mean (normalize mean) could not be 1; give a max_weight of at "
                "least 1, or choose normalize max or none"
            )
        if low is not None and low > 1.0:
            raise InvalidOptionsError(
                f"min_weight {low} is above 1, so every weight would be above 1 and the "
                "box-weighted mean (normalize mean) could not be 1; give a min_weight of at "
                "most 1, or choose normalize max or none"
            )


def compute(
    counts: Sequence[ClassCount], num_images: int, options: WeightOptions
) -> list[ClassWeight]:
    """Weights and repeat factors for every class, in the order of `counts`."""
    _check_counts(counts, num_images)
    names = [count.name for count in counts]
    unknown = sorted(set(options.class_weights) - set(names))
    if unknown:
        raise InvalidOptionsError(
            f"class weights name classes that are not in the label map: {', '.join(unknown)}; "
            f"label map classes: {', '.join(names)}"
        )
    if options.method == MANUAL:
        raw = _manual_raw_weights(names, options)
        overrides: Mapping[str, float] = {}
    else:
        raw = _computed_raw_weights(counts, options)
        overrides = options.class_weights
    largest = max((w for w in raw.values() if w is not None), default=None)
    scale = _scale(counts, raw, overrides, options)
    results = []
    for count in counts:
        flags = set()
        raw_weight = raw[count.name]
        if count.objects == 0:
            flags.add(FLAG_UNSEEN)
        if options.method == MANUAL and count.name not in options.class_weights:
            flags.add(FLAG_DEFAULT_WEIGHT)
        if count.name in overrides:
            weight = float(overrides[count.name])
            flags.add(FLAG_OVERRIDE)
        elif largest is None:  # no class has objects: nothing to weigh against
            weight = 1.0
        else:
            # An unseen class of a computed method weighs as much as the rarest class.
            weight = scale * (largest if raw_weight is None else raw_weight)
            weight, bound_flag = _bounded(weight, options.min_weight, options.max_weight)
            flags.update(bound_flag)
        results.append(
            ClassWeight(
                name=count.name,
                id=count.id,
                objects=count.objects,
                images=count.images,
                objects_in_images_with_class=count.objects_in_images_with_class,
                raw_weight=raw_weight,
                weight=weight,
                repeat_factor=repeat_factor(count.images, num_images, options.rfs_threshold),
                flags=tuple(sorted(flags)),
            )
        )
    return results


def mean_box_weight(results: Sequence[ClassWeight]) -> float | None:
    """The box-weighted mean of the final weights, sum_c n_c w_c / N; None without boxes."""
    total = sum(result.objects for result in results)
    if total == 0:
        return None
    return math.fsum(result.objects * result.weight for result in results) / total


def _bounded(weight: float, low: float | None, high: float | None) -> tuple[float, tuple[str, ...]]:
    """The weight within [low, high] (None: unbounded), and the flag if it was moved."""
    if low is not None and weight < low:
        return low, (FLAG_FLOORED,)
    if high is not None and weight > high:
        return high, (FLAG_CAPPED,)
    return weight, ()


def _scale(
    counts: Sequence[ClassCount],
    raw: Mapping[str, float | None],
    overrides: Mapping[str, float],
    options: WeightOptions,
) -> float:
    """The factor from raw to final weights (before the bounds) that `options.scale` asks for."""
    values = [weight for weight in raw.values() if weight is not None]
    if options.scale == NORMALIZE_NONE or not values:
        return 1.0
    if options.scale == NORMALIZE_MAX:
        return 1.0 / max(values)
    total = sum(count.objects for count in counts)
    if total == 0:  # no boxes: the mean is undefined and nothing is trained on these weights
        return 1.0
    fixed = math.fsum(
        count.objects * overrides[count.name] for count in counts if count.name in overrides
    )
    free = [
        (count.objects, raw[count.name])
        for count in counts
        if count.objects > 0 and count.name not in overrides
    ]
    if not free:
        if abs(fixed - total) > _MEAN_TOLERANCE * total:
            raise InvalidOptionsError(
                f"class weights override every class with objects, and their box-weighted "
                f"mean is {fixed / total:.6g}, not 1 as normalize mean requires; leave a "
                "class to the method, or choose normalize max or none"
            )
        return 1.0 / max(values)
    if fixed >= total:
        raise InvalidOptionsError(
            f"the overridden classes ({', '.join(sorted(overrides))}) alone add {fixed:.6g} "
            f"to the weights of the split's {total} boxes, and a box-weighted mean of 1 "
            f"(normalize mean) allows {total} for all of them; lower the overrides, or "
            "choose normalize max or none"
        )
    try:
        return solve_scale(free, total - fixed, options.min_weight, options.max_weight)
    except InvalidOptionsError as error:
        if not overrides:
            raise
        raise InvalidOptionsError(
            f"the overridden classes ({', '.join(sorted(overrides))}) add {fixed:.6g} to the "
            f"{total} boxes' weights, so {error}"
        ) from None


def solve_scale(
    free: Sequence[tuple[int, float]], target: float, low: float | None, high: float | None
) -> float:
    """The scale s > 0 with sum n * clamp(s * r, low, high) = target over (n, r) in `free`.

    The sum is continuous, piecewise linear and non-decreasing in s, with a kink
    wherever a class reaches a bound (s = low / r or high / r). Walking those
    breakpoints in order finds the piece that holds the target; on it the sum is
    clamped + s * slope, solved exactly for s.
    """
    low_value = 0.0 if low is None else low
    high_value = math.inf if high is None else high
    least = math.fsum(n * low_value for n, _ in free)  # every class floored (s -> 0)
    most = math.fsum(n * high_value for n, _ in free)  # every class capped (s -> inf)
    if (
        target <= 0
        or target < least * (1 - _MEAN_TOLERANCE)
        or target > most * (1 + _MEAN_TOLERANCE)
    ):
        raise InvalidOptionsError(
            f"the classes' weights must add up to {target:.6g} over their "
            f"{sum(n for n, _ in free)} boxes for a box-weighted mean of 1, but "
            f"min_weight {low} and max_weight {high} keep that sum within "
            f"[{least:.6g}, {most:.6g}]; widen the bounds or choose normalize max or none"
        )
    if target <= least:  # every class at min_weight
        return min(low_value / r for _, r in free)
    if target >= most:  # every class at max_weight
        return max(high_value / r for _, r in free)
    leaves_floor, reaches_cap = 0, 1
    events = sorted(
        [(low_value / r, leaves_floor, n, r) for n, r in free if low_value > 0]
        + [(high_value / r, reaches_cap, n, r) for n, r in free if high_value < math.inf]
    )
    clamped = least
    slope = 0.0 if low_value > 0 else math.fsum(n * r for n, r in free)
    scale = None
    for breakpoint, event, n, r in events:
        if slope > 0 and (target - clamped) / slope <= breakpoint:
            scale = (target - clamped) / slope
            break
        if event == leaves_floor:
            clamped -= n * low_value
            slope += n * r
        else:
            clamped += n * high_value
            slope -= n * r
    if scale is None:
        scale = (target - clamped) / slope
    # Once more with exact sums over the piece found, free of the running sums' rounding.
    linear = [(n, r) for n, r in free if low_value < scale * r < high_value]
    clamped = math.fsum(
        n * (low_value if scale * r <= low_value else high_value)
        for n, r in free
        if not low_value < scale * r < high_value
    )
    if linear:
        scale = (target - clamped) / math.fsum(n * r for n, r in linear)
    return scale


def repeat_factor(images_with_class: int, num_images: int, threshold: float) -> float:
    """LVIS repeat factor r_c = max(1, sqrt(t / f_c)), f_c = m_c / M; 1 if no image has c."""
    if images_with_class == 0:
        return 1.0
    return max(1.0, math.sqrt(threshold * num_images / images_with_class))


def weight_ratio(results: Sequence[ClassWeight]) -> float:
    """Largest over smallest final weight (1.0: all classes weigh the same)."""
    weights = [result.weight for result in results]
    return max(weights) / min(weights)


def _check_counts(counts: Sequence[ClassCount], num_images: int) -> None:
    if not counts:
        raise BadInputError("no classes to weight: the label map is empty")
    total_objects = sum(count.objects for count in counts)
    for count in counts:
        if min(count.objects, count.images, count.objects_in_images_with_class) < 0:
            raise BadInputError(f"class {count.name!r} has a negative count: {count}")
        if (count.objects == 0) != (count.images == 0) or count.images > count.objects:
            raise BadInputError(
                f"class {count.name!r}: {count.objects} objects in {count.images} images is "
                "impossible (every image that contains a class holds at least one of its "
                "objects); the statistics do not match the data, rerun StatisticsGen"
            )
        if count.images > num_images:
            raise BadInputError(
                f"class {count.name!r} is in {count.images} images but the split has only "
                f"{num_images}; the statistics do not match the data, rerun StatisticsGen"
            )
        if not (
            count.objects <= count.objects_in_images_with_class <= total_objects
            and (count.objects == 0) == (count.objects_in_images_with_class == 0)
        ):
            raise BadInputError(
                f"class {count.name!r}: {count.objects} objects and "
                f"{count.objects_in_images_with_class} objects in the images containing it "
                f"(of {total_objects} objects in all) is impossible; the statistics do not "
                "match the data, rerun StatisticsGen"
            )


def _manual_raw_weights(names: Sequence[str], options: WeightOptions) -> dict[str, float]:
    missing = [name for name in names if name not in options.class_weights]
    if missing and options.default_weight is None:
        raise InvalidOptionsError(
            f"method 'manual' has no weight for {len(missing)} label map classes: "
            f"{', '.join(missing)}; give each a weight or set a default weight"
        )
    return {name: float(options.class_weights.get(name, options.default_weight)) for name in names}


def _computed_raw_weights(
    counts: Sequence[ClassCount], options: WeightOptions
) -> dict[str, float | None]:
    """Raw weights of the classes with objects; None for the others (unseen)."""
    seen = [count for count in counts if count.objects > 0]
    raw: dict[str, float | None] = {count.name: None for count in counts}
    if not seen:
        return raw
    total_objects = sum(count.objects for count in seen)
    method = options.method
    if method == INVERSE_FREQUENCY:
        values = [1.0 / c.objects for c in seen]
    elif method == INVERSE_SQRT_FREQUENCY:
        values = [1.0 / math.sqrt(c.objects) for c in seen]
    elif method == BALANCED:
        # scikit-learn's compute_class_weight('balanced'): K counts the classes present.
        values = [total_objects / (len(seen) * c.objects) for c in seen]
    elif method == EFFECTIVE_NUMBER:
        values = [effective_number_weight(c.objects, options.beta) for c in seen]
    elif method in (MEDIAN_FREQUENCY, MEDIAN_FREQUENCY_GLOBAL):
        if method == MEDIAN_FREQUENCY:
            # Eigen & Fergus: f_c = n_c / D_c, the objects of c over all objects of
            # the images that contain c (chainercv's calc_weight.py counts pixels).
            frequencies = [c.objects / c.objects_in_images_with_class for c in seen]
        else:
            frequencies = [c.objects / total_objects for c in seen]
        median = statistics.median(frequencies)
        values = [median / f for f in frequencies]
    else:  # validate_options has refused anything else
        raise AssertionError(method)
    raw.update({c.name: value for c, value in zip(seen, values, strict=True)})
    return raw


def effective_number_weight(objects: int, beta: float) -> float:
    """(1 - b) / (1 - b^n) of Cui et al. 2019, computed without cancellation near b = 1."""
    if beta == 0.0:
        return 1.0
    log_beta = math.log(beta)
    return math.expm1(log_beta) / math.expm1(objects * log_beta)
