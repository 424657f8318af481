"""WeightGen in a real pipeline: VOC ExampleGen -> StatisticsGen -> OdApiSchemaGen ->
ExampleValidator -> WeightGen on LocalDagRunner, on generated VOC data with 25 classes
(more than TFDV's default 20 listed values)."""

import collections
import os

import pytest
from defusedxml import ElementTree
from ml_metadata.metadata_store import metadata_store
from tfx import v1 as tfx

from odweights.app import sample_data
from odweights.class_weights_io import CHART_FILE, load_class_weights
from odweights.components.od_schema_gen.component import OdApiSchemaGen
from odweights.components.voc_example_gen.component import VocExampleGen
from odweights.components.voc_example_gen.layout import voc_input_configs
from odweights.components.weight_gen.component import WeightGen
from odweights.components.weight_gen.statistics_counts import statistics_options
from odweights.label_map import format_label_map

NUM_CLASSES = 25
UNSEEN_CLASS = "zz_never_annotated"


def xml_counts(year_dir, split):
    """(images, {class: objects}, {class: images}, {class: objects in the images
    containing it}) read straight from the XML files."""
    with open(os.path.join(year_dir, "ImageSets", "Main", f"{split}.txt")) as file:
        ids = file.read().split()
    objects, images = collections.Counter(), collections.Counter()
    objects_in_images = collections.Counter()
    for image_id in ids:
        root = ElementTree.parse(os.path.join(year_dir, "Annotations", image_id + ".xml"))
        names = [obj.findtext("name").strip() for obj in root.iter("object")]
        objects.update(names)
        images.update(set(names))
        for name in set(names):
            objects_in_images[name] += len(names)
    return len(ids), objects, images, objects_in_images


def run_pipeline(tmp_dir, voc_dir, label_map_text, **weight_options):
    input_base, input_config, output_config = voc_input_configs(voc_dir, ("train", "val"))
    example_gen = VocExampleGen(
        input_base=input_base,
        input_config=input_config,
        output_config=output_config,
        label_map=label_map_text,
    )
    statistics_gen = tfx.components.StatisticsGen(
        examples=example_gen.outputs["examples"], stats_options=statistics_options()
    )
    schema_gen = OdApiSchemaGen(statistics=statistics_gen.outputs["statistics"])
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    weight_gen = WeightGen(
        statistics=statistics_gen.outputs["statistics"],
        label_map=example_gen.outputs["label_map"],
        anomalies=example_validator.outputs["anomalies"],
        **weight_options,
    )
    metadata_path = os.path.join(tmp_dir, "metadata.sqlite")
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="weight-gen-test",
        pipeline_root=os.path.join(tmp_dir, "root"),
        components=[example_gen, statistics_gen, schema_gen, example_validator, weight_gen],
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            metadata_path
        ),
    )
    tfx.orchestration.LocalDagRunner().run(pipeline)
    return metadata_store.MetadataStore(
        tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path)
    )


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory):
    tmp_dir = str(tmp_path_factory.mktemp("weight_gen_pipeline"))
    summary = sample_data.write_dataset(
        os.path.join(tmp_dir, "data"), num_images=60, seed=3, num_classes=NUM_CLASSES
    )
    names = summary.class_names + [UNSEEN_CLASS]
    label_map = {name: class_id for class_id, name in enumerate(sorted(names), start=1)}
    store = run_pipeline(
        tmp_dir,
        os.path.join(tmp_dir, "data", "VOCdevkit"),
        format_label_map(label_map),
        method="effective_number",
        beta=0.99,
    )
    return summary, label_map, store


def class_weights_artifacts(store):
    return store.get_artifacts_by_type("odweights.ClassWeights")


@pytest.mark.e2e
def test_counts_equal_the_counts_of_the_xml_files(pipeline_run):
    summary, label_map, store = pipeline_run
    [artifact] = class_weights_artifacts(store)
    document = load_class_weights(artifact.uri)
    num_images, objects, images, objects_in_images = xml_counts(summary.dataset_dir, "train")
    assert len(objects) > 20, "the data must have more classes than TFDV lists by default"
    assert document["split"] == "train"
    assert document["num_images"] == num_images
    assert document["num_objects"] == sum(objects.values())
    assert [c["name"] for c in document["classes"]] == sorted(label_map, key=label_map.get)
    assert [c["id"] for c in document["classes"]] == sorted(label_map.values())
    assert {c["name"]: c["objects"] for c in document["classes"]} == {
        name: objects.get(name, 0) for name in label_map
    }
    assert {c["name"]: c["images"] for c in document["classes"]} == {
        name: images.get(name, 0) for name in label_map
    }
    assert {c["name"]: c["objects_in_images_with_class"] for c in document["classes"]} == {
        name: objects_in_images.get(name, 0) for name in label_map
    }
    # The data must make D_c differ from n_c, or the check above proves little.
    assert any(objects_in_images[name] > objects[name] for name in objects)


@pytest.mark.e2e
def test_document_and_metadata_describe_the_weights(pipeline_run):
    _, label_map, store = pipeline_run
    [artifact] = class_weights_artifacts(store)
    document = load_class_weights(artifact.uri)
    assert document["method"] == "effective_number"
    assert document["parameters"] == {
        "beta": 0.99,
        "class_weights": {},
        "min_weight": None,
        "max_weight": None,
        "rfs_threshold": 0.001,
    }
    by_name = {c["name"]: c for c in document["classes"]}
    seen = [c for c in document["classes"] if c["objects"]]
    # The default scale: box-weighted mean 1 over the split, from the counts.
    assert document["normalize"] == "mean"
    assert document["mean_box_weight"] == pytest.approx(1.0, abs=1e-9)
    assert sum(c["objects"] * c["weight"] for c in seen) == pytest.approx(
        document["num_objects"], rel=1e-9
    )
    # The unseen class weighs as much as the rarest class.
    assert by_name[UNSEEN_CLASS]["weight"] == max(c["weight"] for c in seen)
    assert by_name[UNSEEN_CLASS]["flags"] == ["unseen"]
    assert all(c["weight"] > 0 and c["repeat_factor"] >= 1 for c in document["classes"])
    most_common = max(seen, key=lambda c: c["objects"])
    assert most_common["weight"] == min(c["weight"] for c in seen)

    properties = artifact.custom_properties
    assert properties["method"].string_value == "effective_number"
    assert properties["split"].string_value == "train"
    assert properties["num_classes"].int_value == len(label_map)
    assert properties["num_objects"].int_value == document["num_objects"]
    assert properties["num_images"].int_value == document["num_images"]
    assert properties["unseen_classes"].string_value == UNSEEN_CLASS
    assert properties["normalize"].string_value == "mean"
    assert properties["mean_box_weight"].double_value == document["mean_box_weight"]
    weights = [c["weight"] for c in document["classes"]]
    assert properties["weight_ratio"].double_value == pytest.approx(max(weights) / min(weights))
    assert '"beta": 0.99' in properties["parameters"].string_value
    with open(os.path.join(artifact.uri, CHART_FILE), "rb") as file:
        assert file.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.e2e
def test_the_od_api_schema_passes_example_validator_on_good_data(pipeline_run):
    _, _, store = pipeline_run
    [anomalies] = store.get_artifacts_by_type("ExampleAnomalies")
    blessed = anomalies.custom_properties["blessed"].struct_value
    assert dict(blessed) == {"train": 1.0, "val": 1.0}
    [schema] = store.get_artifacts_by_type("Schema")
    assert os.listdir(schema.uri) == ["schema.pbtxt"]
