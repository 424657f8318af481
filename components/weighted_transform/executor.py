"""WeightedTransform's executor: ClassWeights artifact -> custom_config -> TFX's Transform."""

import json
from typing import Any, Dict, List, Mapping, Optional

from tfx import types
from tfx.components.transform import executor as transform_executor
from tfx.types import artifact_utils, standard_component_specs

from odweights.components.weight_gen.class_weights_io import load_class_weights
from odweights.components.weighted_transform.preprocessing import CLASS_WEIGHTS_KEY
from odweights.errors import BadInputError


def weights_by_class(document: Mapping[str, Any]) -> Dict[str, float]:
    """{class name: final weight} of a class_weights.json document, checked."""
    weights = {}
    for entry in document.get("classes") or []:
        name, weight = entry["name"], entry["weight"]
        if not isinstance(weight, (int, float)) or not 0.0 <= weight <= 1.0:
            raise BadInputError(
                f"class_weights.json: class {name!r} has weight {weight!r}; the OD API "
                "needs weights in [0, 1]: recompute them with WeightGen")
        if name in weights:
            raise BadInputError(f"class_weights.json lists class {name!r} twice")
        weights[name] = float(weight)
    if not weights:
        raise BadInputError("class_weights.json lists no classes: recompute it with WeightGen")
    return weights


def custom_config_with_weights(custom_config_json: Optional[str],
                               weights: Mapping[str, float]) -> str:
    """The component's custom_config (JSON) with the weights added under 'class_weights'."""
    config = json.loads(custom_config_json) if custom_config_json else {}
    config = dict(config or {})
    config[CLASS_WEIGHTS_KEY] = dict(sorted(weights.items()))
    return json.dumps(config, sort_keys=True)


class Executor(transform_executor.Executor):
    """Reads the `class_weights` input, then runs TFX's Transform executor unchanged."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        class_weights_uri = artifact_utils.get_single_uri(input_dict[CLASS_WEIGHTS_KEY])
        weights = weights_by_class(load_class_weights(class_weights_uri))
        transform_properties = dict(exec_properties)
        transform_properties[standard_component_specs.CUSTOM_CONFIG_KEY] = (
            custom_config_with_weights(
                exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY), weights))
        transform_inputs = {key: artifacts for key, artifacts in input_dict.items()
                            if key != CLASS_WEIGHTS_KEY}
        super().Do(transform_inputs, output_dict, transform_properties)
