"""WeightGen's executor on real artifacts: anomalies from the real ExampleValidator
executor stop it, its files are deterministic, and a missing split is reported."""

import os

import pyarrow as pa
import pytest
from tensorflow_data_validation.statistics.stats_impl import generate_statistics_in_memory
from tfx.components.example_validator import executor as example_validator_executor
from tfx.types import artifact_utils, standard_artifacts

from odweights import features
from odweights.artifact_types import ClassWeights, LabelMap
from odweights.class_weights_io import CHART_FILE, CLASS_WEIGHTS_FILE, load_class_weights
from odweights.components.od_schema_gen.od_schema import infer_od_api_schema
from odweights.components.weight_gen import executor as weight_gen_executor
from odweights.components.weight_gen.statistics_counts import statistics_options
from odweights.errors import BadInputError
from odweights.label_map import LABEL_MAP_FILE, format_label_map

LABEL_MAP = {"cat": 1, "dog": 2, "bird": 3}


def split_statistics(boxes_per_image, xmax=0.9):
    """Statistics of images whose boxes are the given class names."""

    def column(values, value_type):
        return pa.array(values, type=pa.list_(value_type))

    batch = pa.RecordBatch.from_arrays(
        [
            column([[n.encode() for n in boxes] for boxes in boxes_per_image], pa.binary()),
            column(
                [[n.encode() for n in sorted(set(boxes))] for boxes in boxes_per_image], pa.binary()
            ),
            column(
                [
                    [n.encode() for n in sorted(set(boxes)) for _ in boxes]
                    for boxes in boxes_per_image
                ],
                pa.binary(),
            ),
            column([[0.1] * len(boxes) for boxes in boxes_per_image], pa.float32()),
            column([[xmax] * len(boxes) for boxes in boxes_per_image], pa.float32()),
        ],
        [
            features.CLASS_TEXT,
            features.CLASSES_IN_IMAGE,
            features.OBJECTS_IN_IMAGES_WITH_CLASS,
            features.BBOX_XMIN,
            features.BBOX_XMAX,
        ],
    )
    return generate_statistics_in_memory(batch, statistics_options())


TRAIN = [["cat", "cat", "dog"], ["cat"], ["cat", "bird"], []]


def statistics_artifact(directory, stats_by_split):
    artifact = standard_artifacts.ExampleStatistics()
    artifact.uri = directory
    artifact.split_names = artifact_utils.encode_split_names(list(stats_by_split))
    for split, stats in stats_by_split.items():
        os.makedirs(os.path.join(directory, f"Split-{split}"))
        with open(os.path.join(directory, f"Split-{split}", "FeatureStats.pb"), "wb") as file:
            file.write(stats.SerializeToString())
    return artifact


def label_map_artifact(directory):
    artifact = LabelMap()
    artifact.uri = directory
    os.makedirs(directory)
    with open(os.path.join(directory, LABEL_MAP_FILE), "w") as file:
        file.write(format_label_map(LABEL_MAP))
    return artifact


def run_weight_gen(tmp_path, name, inputs, **properties):
    output = ClassWeights()
    output.uri = str(tmp_path / name)
    exec_properties = dict(
        method="inverse_frequency",
        beta=0.999,
        rfs_threshold=0.5,
        class_weights_json="{}",
        split="train",
    )
    exec_properties.update(properties)
    weight_gen_executor.Executor().Do(inputs, {"class_weights": [output]}, exec_properties)
    return output


@pytest.fixture
def inputs(tmp_path):
    stats = {"train": split_statistics(TRAIN), "val": split_statistics([["dog"], ["cat"]])}
    return {
        "statistics": [statistics_artifact(str(tmp_path / "stats"), stats)],
        "label_map": [label_map_artifact(str(tmp_path / "label_map"))],
    }


def test_weights_of_the_train_split(tmp_path, inputs):
    output = run_weight_gen(tmp_path, "weights", inputs)
    document = load_class_weights(output.uri)
    assert document["num_images"] == 4 and document["num_objects"] == 6
    # raw 1/n: 0.25, 1, 1; box-weighted mean 1: s * (4 * 0.25 + 1 + 1) = 6, s = 2.
    assert [(c["name"], c["objects"], c["images"], c["weight"]) for c in document["classes"]] == [
        ("cat", 4, 3, 0.5),
        ("dog", 1, 1, 2.0),
        ("bird", 1, 1, 2.0),
    ]
    assert (document["normalize"], document["mean_box_weight"]) == ("mean", 1.0)
    assert (document["min_weight"], document["max_weight"]) == (None, None)
    assert output.get_string_custom_property("normalize") == "mean"
    assert output.get_float_custom_property("mean_box_weight") == 1.0
    assert not output.has_custom_property("max_weight")
    # r_c = max(1, sqrt(0.5 / (m_c / 4))): cat 1, dog and bird sqrt(2).
    assert [c["repeat_factor"] for c in document["classes"]] == [1.0, 1.41421356237, 1.41421356237]
    assert output.get_float_custom_property("weight_ratio") == 4.0
    # D_c, objects in the images containing c: cat 3 + 1 + 2, dog 3, bird 2.
    assert [c["objects_in_images_with_class"] for c in document["classes"]] == [6, 3, 2]


def test_median_frequency_divides_by_the_objects_of_the_images_containing_the_class(
    tmp_path, inputs
):
    # f_c = n_c / D_c: cat 4/6, dog 1/3, bird 1/2; median 1/2 -> raw 0.75, 1.5, 1.
    output = run_weight_gen(tmp_path, "weights", inputs, method="median_frequency", normalize="max")
    document = load_class_weights(output.uri)
    assert [(c["raw_weight"], c["weight"]) for c in document["classes"]] == [
        (0.75, 0.5),
        (1.5, 1.0),
        (1.0, 0.666666666667),
    ]


def test_a_capped_scale_is_recorded_in_the_file_and_in_ml_metadata(tmp_path, inputs):
    # dog and bird capped at 1.5 (3 of the 6); cat: 4 * 0.25 * s = 3, weight 0.75.
    output = run_weight_gen(tmp_path, "weights", inputs, max_weight=1.5, min_weight=0.1)
    document = load_class_weights(output.uri)
    assert [(c["weight"], c["flags"]) for c in document["classes"]] == [
        (0.75, []),
        (1.5, ["capped"]),
        (1.5, ["capped"]),
    ]
    assert (document["max_weight"], document["min_weight"]) == (1.5, 0.1)
    assert document["mean_box_weight"] == 1.0
    assert output.get_float_custom_property("max_weight") == 1.5
    assert output.get_float_custom_property("min_weight") == 0.1


def test_manual_weights_are_recorded_as_given(tmp_path, inputs):
    output = run_weight_gen(
        tmp_path,
        "weights",
        inputs,
        method="manual",
        class_weights_json='{"bird": 3.0, "cat": 0.5, "dog": 1.0}',
    )
    document = load_class_weights(output.uri)
    assert [c["weight"] for c in document["classes"]] == [0.5, 1.0, 3.0]
    # (4 * 0.5 + 1 + 3) / 6
    assert (document["normalize"], document["mean_box_weight"]) == ("none", 1.0)
    output = run_weight_gen(
        tmp_path,
        "again",
        inputs,
        method="manual",
        class_weights_json='{"bird": 3.0, "cat": 0.25, "dog": 1.0}',
    )
    assert load_class_weights(output.uri)["mean_box_weight"] == pytest.approx(5 / 6)


def test_same_inputs_give_byte_identical_files(tmp_path, inputs):
    first = run_weight_gen(tmp_path, "first", inputs)
    second = run_weight_gen(tmp_path, "second", inputs)
    for name in (CLASS_WEIGHTS_FILE, CHART_FILE):
        with (
            open(os.path.join(first.uri, name), "rb") as a,
            open(os.path.join(second.uri, name), "rb") as b,
        ):
            assert a.read() == b.read(), name


def test_a_split_missing_from_the_statistics_is_reported(tmp_path, inputs):
    with pytest.raises(BadInputError, match=r"no split 'test'.*\(they have: train, val\)"):
        run_weight_gen(tmp_path, "weights", inputs, split="test")


def test_anomalies_found_by_example_validator_stop_the_run(tmp_path, inputs):
    good = split_statistics(TRAIN)
    schema = infer_od_api_schema([good])
    schema_artifact = standard_artifacts.Schema()
    schema_artifact.uri = str(tmp_path / "schema")
    os.makedirs(schema_artifact.uri)
    with open(os.path.join(schema_artifact.uri, "schema.pbtxt"), "w") as file:
        file.write(str(schema))
    stats = statistics_artifact(
        str(tmp_path / "bad_stats"), {"train": good, "val": split_statistics([["dog"]], xmax=1.5)}
    )
    anomalies = standard_artifacts.ExampleAnomalies()
    anomalies.uri = str(tmp_path / "anomalies")
    example_validator_executor.Executor().Do(
        {"statistics": [stats], "schema": [schema_artifact]},
        {"anomalies": [anomalies]},
        {"exclude_splits": "[]"},
    )

    with pytest.raises(BadInputError) as error:
        run_weight_gen(tmp_path, "weights", dict(inputs, anomalies=[anomalies]))
    message = str(error.value)
    assert "anomalies, which stop the run" in message
    assert "split val, feature image/object/bbox/xmax: Unexpectedly high value" in message
    assert "split train" not in message
    assert not os.path.exists(tmp_path / "weights" / CLASS_WEIGHTS_FILE)
