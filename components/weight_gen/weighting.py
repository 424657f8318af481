"""Class weights and repeat factors from per-class counts: the pure math.

Formulas, worked examples and references: docs/weights.md. Counts per class:
`objects` (n_c, boxes of the class), `images` (m_c, images containing it),
`objects_in_images_with_class` (D_c, all boxes of the images containing it);
`num_images` (M) is the number of images of the split. Raw weights follow
the chosen method; the weight written to boxes is `raw / max(raw)`, in (0, 1]
as the OD API expects (optionally floored at `min_weight`).
"""

import dataclasses
import math
import statistics
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from odweights.errors import BadInputError, InvalidOptionsError

MANUAL = "manual"
INVERSE_FREQUENCY = "inverse_frequency"
INVERSE_SQRT_FREQUENCY = "inverse_sqrt_frequency"
BALANCED = "balanced"
EFFECTIVE_NUMBER = "effective_number"
MEDIAN_FREQUENCY = "median_frequency"
MEDIAN_FREQUENCY_GLOBAL = "median_frequency_global"

METHODS = (MANUAL, INVERSE_FREQUENCY, INVERSE_SQRT_FREQUENCY, BALANCED,
           EFFECTIVE_NUMBER, MEDIAN_FREQUENCY, MEDIAN_FREQUENCY_GLOBAL)

DEFAULT_METHOD = EFFECTIVE_NUMBER
DEFAULT_BETA = 0.999
DEFAULT_RFS_THRESHOLD = 0.001

# Flags a class can carry in the result.
FLAG_UNSEEN = "unseen"            # no objects in the split: weight 1.0 (computed methods)
FLAG_FLOORED = "floored"          # weight raised to min_weight
FLAG_OVERRIDE = "override"        # weight given by the user on top of a computed method
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
    min_weight: Optional[float] = None
    class_weights: Mapping[str, float] = dataclasses.field(default_factory=dict)
    default_weight: Optional[float] = None

    def __post_init__(self):
        validate_options(self)

    def parameters(self) -> Dict[str, object]:
        """The parameters that apply to the method, for reports and metadata."""
        parameters: Dict[str, object] = {
            "rfs_threshold": self.rfs_threshold,
            "min_weight": self.min_weight,
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
    raw_weight: Optional[float]
    weight: float
    repeat_factor: float
    flags: Tuple[str, ...]


def is_number(value) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def parse_class_weights(text: str) -> Dict[str, float]:
    """{name: weight} from the command-line form `top=1.0,dress=0.1`."""
    weights: Dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, separator, value = item.rpartition("=")
        name = name.strip()
        try:
            weight = float(value)
        except ValueError:
            weight = None
        if not separator or not name or weight is None:
            raise InvalidOptionsError(
                f"class weights: {item!r} is not NAME=WEIGHT; write them as top=1.0,dress=0.1")
        if name in weights:
            raise InvalidOptionsError(f"class weights: {name!r} is given twice")
        weights[name] = weight
    return weights


def validate_options(options: WeightOptions) -> None:
    """Raises InvalidOptionsError for any option that cannot be used."""
    if options.method not in METHODS:
        raise InvalidOptionsError(
            f"unknown weighting method {options.method!r}; choose one of: {', '.join(METHODS)}")
    if not is_number(options.beta) or not 0.0 <= options.beta < 1.0:
        raise InvalidOptionsError(
            f"beta must be a number in [0, 1) (0: uniform weights, towards 1: inverse "
            f"frequency; the paper uses 0.9-0.9999), got {options.beta!r}")
    if not is_number(options.rfs_threshold) or not 0.0 < options.rfs_threshold <= 1.0:
        raise InvalidOptionsError(
            f"rfs_threshold must be a number in (0, 1] (the fraction of images below which "
            f"a class is oversampled; LVIS uses 0.001), got {options.rfs_threshold!r}")
    if options.min_weight is not None and (
            not is_number(options.min_weight) or not 0.0 < options.min_weight <= 1.0):
        raise InvalidOptionsError(
            f"min_weight must be a number in (0, 1] (final weights lie in (0, 1]), "
            f"got {options.min_weight!r}")
    if not isinstance(options.class_weights, Mapping):
        raise InvalidOptionsError(
            f"class weights must be a mapping of class name to weight, got "
            f"{options.class_weights!r} (parse_class_weights reads 'top=1.0,dress=0.1')")
    bad = {name: weight for name, weight in options.class_weights.items()
           if not is_number(weight) or weight <= 0}
    if bad:
        raise InvalidOptionsError(
            "class weights must be positive numbers (a weight of 0 stops the OD API from "
            "matching the class's boxes at all; remove the class from the label map instead), "
            f"got: {', '.join(f'{name}={weight!r}' for name, weight in sorted(bad.items()))}")
    if options.method != MANUAL:
        too_big = {name: w for name, w in options.class_weights.items() if w > 1.0}
        if too_big:
            raise InvalidOptionsError(
                f"with method {options.method!r} class weights override final weights, which "
                "lie in (0, 1]; got: "
                + ", ".join(f"{name}={w!r}" for name, w in sorted(too_big.items())))
    if options.default_weight is not None:
        if options.method != MANUAL:
            raise InvalidOptionsError(
                f"default_weight applies to method 'manual' only (method is {options.method!r}); "
                "drop it or use method 'manual'")
        if not is_number(options.default_weight) or options.default_weight <= 0:
            raise InvalidOptionsError(
                f"default_weight must be a positive number, got {options.default_weight!r}")
    if options.method == MANUAL and not options.class_weights and options.default_weight is None:
        raise InvalidOptionsError(
            "method 'manual' needs class weights (e.g. top=1.0,dress=0.1) or a default weight")


def compute(counts: Sequence[ClassCount], num_images: int,
            options: WeightOptions) -> List[ClassWeight]:
    """Weights and repeat factors for every class, in the order of `counts`."""
    _check_counts(counts, num_images)
    names = [count.name for count in counts]
    unknown = sorted(set(options.class_weights) - set(names))
    if unknown:
        raise InvalidOptionsError(
            f"class weights name classes that are not in the label map: {', '.join(unknown)}; "
            f"label map classes: {', '.join(names)}")
    if options.method == MANUAL:
        raw = _manual_raw_weights(names, options)
    else:
        raw = _computed_raw_weights(counts, options)
    largest = max((w for w in raw.values() if w is not None), default=None)
    results = []
    for count in counts:
        flags = set()
        raw_weight = raw[count.name]
        if count.objects == 0:
            flags.add(FLAG_UNSEEN)
        if options.method == MANUAL and count.name not in options.class_weights:
            flags.add(FLAG_DEFAULT_WEIGHT)
        if raw_weight is None:
            weight = 1.0
        else:
            weight = raw_weight / largest
            if options.min_weight is not None and weight < options.min_weight:
                weight = options.min_weight
                flags.add(FLAG_FLOORED)
        if options.method != MANUAL and count.name in options.class_weights:
            weight = float(options.class_weights[count.name])
            flags.discard(FLAG_FLOORED)
            flags.add(FLAG_OVERRIDE)
        results.append(ClassWeight(
            name=count.name, id=count.id, objects=count.objects, images=count.images,
            objects_in_images_with_class=count.objects_in_images_with_class,
            raw_weight=raw_weight, weight=weight,
            repeat_factor=repeat_factor(count.images, num_images, options.rfs_threshold),
            flags=tuple(sorted(flags))))
    return results


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
                "objects); the statistics do not match the data, rerun StatisticsGen")
        if count.images > num_images:
            raise BadInputError(
                f"class {count.name!r} is in {count.images} images but the split has only "
                f"{num_images}; the statistics do not match the data, rerun StatisticsGen")
        if not (count.objects <= count.objects_in_images_with_class <= total_objects
                and (count.objects == 0) == (count.objects_in_images_with_class == 0)):
            raise BadInputError(
                f"class {count.name!r}: {count.objects} objects and "
                f"{count.objects_in_images_with_class} objects in the images containing it "
                f"(of {total_objects} objects in all) is impossible; the statistics do not "
                "match the data, rerun StatisticsGen")


def _manual_raw_weights(names: Sequence[str], options: WeightOptions) -> Dict[str, float]:
    missing = [name for name in names if name not in options.class_weights]
    if missing and options.default_weight is None:
        raise InvalidOptionsError(
            f"method 'manual' has no weight for {len(missing)} label map classes: "
            f"{', '.join(missing)}; give each a weight or set a default weight")
    return {name: float(options.class_weights.get(name, options.default_weight))
            for name in names}


def _computed_raw_weights(counts: Sequence[ClassCount],
                          options: WeightOptions) -> Dict[str, Optional[float]]:
    """Raw weights of the classes with objects; None for the others (unseen)."""
    seen = [count for count in counts if count.objects > 0]
    raw: Dict[str, Optional[float]] = {count.name: None for count in counts}
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
    raw.update({c.name: value for c, value in zip(seen, values)})
    return raw


def effective_number_weight(objects: int, beta: float) -> float:
    """(1 - b) / (1 - b^n) of Cui et al. 2019, computed without cancellation near b = 1."""
    if beta == 0.0:
        return 1.0
    log_beta = math.log(beta)
    return math.expm1(log_beta) / math.expm1(objects * log_beta)
