"""`make train-impact`: what the class weights do to a detector the OD API trains.

Exports one dataset five ways with `odweights run` (the arms below), trains
the same small OD API SSD on each with `model_lib_v2.train_loop` (same random
initialisation, seed, steps and warm-up + cosine learning rate), evaluates the
checkpoints on the val split with the OD API's PascalDetectionEvaluator and
compares every arm with the all-ones arm by a paired bootstrap over val images.
Writes results.json and results.md to benchmarks/results/training-impact/.
See docs/training.md for how to read the table.

    python benchmarks/training_impact.py [--voc-dir DIR] [--steps N] [--seed S]
"""

import argparse
import datetime
import hashlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time

import numpy as np

from odweights import odapi_training

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
DEFAULT_RESULTS_DIR = os.path.join(BENCH_DIR, "results", "training-impact")
DEFAULT_WORK_DIR = os.path.join(BENCH_DIR, "work", "training-impact")
ODWEIGHTS = os.path.join(os.path.dirname(sys.executable), "odweights")

# (arm, what it is, `odweights run` options). The class weights come from the
# default method (effective_number); the arms differ in scale and mechanism.
ARMS = (
    ("ones", "all weights 1.0 (no weighting)", ["--method", "manual", "--default-weight", "1.0"]),
    ("max", "--normalize max (largest weight 1)", ["--normalize", "max"]),
    ("mean", "--normalize mean (box-weighted mean 1)", ["--normalize", "mean"]),
    (
        "mean_cap",
        "--normalize mean --max-weight {max_weight}",
        ["--normalize", "mean", "--max-weight", "{max_weight}"],
    ),
    (
        "rfs",
        "--resample rfs --rfs-threshold {rfs_threshold} (repeated images, weights 1.0)",
        ["--resample", "rfs", "--rfs-threshold", "{rfs_threshold}"],
    ),
)
BASELINE = "ones"


def _parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--voc-dir",
        help="a Pascal VOC dataset with train and val splits "
        "(default: `odweights sample-data` with --images images)",
    )
    parser.add_argument(
        "--images",
        type=int,
        default=800,
        help="sample images when no --voc-dir is given (default: 800)",
    )
    parser.add_argument("--steps", type=int, default=1500, help="training steps per arm")
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the sample data, the initialisation and the input order",
    )
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument(
        "--learning-rate", type=float, default=0.02, help="peak of the warm-up + cosine schedule"
    )
    parser.add_argument("--warmup-steps", type=int, default=0, help="default: a tenth of --steps")
    parser.add_argument(
        "--evals",
        type=int,
        default=4,
        help="evaluations per arm, evenly spaced (the mAP curve; the last is final)",
    )
    parser.add_argument("--max-weight", type=float, default=5.0, help="the cap of the mean_cap arm")
    parser.add_argument(
        "--rfs-threshold",
        type=float,
        default=0.1,
        help="the repeat-factor threshold of the rfs arm (odweights' default "
        "0.001 is LVIS's, for >1,000 classes: it repeats nothing in 10)",
    )
    parser.add_argument(
        "--bootstrap", type=int, default=200, help="paired bootstrap resamples of the val images"
    )
    parser.add_argument("--arms", default=",".join(arm for arm, _, _ in ARMS))
    parser.add_argument(
        "--resume",
        action="store_true",
        help="reuse the exports and finished trainings already in --work-dir "
        "(after an interrupted run with the same options)",
    )
    parser.add_argument("--work-dir", default=DEFAULT_WORK_DIR)
    parser.add_argument("--results-dir", default=DEFAULT_RESULTS_DIR)
    return parser.parse_args(argv)


def _odweights(*argv: str) -> None:
    completed = subprocess.run([ODWEIGHTS, *argv], capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise SystemExit(
            f"odweights {' '.join(argv)} failed ({completed.returncode}):\n"
            f"{completed.stdout[-2000:]}\n{completed.stderr[-4000:]}"
        )


def _export_arms(args, voc_dir: str, arms) -> dict[str, dict]:
    """One `odweights run` per arm into one output folder (TFX reuses the
    unchanged upstream results); each arm's export is copied out."""
    out = os.path.join(args.work_dir, "pipeline")
    exports = {}
    for arm, label, options in arms:
        started = time.monotonic()
        options = [
            option.format(max_weight=args.max_weight, rfs_threshold=args.rfs_threshold)
            for option in options
        ]
        export_dir = os.path.join(args.work_dir, "exports", arm)
        reused = args.resume and os.path.exists(os.path.join(export_dir, "summary.json"))
        if not reused:
            _odweights(
                "run", "--voc-dir", voc_dir, "--output-dir", out, "--seed", str(args.seed), *options
            )
            shutil.rmtree(export_dir, ignore_errors=True)
            shutil.copytree(os.path.join(out, "export"), export_dir)
            _point_readers_at(export_dir, os.path.join(out, "export"))
        with open(os.path.join(export_dir, "class_weights.json"), encoding="utf-8") as file:
            weights = json.load(file)
        with open(os.path.join(export_dir, "summary.json"), encoding="utf-8") as file:
            summary = json.load(file)
        exports[arm] = {
            "label": label.format(max_weight=args.max_weight, rfs_threshold=args.rfs_threshold),
            "dir": export_dir,
            "options": options,
            "class_weights": weights,
            "summary": summary,
            # None: reused from an earlier, interrupted run (--resume).
            "export_seconds": None if reused else round(time.monotonic() - started, 1),
        }
        print(f"[{arm}] export {'reused' if reused else 'written'} ({export_dir})", flush=True)
    return exports


def _point_readers_at(export_dir: str, published_dir: str) -> None:
    path = os.path.join(export_dir, odapi_training.INPUT_READER_FILE)
    with open(path, encoding="utf-8") as file:
        text = file.read()
    with open(path, "w", encoding="utf-8") as file:
        file.write(text.replace(os.path.abspath(published_dir), os.path.abspath(export_dir)))


def _initial_weights_sha256(model_dir: str) -> str:
    """Hash of every model variable in the step-0 checkpoint (same init across arms)."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(os.path.join(model_dir, "ckpt-1"))
    digest = hashlib.sha256()
    for name in sorted(reader.get_variable_to_shape_map()):
        if name.startswith("model/") and "OPTIMIZER_SLOT" not in name:
            digest.update(name.encode() + reader.get_tensor(name).tobytes())
    return digest.hexdigest()


def _train_arm(args, arm: str, export: dict) -> dict:
    arm_dir = os.path.join(args.work_dir, "train", arm)
    done_file = os.path.join(arm_dir, "trained.json")
    if args.resume and os.path.exists(done_file):
        with open(done_file, encoding="utf-8") as file:
            return json.load(file)
    shutil.rmtree(arm_dir, ignore_errors=True)
    os.makedirs(arm_dir)
    every = max(1, args.steps // args.evals)
    config = odapi_training.write_pipeline_config(
        export["dir"],
        os.path.join(arm_dir, "pipeline.config"),
        batch_size=args.batch_size,
        steps=args.steps,
        learning_rate=args.learning_rate,
        warmup_steps=args.warmup_steps or max(1, args.steps // 10),
    )
    started = time.monotonic()
    odapi_training.train(
        config, os.path.join(arm_dir, "model"), args.steps, seed=args.seed, checkpoint_every_n=every
    )
    seconds = time.monotonic() - started
    losses = odapi_training.logged_losses(os.path.join(arm_dir, "model"))
    print(
        f"[{arm}] trained {args.steps} steps in {seconds:.0f} s; last total loss "
        f"{losses[-1]['Loss/total_loss']:.3f}",
        flush=True,
    )
    trained = {
        "pipeline_config": config,
        "model_dir": os.path.join(arm_dir, "model"),
        "train_seconds": round(seconds, 1),
        "initial_weights_sha256": _initial_weights_sha256(os.path.join(arm_dir, "model")),
        "loss_curve": [
            {"step": step + 1, "total_loss": round(loss["Loss/total_loss"], 4)}
            for step, loss in enumerate(losses)
            if (step + 1) % every == 0
        ],
    }
    with open(done_file, "w", encoding="utf-8") as file:
        json.dump(trained, file)
    return trained


def _checkpoints(model_dir: str) -> list[tuple]:
    """(step, path) of every checkpoint after step 0, by step."""
    import tensorflow as tf

    state = tf.train.get_checkpoint_state(model_dir)
    found = []
    for path in state.all_model_checkpoint_paths:
        step = int(tf.train.load_checkpoint(path).get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE"))
        if step > 0:
            found.append((step, path))
    return sorted(found)


def _third_classes(class_weights: dict) -> dict[str, list[str]]:
    """Head and tail thirds of the classes by objects in the analysed split."""
    ranked = sorted(class_weights["classes"], key=lambda item: (-item["objects"], item["name"]))
    third = max(1, len(ranked) // 3)
    return {
        "head": [item["name"] for item in ranked[:third]],
        "tail": [item["name"] for item in ranked[-third:]],
    }


def _summary_ap(matches, categories, thirds) -> dict:
    mean_ap, per_class = odapi_training.pascal_ap(matches, categories)
    return {
        "mAP": mean_ap,
        "per_class": per_class,
        "head": float(np.nanmean([per_class[name] for name in thirds["head"]])),
        "tail": float(np.nanmean([per_class[name] for name in thirds["tail"]])),
    }


def _bootstrap(
    matches: dict[str, list], categories, thirds, resamples: int, seed: int
) -> dict[str, dict]:
    """95 % intervals of each arm's difference from the baseline (mAP, head, tail),
    resampling val images with replacement, the same images for every arm."""
    rng = np.random.default_rng(seed)
    count = len(matches[BASELINE])
    differences = {arm: {"mAP": [], "head": [], "tail": []} for arm in matches if arm != BASELINE}
    for _ in range(resamples):
        picked = rng.integers(0, count, size=count)
        base = _summary_ap([matches[BASELINE][i] for i in picked], categories, thirds)
        for arm in differences:
            other = _summary_ap([matches[arm][i] for i in picked], categories, thirds)
            for key in ("mAP", "head", "tail"):
                differences[arm][key].append(other[key] - base[key])
    return {
        arm: {
            key: [
                round(float(np.nanpercentile(values, 2.5)), 4),
                round(float(np.nanpercentile(values, 97.5)), 4),
            ]
            for key, values in by_key.items()
        }
        for arm, by_key in differences.items()
    }


def _evaluate(args, arms, exports, trained) -> dict:
    """Every checkpoint of every arm on val with one model (traced once)."""
    import tensorflow as tf

    categories = odapi_training.categories(exports[BASELINE]["dir"])
    thirds = _third_classes(exports[BASELINE]["class_weights"])
    configs = odapi_training.load_configs(trained[BASELINE]["pipeline_config"])
    model = odapi_training.build_model(configs, is_training=False)
    detect = odapi_training.detector(model)
    final = {}
    for arm, _, _ in arms:
        started = time.monotonic()
        arm_configs = odapi_training.load_configs(trained[arm]["pipeline_config"])
        curve = []
        for step, path in _checkpoints(trained[arm]["model_dir"]):
            tf.train.Checkpoint(model=model).restore(path).expect_partial()
            images = sorted(
                odapi_training.detections(arm_configs, model, detect, "val"),
                key=lambda image: image["source_id"],
            )
            matches = odapi_training.pascal_image_matches(images, categories)
            scores = _summary_ap(matches, categories, thirds)
            curve.append(
                {
                    "step": step,
                    "mAP": round(scores["mAP"], 4),
                    "head": round(scores["head"], 4),
                    "tail": round(scores["tail"], 4),
                }
            )
            final[arm] = (matches, scores)
            print(
                f"[{arm}] step {step}: mAP@0.5 {scores['mAP']:.3f} head {scores['head']:.3f} "
                f"tail {scores['tail']:.3f}",
                flush=True,
            )
        trained[arm]["map_curve"] = curve
        trained[arm]["eval_seconds"] = round(time.monotonic() - started, 1)
    started = time.monotonic()
    intervals = _bootstrap(
        {arm: final[arm][0] for arm in final}, categories, thirds, args.bootstrap, args.seed
    )
    return {
        "categories": categories,
        "thirds": thirds,
        "final": final,
        "intervals": intervals,
        "val_images": len(final[BASELINE][0]),
        "bootstrap_seconds": round(time.monotonic() - started, 1),
    }


def _results(args, voc_dir, arms, exports, trained, evaluation, started_at, wall) -> dict:
    arms_out = {}
    for arm, _, _ in arms:
        scores = evaluation["final"][arm][1]
        weights = exports[arm]["class_weights"]
        summary = exports[arm]["summary"]
        train_summary = summary["splits"][summary["training_split"]]
        # What the boxes carry: --resample rfs writes 1.0 (summary.json says which).
        box_weights = summary["weights"]["box_weights"]
        written = box_weights == "class_weights"
        arms_out[arm] = {
            "label": exports[arm]["label"],
            "odweights_run_options": exports[arm]["options"],
            "box_weights": box_weights,
            "class_weights": {
                item["name"]: item["weight"] if written else 1.0 for item in weights["classes"]
            },
            "mean_box_weight": weights["mean_box_weight"] if written else 1.0,
            "train_records": train_summary["records"],
            "mAP": round(scores["mAP"], 4),
            "head_mean_ap": round(scores["head"], 4),
            "tail_mean_ap": round(scores["tail"], 4),
            "per_class_ap": {
                name: None if math.isnan(value) else round(value, 4)
                for name, value in scores["per_class"].items()
            },
            "difference_from_ones_95ci": evaluation["intervals"].get(arm),
            "map_curve": trained[arm]["map_curve"],
            "loss_curve": trained[arm]["loss_curve"],
            "initial_weights_sha256": trained[arm]["initial_weights_sha256"],
            "seconds": {
                "export": exports[arm]["export_seconds"],
                "train": trained[arm]["train_seconds"],
                "eval": trained[arm]["eval_seconds"],
            },
        }
    baseline = exports[BASELINE]["class_weights"]
    return {
        "started_at": started_at,
        # With --resume, the wall time of this invocation only (reused work excluded).
        "wall_seconds": round(wall, 1),
        "resumed": args.resume,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_end": [round(x, 1) for x in os.getloadavg()],
        },
        "parameters": {
            "voc_dir": voc_dir
            if args.voc_dir
            else f"odweights sample-data --images {args.images} --seed {args.seed}",
            "steps": args.steps,
            "seed": args.seed,
            "batch_size": args.batch_size,
            "learning_rate": args.learning_rate,
            "warmup_steps": args.warmup_steps or max(1, args.steps // 10),
            "evals": args.evals,
            "max_weight": args.max_weight,
            "rfs_threshold": args.rfs_threshold,
            "bootstrap_resamples": args.bootstrap,
            "model": "ssd_mobilenet_v2_keras, depth multiplier 0.35, 128x128, "
            "focal loss, normalize_loss_by_num_matches, random init",
            "evaluator": "object_detection_evaluation.PascalDetectionEvaluator "
            "(AP@0.5, VOC difficult ignored)",
        },
        "val_images": evaluation["val_images"],
        "train_objects": {item["name"]: item["objects"] for item in baseline["classes"]},
        "head_classes": evaluation["thirds"]["head"],
        "tail_classes": evaluation["thirds"]["tail"],
        "bootstrap_seconds": evaluation["bootstrap_seconds"],
        "arms": arms_out,
    }


def _signed(value: float) -> str:
    return f"{value:+.3f}"


def markdown(results: dict) -> str:
    """The committed table: headline, per-class AP, curve, run time."""
    arms = results["arms"]
    names = list(arms)
    parameters = results["parameters"]
    lines = [
        "# Training impact of the class weights (`make train-impact`)",
        "",
        f"Run {results['started_at']}, {results['wall_seconds'] / 60:.0f} min wall on "
        f"{results['machine']['cpus']} cores (load average at the end "
        f"{results['machine']['load_average_at_end'][0]}). Data: {parameters['voc_dir']}; "
        f"{results['val_images']} val images. Model: {parameters['model']}. "
        f"{parameters['steps']} steps of batch {parameters['batch_size']}, warm-up "
        f"{parameters['warmup_steps']} steps then cosine decay from "
        f"{parameters['learning_rate']}, seed {parameters['seed']}. "
        f"Evaluator: {parameters['evaluator']}. Intervals: paired bootstrap over val images, "
        f"{parameters['bootstrap_resamples']} resamples, 95 %.",
        "",
        f"Head third: {', '.join(results['head_classes'])}; tail third: "
        f"{', '.join(results['tail_classes'])}.",
        "",
        "| arm | mAP@0.5 | head AP | tail AP | Δ mAP vs ones [95 % CI] | Δ head [95 % CI] "
        "| Δ tail [95 % CI] | train s | eval s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for arm in names:
        item = arms[arm]
        interval = item["difference_from_ones_95ci"]
        deltas = ["—", "—", "—"]
        if interval:
            deltas = [
                f"{_signed(item[key] - arms[BASELINE][key])} "
                f"[{_signed(interval[short][0])}, {_signed(interval[short][1])}]"
                for key, short in (
                    ("mAP", "mAP"),
                    ("head_mean_ap", "head"),
                    ("tail_mean_ap", "tail"),
                )
            ]
        lines.append(
            f"| {arm}: {item['label']} | {item['mAP']:.3f} | {item['head_mean_ap']:.3f} "
            f"| {item['tail_mean_ap']:.3f} | {' | '.join(deltas)} "
            f"| {item['seconds']['train']:.0f} | {item['seconds']['eval']:.0f} |"
        )
    classes = list(results["train_objects"])
    classes.sort(key=lambda name: -results["train_objects"][name])
    lines += [
        "",
        "Per-class AP@0.5 (classes by training objects):",
        "",
        "| class | train objects | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for name in classes:
        values = []
        for arm in names:
            value = arms[arm]["per_class_ap"][name]
            values.append("n/a" if value is None else f"{value:.3f}")
        lines.append(f"| {name} | {results['train_objects'][name]} | " + " | ".join(values) + " |")
    lines += [
        "",
        "Box weights per arm (what the records carry) and training records:",
        "",
        "| class | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for name in classes:
        lines.append(
            f"| {name} | "
            + " | ".join(f"{arms[arm]['class_weights'][name]:.3g}" for arm in names)
            + " |"
        )
    lines.append(
        "| training records | "
        + " | ".join(str(arms[arm]["train_records"]) for arm in names)
        + " |"
    )
    lines.append(
        "| box-weighted mean | "
        + " | ".join(
            "—" if arms[arm]["mean_box_weight"] is None else f"{arms[arm]['mean_box_weight']:.3g}"
            for arm in names
        )
        + " |"
    )
    steps = [point["step"] for point in arms[BASELINE]["map_curve"]]
    lines += [
        "",
        "mAP@0.5 on val during training:",
        "",
        "| step | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for index, step in enumerate(steps):
        lines.append(
            f"| {step} | "
            + " | ".join(
                f"{arms[arm]['map_curve'][index]['mAP']:.3f}"
                if index < len(arms[arm]["map_curve"])
                else ""
                for arm in names
            )
            + " |"
        )
    lines += [
        "",
        f"Same random initialisation in every arm: "
        f"{len({arms[arm]['initial_weights_sha256'] for arm in names}) == 1} "
        "(hash of the step-0 checkpoint's model variables).",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = _parse_args(argv)
    selected = args.arms.split(",")
    arms = [arm for arm in ARMS if arm[0] in selected]
    if not arms or arms[0][0] != BASELINE:
        raise SystemExit(f"--arms must start with {BASELINE}")
    if args.steps % args.evals:
        raise SystemExit(
            "--steps must be a multiple of --evals (the last evaluation is the final step)"
        )
    odapi_training.install_tf216_shims()
    started_at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    started = time.monotonic()
    os.makedirs(args.work_dir, exist_ok=True)
    voc_dir = args.voc_dir
    if not voc_dir:
        sample = os.path.join(args.work_dir, f"sample-{args.images}-{args.seed}")
        _odweights("sample-data", sample, "--images", str(args.images), "--seed", str(args.seed))
        voc_dir = os.path.join(sample, "VOCdevkit")
    exports = _export_arms(args, voc_dir, arms)
    trained = {arm: _train_arm(args, arm, exports[arm]) for arm, _, _ in arms}
    evaluation = _evaluate(args, arms, exports, trained)
    results = _results(
        args, voc_dir, arms, exports, trained, evaluation, started_at, time.monotonic() - started
    )
    os.makedirs(args.results_dir, exist_ok=True)
    with open(os.path.join(args.results_dir, "results.json"), "w", encoding="utf-8") as file:
        json.dump(results, file, indent=1, sort_keys=True)
        file.write("\n")
    table = markdown(results)
    with open(os.path.join(args.results_dir, "results.md"), "w", encoding="utf-8") as file:
        file.write(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
