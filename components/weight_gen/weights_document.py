"""WeightGen's content of class_weights.json, built from the computed weights.

The file format itself (names, rounding, writing, reading) is shared with the
components that read the weights, so it lives in `odweights.class_weights_io`.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from odweights.class_weights_io import fixed_float
from odweights.components.weight_gen.weighting import ClassWeight, WeightOptions, mean_box_weight


def _fixed_parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    fixed: dict[str, Any] = {}
    for key, value in parameters.items():
        if isinstance(value, Mapping):
            fixed[key] = _fixed_parameters(value)
        elif isinstance(value, float):
            fixed[key] = fixed_float(value)
        else:
            fixed[key] = value
    return fixed


def class_weights_document(
    options: WeightOptions, split: str, num_images: int, results: Sequence[ClassWeight]
) -> dict[str, Any]:
    """The content of class_weights.json: classes in label-map id order.

    `normalize` is the scale that applied (the method's default if none was
    chosen); `mean_box_weight` is the box-weighted mean of the final weights
    over the split, from the counts (null without boxes).
    """
    return {
        "method": options.method,
        "parameters": _fixed_parameters(options.parameters()),
        "normalize": options.scale,
        "min_weight": fixed_float(options.min_weight),
        "max_weight": fixed_float(options.max_weight),
        "mean_box_weight": fixed_float(mean_box_weight(results)),
        "split": split,
        "num_images": num_images,
        "num_objects": sum(result.objects for result in results),
        "classes": [
            {
                "name": result.name,
                "id": result.id,
                "objects": result.objects,
                "images": result.images,
                "objects_in_images_with_class": result.objects_in_images_with_class,
                "raw_weight": fixed_float(result.raw_weight),
                "weight": fixed_float(result.weight),
                "repeat_factor": fixed_float(result.repeat_factor),
                "flags": list(result.flags),
            }
            for result in sorted(results, key=lambda result: result.id)
        ],
    }
