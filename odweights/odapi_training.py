"""Train the TF Object Detection API's own SSD on an odweights export.

The OD API (research/object_detection, from requirements-odapi.lock) is not part
of the production install; this module imports it only inside its functions.
`install_tf216_shims` makes it import and run on the TF 2.16 stack; the other
functions build a small SSD `pipeline.config` around an export's
`input_reader.config`, run `model_lib_v2.train_loop` (the loop of
`model_main_tf2.py`) and look at what the OD API's loss and evaluator make of
the weights. The tests (tests/odapi/) and benchmarks/training_impact.py use it;
see docs/training.md.
"""

import glob
import math
import os
import sys
import types
from collections.abc import Iterator

from odweights import fileio
from odweights.artifact_files import INPUT_READER_FILE
from odweights.label_map import LABEL_MAP_FILE, parse_label_map


def install_tf216_shims() -> None:
    """Lets the OD API import and train on TF 2.16; call before importing it.

    1. The OD API is Keras 2 code: TF_USE_LEGACY_KERAS=1 makes tf.keras the
       tf_keras package. TensorFlow reads it when tf.keras is first used, so
       call this before anything in the process touches tf.keras.
    2. tf-slim's decoder calls control_flow_ops.case/cond, gone in TF 2.16.
    3. inputs.py and model_lib.py import tf.compat.v1.estimator at module
       level, and tensorflow_estimator no longer imports: the TF2 loop only
       needs its ModeKeys.
    4. Speed: autograph skips `keras` but not `tf_keras`, so the first train
       step re-converted all of tf_keras (about 250 s instead of 55 s).
    5. The OD API's AP code uses np.float and np.bool, removed from numpy.
    """
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import numpy as np
    import tensorflow as tf
    from tensorflow.python.autograph.core import config as autograph_config
    from tensorflow.python.ops import control_flow_ops
    from tensorflow.python.saved_model.model_utils import mode_keys

    if not tf.keras.__name__.startswith("tf_keras"):
        raise RuntimeError(
            f"tf.keras is already {tf.keras.__name__} in this process; the OD API needs "
            "tf_keras: call install_tf216_shims() before anything uses tf.keras "
            "(or run with TF_USE_LEGACY_KERAS=1)"
        )
    for name, builtin in (("float", float), ("bool", bool)):
        if not hasattr(np, name):
            setattr(np, name, builtin)
    if not hasattr(control_flow_ops, "case"):
        control_flow_ops.case = tf.compat.v1.case
    if not hasattr(control_flow_ops, "cond"):
        control_flow_ops.cond = tf.compat.v1.cond
    if "tensorflow.compat.v1.estimator" not in sys.modules:
        estimator = types.ModuleType("tensorflow.compat.v1.estimator")
        estimator.ModeKeys = mode_keys.EstimatorModeKeys
        sys.modules["tensorflow.compat.v1.estimator"] = estimator
    skip_tf_keras = autograph_config.DoNotConvert("tf_keras")
    if skip_tf_keras not in autograph_config.CONVERSION_RULES:
        autograph_config.CONVERSION_RULES = (skip_tf_keras,) + tuple(
            autograph_config.CONVERSION_RULES
        )


def categories(export_dir: str) -> list[dict]:
    """An export's label map as the OD API's category list ({'id', 'name'}), by id."""
    text = fileio.read_bytes(os.path.join(export_dir, LABEL_MAP_FILE)).decode("utf-8")
    return [
        {"id": class_id, "name": name}
        for name, class_id in sorted(parse_label_map(text).items(), key=lambda item: item[1])
    ]


def ssd_pipeline_config(
    input_readers: str,
    classes: int,
    batch_size: int = 8,
    steps: int = 1000,
    learning_rate: float = 0.04,
    warmup_steps: int = 100,
    image_size: int = 128,
    depth_multiplier: float = 0.35,
) -> str:
    """A pipeline.config: small SSD MobileNetV2 from random initialisation.

    `input_readers` is an export's input_reader.config, pasted in as it is.
    The model follows the model zoo's SSD MobileNetV2 (focal loss, losses
    divided by the matched anchors' weights) at a CPU-sized input, with the
    zoo's warm-up + cosine learning rate. No checkpoint: random init.
    """
    return f"""model {{
  ssd {{
    num_classes: {classes}
    image_resizer {{ fixed_shape_resizer {{ height: {image_size} width: {image_size} }} }}
    feature_extractor {{
      type: "ssd_mobilenet_v2_keras"
      depth_multiplier: {depth_multiplier}
      min_depth: 16
      conv_hyperparams {{
        regularizer {{ l2_regularizer {{ weight: 0.00004 }} }}
        initializer {{ truncated_normal_initializer {{ mean: 0.0 stddev: 0.03 }} }}
        activation: RELU_6
        batch_norm {{ decay: 0.97 center: true scale: true epsilon: 0.001 train: true }}
      }}
      override_base_feature_extractor_hyperparams: true
    }}
    box_coder {{
      faster_rcnn_box_coder {{ y_scale: 10.0 x_scale: 10.0 height_scale: 5.0 width_scale: 5.0 }}
    }}
    matcher {{
      argmax_matcher {{
        matched_threshold: 0.5
        unmatched_threshold: 0.5
        ignore_thresholds: false
        negatives_lower_than_unmatched: true
        force_match_for_each_row: true
        use_matmul_gather: true
      }}
    }}
    similarity_calculator {{ iou_similarity {{ }} }}
    box_predictor {{
      convolutional_box_predictor {{
        conv_hyperparams {{
          regularizer {{ l2_regularizer {{ weight: 0.00004 }} }}
          initializer {{ random_normal_initializer {{ mean: 0.0 stddev: 0.01 }} }}
          activation: RELU_6
          batch_norm {{ decay: 0.97 center: true scale: true epsilon: 0.001 train: true }}
        }}
        min_depth: 0
        max_depth: 0
        num_layers_before_predictor: 0
        use_dropout: false
        kernel_size: 1
        box_code_size: 4
        apply_sigmoid_to_scores: false
        class_prediction_bias_init: -4.6
      }}
    }}
    anchor_generator {{
      ssd_anchor_generator {{
        num_layers: 6
        min_scale: 0.2
        max_scale: 0.95
        aspect_ratios: 1.0
        aspect_ratios: 2.0
        aspect_ratios: 0.5
        aspect_ratios: 3.0
        aspect_ratios: 0.3333
      }}
    }}
    post_processing {{
      batch_non_max_suppression {{
        score_threshold: 0.001
        iou_threshold: 0.6
        max_detections_per_class: 100
        max_total_detections: 100
      }}
      score_converter: SIGMOID
    }}
    normalize_loss_by_num_matches: true
    loss {{
      localization_loss {{ weighted_smooth_l1 {{ }} }}
      classification_loss {{ weighted_sigmoid_focal {{ gamma: 2.0 alpha: 0.75 }} }}
      classification_weight: 1.0
      localization_weight: 1.0
    }}
    encode_background_as_zeros: true
    inplace_batchnorm_update: true
    freeze_batchnorm: false
  }}
}}
train_config {{
  batch_size: {batch_size}
  num_steps: {steps}
  data_augmentation_options {{ random_horizontal_flip {{ }} }}
  data_augmentation_options {{ ssd_random_crop {{ }} }}
  optimizer {{
    momentum_optimizer {{
      learning_rate {{
        cosine_decay_learning_rate {{
          learning_rate_base: {learning_rate}
          total_steps: {steps}
          warmup_learning_rate: {learning_rate / 10}
          warmup_steps: {warmup_steps}
        }}
      }}
      momentum_optimizer_value: 0.9
    }}
    use_moving_average: false
  }}
  unpad_groundtruth_tensors: false
}}
eval_config {{
  metrics_set: "pascal_voc_detection_metrics"
  batch_size: 1
}}
{input_readers}
"""


def write_pipeline_config(export_dir: str, path: str, **options) -> str:
    """Writes ssd_pipeline_config(...) for an export to `path`; returns `path`."""
    readers = fileio.read_bytes(os.path.join(export_dir, INPUT_READER_FILE)).decode("utf-8")
    with fileio.open_for_writing(path) as out:
        # num_classes: the label map's largest id, as the reader config's comment says.
        classes = max(category["id"] for category in categories(export_dir))
        out.write(ssd_pipeline_config(readers, classes, **options).encode("utf-8"))
    return path


def train(
    pipeline_config_path: str,
    model_dir: str,
    steps: int,
    seed: int = 0,
    checkpoint_every_n: int = 1000,
) -> None:
    """Runs the OD API's `model_lib_v2.train_loop` for `steps` steps.

    The seed fixes the random initialisation (and the input order), so arms
    trained with the same seed start from the same weights.
    """
    install_tf216_shims()
    import tensorflow as tf
    from object_detection import model_lib_v2

    tf.keras.backend.clear_session()
    tf.keras.utils.set_random_seed(seed)
    model_lib_v2.train_loop(
        pipeline_config_path=pipeline_config_path,
        model_dir=model_dir,
        train_steps=steps,
        checkpoint_every_n=checkpoint_every_n,
        checkpoint_max_to_keep=1000,
        record_summaries=False,
        num_steps_per_iteration=1,
    )


def logged_losses(model_dir: str) -> list[dict[str, float]]:
    """The losses train_loop logged (TensorBoard scalars), one dict per step."""
    install_tf216_shims()
    import tensorflow as tf

    by_step: dict[int, dict[str, float]] = {}
    for path in sorted(glob.glob(os.path.join(model_dir, "train", "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag.startswith("Loss/"):
                    number = float(tf.make_ndarray(value.tensor))
                    by_step.setdefault(event.step, {})[value.tag] = number
    return [by_step[step] for step in sorted(by_step)]


def load_configs(pipeline_config_path: str) -> dict:
    """The OD API's parsed configs (`config_util.get_configs_from_pipeline_file`)."""
    install_tf216_shims()
    from object_detection.utils import config_util

    return config_util.get_configs_from_pipeline_file(pipeline_config_path)


def build_model(configs: dict, is_training: bool):
    """The detection model of `configs` (variables created on first use)."""
    install_tf216_shims()
    from object_detection.builders import model_builder

    return model_builder.build(model_config=configs["model"], is_training=is_training)


def train_split_batches(configs: dict, model, batch_size: int):
    """One pass over the training split in batches, in file order, no augmentation.

    Through the OD API's own `inputs.train_input` (decoder, resizer, padding),
    with the export's train_input_reader except shuffling and repetition.
    """
    install_tf216_shims()
    from object_detection import inputs

    train_config = type(configs["train_config"])()
    train_config.CopyFrom(configs["train_config"])
    train_config.batch_size = batch_size
    del train_config.data_augmentation_options[:]
    reader = type(configs["train_input_config"])()
    reader.CopyFrom(configs["train_input_config"])
    reader.shuffle = False
    reader.num_epochs = 1
    return inputs.train_input(train_config, reader, configs["model"], model=model)


def batch_losses(model, features, labels) -> dict[str, float]:
    """The OD API's losses on one batch, as `model_lib_v2.eager_train_step` computes them."""
    install_tf216_shims()
    from object_detection import model_lib, model_lib_v2

    labels = model_lib.unstack_batch(labels, unpad_groundtruth_tensors=True)
    losses, _ = model_lib_v2._compute_losses_and_predictions_dicts(  # pylint: disable=protected-access
        model, features, labels, add_regularization_loss=False
    )
    return {name: float(value) for name, value in losses.items()}


def matched_anchor_weight_sum(model, features, labels) -> float:
    """The sum of the matched anchors' weights in a batch: SSD's loss normalizer.

    `SSDMetaArch.loss` divides both losses by max(1, this sum) when
    `normalize_loss_by_num_matches` is set; the sum comes from the model's own
    target assigner (`SSDMetaArch._assign_targets`), exactly as in the loss.
    """
    install_tf216_shims()
    import tensorflow as tf
    from object_detection import model_lib
    from object_detection.core import standard_fields as fields

    labels = model_lib.unstack_batch(labels, unpad_groundtruth_tensors=True)
    model_lib.provide_groundtruth(model, labels)
    model.predict(
        features[fields.InputDataFields.image], features[fields.InputDataFields.true_image_shape]
    )
    box_fields = fields.BoxListFields
    _, _, _, reg_weights, _ = model._assign_targets(  # pylint: disable=protected-access
        model.groundtruth_lists(box_fields.boxes),
        model.groundtruth_lists(box_fields.classes),
        None,
        model.groundtruth_lists(box_fields.weights),
    )
    return float(tf.reduce_sum(reg_weights))


def eval_input_config(configs: dict, split: str):
    """The eval_input_reader of `split` (by its `name:`; the only one if unnamed)."""
    readers = list(configs["eval_input_configs"])
    named = [reader for reader in readers if reader.name == split]
    if named:
        return named[0]
    if len(readers) == 1:
        return readers[0]
    raise ValueError(f"no eval_input_reader named {split!r} in the pipeline config")


def detector(model):
    """The model's preprocess-free predict + postprocess as one tf.function
    (trace it once, restore checkpoints into `model` between calls)."""
    install_tf216_shims()
    import tensorflow as tf

    @tf.function
    def detect(image, true_shape):
        return model.postprocess(model.predict(image, true_shape), true_shape)

    return detect


def detections(configs: dict, model, detect, split: str, batch_size: int = 8) -> Iterator[dict]:
    """Detections and groundtruth of every image of an evaluation split.

    Reads the split through the OD API's `inputs.eval_input` (decoder, resizer),
    in batches that keep the last, smaller one, and runs `detect` (from
    `detector(model)`); yields one dict per image with normalised boxes and
    1-based class ids, as PascalDetectionEvaluator takes them.
    """
    install_tf216_shims()
    from object_detection import inputs
    from object_detection.core import standard_fields as fields

    input_fields = fields.InputDataFields
    reader = type(eval_input_config(configs, split))()
    reader.CopyFrom(eval_input_config(configs, split))
    reader.include_source_id = True
    reader.drop_remainder = False
    eval_config = type(configs["eval_config"])()
    eval_config.CopyFrom(configs["eval_config"])
    eval_config.batch_size = batch_size
    dataset = inputs.eval_input(eval_config, reader, configs["model"], model=model)

    for features, labels in dataset:
        found = {
            key: value.numpy()
            for key, value in detect(
                features[input_fields.image], features[input_fields.true_image_shape]
            ).items()
        }
        truth = {key: value.numpy() for key, value in labels.items()}
        source_ids = features[input_fields.source_id].numpy()
        for index, source_id in enumerate(source_ids):
            boxes = int(truth[input_fields.num_groundtruth_boxes][index])
            kept = int(found["num_detections"][index])
            difficult = truth.get(input_fields.groundtruth_difficult)
            yield {
                "source_id": source_id.decode("utf-8"),
                "groundtruth_boxes": truth[input_fields.groundtruth_boxes][index][:boxes],
                "groundtruth_classes": (
                    truth[input_fields.groundtruth_classes][index][:boxes].argmax(axis=1) + 1
                ),
                "groundtruth_difficult": (
                    difficult[index][:boxes].astype(bool) if difficult is not None else None
                ),
                "detection_boxes": found["detection_boxes"][index][:kept],
                "detection_scores": found["detection_scores"][index][:kept],
                "detection_classes": found["detection_classes"][index][:kept].astype(int) + 1,
            }


def pascal_image_matches(images: list[dict], categories: list[dict]) -> list:
    """Each image's matches of detections to groundtruth at IoU 0.5, by the OD API.

    One PascalDetectionEvaluator per image (images are matched independently);
    its internal state (scores, true/false positive labels and groundtruth
    counts per class) is what `pascal_ap` merges, so that a bootstrap resample
    of the images costs a merge, not a new matching. `images`: dicts from
    `detections`.
    """
    install_tf216_shims()
    from object_detection.core import standard_fields as fields
    from object_detection.utils import object_detection_evaluation

    matches = []
    for image in images:
        evaluator = object_detection_evaluation.PascalDetectionEvaluator(categories)
        groundtruth = {
            fields.InputDataFields.groundtruth_boxes: image["groundtruth_boxes"],
            fields.InputDataFields.groundtruth_classes: image["groundtruth_classes"],
        }
        if image["groundtruth_difficult"] is not None:
            groundtruth[fields.InputDataFields.groundtruth_difficult] = image[
                "groundtruth_difficult"
            ]
        evaluator.add_single_ground_truth_image_info(image["source_id"], groundtruth)
        evaluator.add_single_detected_image_info(
            image["source_id"],
            {
                fields.DetectionResultFields.detection_boxes: image["detection_boxes"],
                fields.DetectionResultFields.detection_scores: image["detection_scores"],
                fields.DetectionResultFields.detection_classes: image["detection_classes"],
            },
        )
        matches.append(evaluator._evaluation.get_internal_state())  # pylint: disable=protected-access
    return matches


def pascal_ap(matches: list, categories: list[dict]) -> tuple[float, dict[str, float]]:
    """mAP@0.5 and per-class AP@0.5 of a list of images' matches (from
    `pascal_image_matches`; an image may appear more than once) by the OD API's
    PascalDetectionEvaluator. A class without groundtruth has AP NaN and is
    left out of the mAP, as the evaluator does.
    """
    install_tf216_shims()
    from object_detection.utils import object_detection_evaluation

    evaluator = object_detection_evaluation.PascalDetectionEvaluator(categories)
    for state in matches:
        evaluator._evaluation.merge_internal_state(state)  # pylint: disable=protected-access
    metrics = evaluator.evaluate()
    prefix = "PascalBoxes_PerformanceByCategory/AP@0.5IOU/"
    per_class = {
        category["name"]: float(metrics.get(prefix + category["name"], math.nan))
        for category in categories
    }
    return float(metrics["PascalBoxes_Precision/mAP@0.5IOU"]), per_class
