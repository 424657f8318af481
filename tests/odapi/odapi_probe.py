"""Runs the OD API on an export in a process of its own and writes what it saw as JSON.

The OD API needs tf.keras to be tf_keras (odweights.odapi_training.install_tf216_shims),
which TensorFlow fixes per process at the first use of tf.keras; the pytest
worker that runs this file's test may already have used Keras 3. So
tests/odapi/test_odapi_training.py runs this script with `python odapi_probe.py
EXPORT_DIR WORK_DIR` and checks the JSON it writes to WORK_DIR/probe.json.
"""

import glob
import json
import os
import sys
import time

from odweights import odapi_training

TRAIN_STEPS = 3
CLAMP_BATCH_SIZE = 4
SEED = 0


def _record_weights(configs):
    """{source_id: box weights} read straight from the training split's records."""
    import tensorflow as tf

    from odweights import features

    paths = sorted(
        path
        for pattern in configs["train_input_config"].tf_record_input_reader.input_path
        for path in glob.glob(pattern)
    )
    weights = {}
    for record in tf.data.TFRecordDataset(paths):
        example = tf.train.Example.FromString(record.numpy())
        feature = example.features.feature
        source_id = feature[features.SOURCE_ID].bytes_list.value[0].decode("utf-8")
        weights[source_id] = list(feature[features.WEIGHT].float_list.value)
    return weights, paths


def _decoded_weights(configs, model):
    """{source_id: groundtruth_weights} as the OD API's train_input decodes them."""
    from object_detection.core import standard_fields as fields

    configs["train_input_config"].include_source_id = True
    decoded = {}
    for features, labels in odapi_training.train_split_batches(configs, model, batch_size=1):
        count = int(labels[fields.InputDataFields.num_groundtruth_boxes][0])
        source_id = features[fields.InputDataFields.source_id][0].numpy().decode("utf-8")
        decoded[source_id] = [
            float(weight)
            for weight in labels[fields.InputDataFields.groundtruth_weights][0][:count]
        ]
    return decoded


def main(export_dir, work_dir):
    odapi_training.install_tf216_shims()
    import tensorflow as tf
    from object_detection.core import standard_fields as fields

    result = {"train_steps": TRAIN_STEPS}
    config_path = odapi_training.write_pipeline_config(
        export_dir,
        os.path.join(work_dir, "pipeline.config"),
        batch_size=4,
        steps=TRAIN_STEPS,
        warmup_steps=1,
    )
    started = time.monotonic()
    odapi_training.train(config_path, os.path.join(work_dir, "model"), TRAIN_STEPS, seed=SEED)
    result["train_seconds"] = time.monotonic() - started
    result["losses"] = odapi_training.logged_losses(os.path.join(work_dir, "model"))

    configs = odapi_training.load_configs(config_path)
    tf.keras.utils.set_random_seed(SEED)
    model = odapi_training.build_model(configs, is_training=True)
    result["record_weights"], result["record_files"] = _record_weights(configs)
    result["decoded_weights"] = _decoded_weights(configs, model)

    batches = list(odapi_training.train_split_batches(configs, model, CLAMP_BATCH_SIZE))
    features, labels = batches[0]
    result["batch_loss_exported"] = odapi_training.batch_losses(model, features, labels)
    ones = dict(labels)
    weights_key = fields.InputDataFields.groundtruth_weights
    ones[weights_key] = tf.ones_like(labels[weights_key])
    result["batch_loss_ones"] = odapi_training.batch_losses(model, features, ones)
    result["matched_anchor_weight_sums"] = [
        odapi_training.matched_anchor_weight_sum(model, batch_features, batch_labels)
        for batch_features, batch_labels in batches
    ]
    with open(os.path.join(work_dir, "probe.json"), "w", encoding="utf-8") as out:
        json.dump(result, out, indent=1)


if __name__ == "__main__":
    main(*sys.argv[1:])
