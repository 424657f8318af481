"""WeightGen's executor: statistics + label map -> class_weights.json, a chart, MLMD facts."""

import json
import os
from typing import Any

import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import types
from tfx.components.example_validator import executor as example_validator_executor
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from odweights import class_weights_io
from odweights.components.weight_gen import chart, statistics_counts, weighting, weights_document
from odweights.errors import BadInputError
from odweights.label_map import LABEL_MAP_FILE, parse_label_map
from odweights.maker import record_maker

# Anomalies listed in an error message before "... and N more".
MAX_LISTED_ANOMALIES = 20


class Executor(base_executor.BaseExecutor):
    """Computes the weights of every label-map class from one split's statistics."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        record_maker(output_dict)
        anomalies = input_dict.get("anomalies") or []
        if anomalies:
            raise_on_anomalies(artifact_utils.get_single_instance(anomalies))

        options = weighting.WeightOptions(
            method=exec_properties["method"],
            beta=exec_properties["beta"],
            rfs_threshold=exec_properties["rfs_threshold"],
            min_weight=exec_properties.get("min_weight"),
            class_weights=json.loads(exec_properties["class_weights_json"]),
            default_weight=exec_properties.get("default_weight"),
            normalize=exec_properties.get("normalize"),
            max_weight=exec_properties.get("max_weight"),
        )
        split = exec_properties["split"]

        label_map_artifact = artifact_utils.get_single_instance(input_dict["label_map"])
        with tf.io.gfile.GFile(os.path.join(label_map_artifact.uri, LABEL_MAP_FILE)) as file:
            label_map = parse_label_map(file.read())

        stats_artifact = artifact_utils.get_single_instance(input_dict["statistics"])
        splits = artifact_utils.decode_split_names(stats_artifact.split_names)
        if split not in splits:
            raise BadInputError(
                f"the statistics have no split {split!r} to count classes in (they have: "
                f"{', '.join(splits)}); choose one of those with the weights' split option"
            )
        stats = statistics_counts.dataset_statistics(
            stats_artifact_utils.load_statistics(stats_artifact, split).proto()
        )
        num_images, counts = statistics_counts.class_counts(stats, label_map)
        results = weighting.compute(counts, num_images, options)

        document = weights_document.class_weights_document(options, split, num_images, results)
        png = chart.render_png(results, _chart_title(document))
        output = artifact_utils.get_single_instance(output_dict["class_weights"])
        class_weights_io.write_class_weights(output.uri, document, png)
        _record_properties(output, document, results)


def _chart_title(document: dict[str, Any]) -> str:
    mean = document["mean_box_weight"]
    return (
        f"class weights: method {document['method']}, normalize {document['normalize']}"
        f"{'' if mean is None else f' (box-weighted mean {mean:.4g})'}, split "
        f"{document['split']}, {document['num_images']} images, "
        f"{document['num_objects']} objects, {len(document['classes'])} classes"
    )


def _record_properties(
    artifact: types.Artifact, document: dict[str, Any], results: list[weighting.ClassWeight]
) -> None:
    """The facts of class_weights.json that people query in ML Metadata."""
    unseen = [result.name for result in results if weighting.FLAG_UNSEEN in result.flags]
    artifact.set_string_custom_property("method", document["method"])
    artifact.set_string_custom_property(
        "parameters", json.dumps(document["parameters"], sort_keys=True)
    )
    artifact.set_string_custom_property("split", document["split"])
    artifact.set_int_custom_property("num_classes", len(results))
    artifact.set_int_custom_property("num_images", document["num_images"])
    artifact.set_int_custom_property("num_objects", document["num_objects"])
    artifact.set_float_custom_property(
        "weight_ratio", class_weights_io.fixed_float(weighting.weight_ratio(results))
    )
    artifact.set_string_custom_property("unseen_classes", ",".join(unseen))
    artifact.set_string_custom_property("normalize", document["normalize"])
    for key in ("min_weight", "max_weight", "mean_box_weight"):
        if document[key] is not None:  # ML Metadata has no null: an unset bound is absent
            artifact.set_float_custom_property(key, document[key])


def raise_on_anomalies(anomalies_artifact: types.Artifact) -> None:
    """BadInputError listing every anomaly ExampleValidator found, in any split."""
    found = []
    for split in artifact_utils.decode_split_names(anomalies_artifact.split_names):
        path = os.path.join(
            artifact_utils.get_split_uri([anomalies_artifact], split),
            example_validator_executor.DEFAULT_FILE_NAME,
        )
        with tf.io.gfile.GFile(path, "rb") as file:
            anomalies = anomalies_pb2.Anomalies.FromString(file.read())
        for feature, info in sorted(anomalies.anomaly_info.items()):
            found.append(f"split {split}, feature {feature}: {info.description}")
        if anomalies.HasField("dataset_anomaly_info"):
            found.append(f"split {split}, dataset: {anomalies.dataset_anomaly_info.description}")
    if found:
        listed = found[:MAX_LISTED_ANOMALIES]
        if len(found) > len(listed):
            listed.append(f"... and {len(found) - len(listed)} more")
        raise BadInputError(
            "ExampleValidator found anomalies, which stop the run; fix the data (or the "
            f"schema) and run again: {len(found)} anomalies:\n  " + "\n  ".join(listed)
        )
