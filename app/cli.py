"""The `odweights` command line."""

import argparse
import logging
import os
import signal
import sys

import odweights
from odweights import errors

INTERRUPTED_MESSAGE = "interrupted; run the same command again to resume from the cache"


def _add_sample_data(subparsers) -> None:
    parser = subparsers.add_parser(
        "sample-data",
        help="write a deterministic synthetic Pascal VOC dataset",
        description="Writes DIR/VOCdevkit/VOC2007/{Annotations,JPEGImages,ImageSets/Main} "
        "with real JPEG/PNG images, a long-tailed class distribution and the quirks "
        "of files written by annotation tools. Same seed and N: byte-identical files.",
    )
    parser.add_argument("dir", metavar="DIR", help="output folder (created if missing)")
    parser.add_argument(
        "--images", type=int, default=300, metavar="N", help="number of images (default: 300)"
    )
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default: 0)")
    parser.add_argument(
        "--classes",
        type=int,
        default=10,
        metavar="K",
        help="number of classes, 8 to 60 (default: 10)",
    )
    parser.add_argument(
        "--layout",
        choices=("vocdevkit", "flat"),
        default="vocdevkit",
        help="vocdevkit: DIR/VOCdevkit/VOC2007/...; flat: XML files and "
        "images side by side in DIR, no split files (default: vocdevkit)",
    )
    parser.set_defaults(handler=_sample_data)


def _sample_data(args) -> int:
    from odweights.app import sample_data

    summary = sample_data.write_dataset(
        args.dir,
        num_images=args.images,
        seed=args.seed,
        num_classes=args.classes,
        layout=args.layout,
    )
    print(summary.describe())
    return errors.EXIT_OK


def _add_pipeline_options(parser, output_dir: bool) -> None:
    """The options of `run` (output_dir=True) and `compile-kubeflow`: one pipeline, one set."""
    from odweights.components.od_export import resampling
    from odweights.components.voc_example_gen.image_check import EXIF_FRAMES, EXIF_POLICIES
    from odweights.components.weight_gen import weighting
    from odweights.pipelines import options

    data = parser.add_argument_group("input")
    data.add_argument(
        "--voc-dir",
        required=True,
        metavar="DIR",
        help="a VOCdevkit folder (VOC2007/, VOC2012/ ...), one year folder, or "
        "a flat folder of XML files and their images",
    )
    if output_dir:
        data.add_argument(
            "--output-dir",
            required=True,
            metavar="OUT",
            help="OUT/export: the OD API files; OUT/metadata.sqlite: ML Metadata "
            "(TFX's cache: run again into the same OUT to reuse results); "
            "OUT/pipeline: artifacts; OUT/run.log: the full log",
        )
    data.add_argument(
        "--label-map",
        metavar="FILE",
        help="a label_map.pbtxt fixing class names and ids (objects of other "
        "classes are rejected as unknown_class); default: ids 1..K over the "
        "sorted class names found",
    )
    data.add_argument(
        "--splits",
        default=",".join(options.DEFAULT_SPLITS),
        metavar="A,B",
        help="VOCdevkit: the ImageSets/Main/<split>.txt files to read; flat "
        "folder: the splits to hash images into (8:2 for two) (default: "
        "%(default)s)",
    )

    ingest = parser.add_argument_group("ingest (VOC ExampleGen)")
    ingest.add_argument(
        "--strict",
        action="store_true",
        help="fail if any image or object is rejected (the error names the "
        "first rejection in sorted order)",
    )
    ingest.add_argument(
        "--max-rejected-fraction",
        type=float,
        default=options.DEFAULT_MAX_REJECTED_FRACTION,
        metavar="F",
        help="fail when more than this fraction of images or objects is "
        "rejected (default: %(default)s)",
    )
    ingest.add_argument(
        "--clip-tolerance",
        type=float,
        metavar="X",
        help="clip boxes outside the image by at most X (fraction of the "
        "width/height) instead of rejecting them (default: 0.01)",
    )
    ingest.add_argument(
        "--drop-difficult",
        action="store_true",
        help="drop objects marked difficult (default: keep them, flagged)",
    )
    ingest.add_argument(
        "--exif-policy",
        choices=EXIF_POLICIES,
        metavar="POLICY",
        help="images with an EXIF orientation other than 1: auto (the "
        "default: the frame the boxes were drawn in, from <size>), fix "
        "(always rotate upright), reject, or flag (keep the bytes; boxes may "
        "then not fit the pixels)",
    )
    ingest.add_argument(
        "--exif-frame",
        choices=EXIF_FRAMES,
        metavar="FRAME",
        help="with --exif-policy auto, where <size> cannot tell (orientations "
        "2-4, square images, no <size>): stored or displayed, the pixels the "
        "annotation tool drew on (default: reject such images as "
        "exif_frame_ambiguous)",
    )
    ingest.add_argument(
        "--reencode-unsupported",
        action="store_true",
        help="re-encode GIF/BMP/TIFF/WebP images to PNG instead of rejecting them",
    )
    ingest.add_argument(
        "--keep-partial-images",
        action="store_true",
        help="export an image one of whose boxes was rejected for a data "
        "error without that box (default: reject the image as "
        "has_rejected_object, since the object is still in the pixels)",
    )
    ingest.add_argument(
        "--merge-classes",
        default="",
        metavar="NAME=TARGET,...",
        help="rename classes before anything else, e.g. Car=car,CAR=car "
        "(resolves names that differ only in letter case)",
    )

    weights = parser.add_argument_group("class weights (WeightGen)")
    weights.add_argument(
        "--method",
        default=weighting.DEFAULT_METHOD,
        choices=weighting.METHODS,
        metavar="NAME",
        help=f"one of: {', '.join(weighting.METHODS)} (default: %(default)s)",
    )
    weights.add_argument(
        "--beta",
        type=float,
        default=weighting.DEFAULT_BETA,
        metavar="B",
        help="effective_number's beta in [0, 1) (default: %(default)s)",
    )
    weights.add_argument(
        "--rfs-threshold",
        type=float,
        default=weighting.DEFAULT_RFS_THRESHOLD,
        metavar="T",
        help="repeat-factor threshold t in (0, 1]: r_c = max(1, "
        "sqrt(t / f_c)) (default: %(default)s)",
    )
    weights.add_argument(
        "--normalize",
        choices=weighting.NORMALIZE_MODES,
        help="the scale of the final weights: mean (box-weighted mean 1 over "
        "the split: the loss scale of unweighted training), max (largest "
        "weight 1) or none (raw weights) (default: mean; method manual: "
        "the weights as given)",
    )
    weights.add_argument(
        "--min-weight",
        type=float,
        metavar="W",
        help="floor of the final weights (> 0); classes raised to it are flagged floored",
    )
    weights.add_argument(
        "--max-weight",
        type=float,
        metavar="W",
        help="cap of the final weights (> 0; >= 1 with --normalize mean); "
        "classes lowered to it are flagged capped, and the mean stays 1",
    )
    weights.add_argument(
        "--class-weights",
        default="",
        metavar="NAME=W,...",
        help="manual weights (method manual) or overrides of computed "
        "final weights, e.g. top=1.0,dress=0.1",
    )
    weights.add_argument(
        "--default-weight",
        type=float,
        metavar="W",
        help="method manual: the weight of classes not in --class-weights",
    )

    export = parser.add_argument_group("export (OdExport)")
    export.add_argument(
        "--shards",
        type=int,
        default=options.ExportOptions.num_shards,
        metavar="N",
        help="TFRecord shards per split; 0: one per started 1,000 images of the "
        "split (default: %(default)s)",
    )
    export.add_argument(
        "--resample",
        choices=resampling.RESAMPLE_MODES,
        default=options.ExportOptions.resample,
        help="rfs: write each training image as many times as its repeat "
        "factor, for trainers that read no box weights (default: "
        "%(default)s)",
    )
    export.add_argument(
        "--rfs-rounding",
        choices=resampling.ROUNDING_MODES,
        default=options.ExportOptions.rfs_rounding,
        help="with --resample rfs: stochastic (seeded, as detectron2) or "
        "ceil (always round up, as mmdetection) (default: %(default)s)",
    )
    export.add_argument(
        "--seed",
        type=int,
        default=options.ExportOptions.seed,
        metavar="S",
        help="seed of the stochastic rounding (default: %(default)s)",
    )
    export.add_argument(
        "--keep-weights",
        action="store_true",
        help="with --resample rfs: keep the class weights on the boxes "
        "(default: weight 1.0 on every box, since repeating images already "
        "balances the classes)",
    )

    beam = parser.add_argument_group("orchestration")
    if output_dir:
        beam.add_argument(
            "--orchestrator",
            choices=("local", "beam"),
            default="local",
            help="local: TFX's LocalDagRunner; beam: TFX's BeamDagRunner, which "
            "runs the components themselves as a Beam pipeline (default: "
            "%(default)s)",
        )
    beam.add_argument(
        "--beam-arg",
        action="append",
        default=[],
        dest="beam_args",
        metavar="--NAME=VALUE",
        help="passed to every Beam-based component (repeat it), e.g. "
        "--beam-arg --runner=DataflowRunner (or --beam-arg=--runner=...). "
        "Default: the DirectRunner in this process",
    )
    beam.add_argument(
        "--ingest-workers",
        type=int,
        default=1,
        metavar="N",
        help="the VOC ExampleGen alone runs on N local Beam worker processes "
        "(0: one per core); on 2 cores it paid for itself from about 40,000 "
        "images (default: %(default)s, in this process)",
    )


def _read_user_file(path: str) -> bytes:
    """A file the user names: a local path, or a URL such as gs://... (an OSError naming
    the cause, e.g. missing credentials, when it cannot be read)."""
    if "://" not in path:
        with open(path, "rb") as file:
            return file.read()
    import tensorflow as tf

    from odweights import fileio

    try:
        return fileio.read_bytes(path)
    except tf.errors.OpError as error:
        raise OSError(fileio.access_problem(path) or error.message) from None


def _pipeline_options(args):
    """A validated PipelineOptions from the parsed flags; the label map file's text is read."""
    from odweights.components.voc_example_gen.class_names import parse_merge_classes
    from odweights.components.weight_gen import weighting
    from odweights.pipelines import options

    label_map_text = None
    if args.label_map is not None:
        try:
            # bytes, decoded without newline translation: the label map is exported as given
            label_map_text = _read_user_file(args.label_map).decode("utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise errors.InvalidOptionsError(
                f"--label-map {args.label_map}: cannot read it ({error}); give the path of "
                "a label_map.pbtxt (StringIntLabelMap text format)"
            ) from None
    local = "://" not in args.voc_dir
    if local and not os.path.isdir(args.voc_dir):
        raise errors.InvalidOptionsError(
            f"--voc-dir {args.voc_dir}: no such folder; give the VOCdevkit folder, a year "
            "folder (with Annotations/, JPEGImages/, ImageSets/Main/) or a folder of XML files"
        )
    pipeline_options = options.PipelineOptions(
        # Absolute, so that the recorded input (and TFX's cache) does not depend on the cwd.
        voc_dir=os.path.abspath(args.voc_dir) if local else args.voc_dir,
        splits=options.parse_splits(args.splits),
        label_map_text=label_map_text,
        strict=args.strict,
        max_rejected_fraction=args.max_rejected_fraction,
        clip_tolerance=args.clip_tolerance,
        drop_difficult=args.drop_difficult,
        exif_policy=args.exif_policy,
        exif_frame=args.exif_frame,
        reencode_unsupported=args.reencode_unsupported,
        keep_partial_images=args.keep_partial_images,
        merge_classes=parse_merge_classes(args.merge_classes),
        method=args.method,
        beta=args.beta,
        rfs_threshold=args.rfs_threshold,
        min_weight=args.min_weight,
        class_weights=weighting.parse_class_weights(args.class_weights),
        default_weight=args.default_weight,
        normalize=args.normalize,
        max_weight=args.max_weight,
        num_shards=args.shards,
        resample=args.resample,
        rfs_rounding=args.rfs_rounding,
        seed=args.seed,
        keep_weights=args.keep_weights,
        beam_args=tuple(args.beam_args),
        ingest_workers=args.ingest_workers,
    )
    pipeline_options.validate()
    return pipeline_options


def _quiet_tensorflow() -> None:
    """TensorFlow's C++ start-up messages (CUDA plugins on a machine without a GPU) are
    noise on the console; failures still surface as Python exceptions.

    TensorFlow 2.21 (the tfx-1.21 stack, docs/platforms.md) writes them through
    Abseil's logging, to file descriptor 2, before anything can configure it and
    whatever TF_CPP_MIN_LOG_LEVEL says: it is imported here with that descriptor
    pointed at /dev/null."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved_stderr = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    finally:
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)
        os.close(devnull)


def _add_run(subparsers) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the pipeline on this machine",
        description="Runs VOC ExampleGen -> StatisticsGen -> OdApiSchemaGen -> "
        "ExampleValidator -> WeightGen -> WeightedTransform -> OdExport with ML Metadata "
        "in OUT/metadata.sqlite and writes the OD API files to OUT/export. Running again "
        "into the same OUT reuses every result whose inputs and options did not change. "
        "Exit codes: 0 success, 1 internal failure, 2 invalid options, 3 bad input "
        "(more rejected than --max-rejected-fraction allows, --strict, class names that "
        "differ only in case, an emptied training split, or data anomalies), 130 "
        "interrupted (Ctrl-C; the same command resumes from the cache). See docs/run.md.",
    )
    _add_pipeline_options(parser, output_dir=True)
    parser.set_defaults(handler=_run, run_parser=parser)


def _run(args) -> int:
    pipeline_options = _pipeline_options(args)
    _quiet_tensorflow()
    from odweights.app import run

    run.run(pipeline_options, args.output_dir, args.orchestrator, command=_run_command(args))
    return errors.EXIT_OK


# Local paths among the options, recorded absolute (the cwd of a rerun may differ).
_PATH_OPTIONS = ("voc_dir", "label_map")


def _run_command(args) -> dict:
    """This run's command as ML Metadata records it for `odweights audit
    --reproduce-command`: every option of `run` spelt out, defaults included, so that
    the command means the same to a later odweights (see docs/audit.md)."""
    options: list[str] = []
    for action in args.run_parser._actions:  # pylint: disable=protected-access
        value = getattr(args, action.dest, None)
        if not action.option_strings or action.dest in ("help", "output_dir") or value is None:
            continue
        flag = action.option_strings[-1]
        if action.nargs == 0:  # a switch (store_true)
            options += [flag] if value else []
        elif isinstance(value, list):  # repeated (--beam-arg): --flag=VALUE keeps a leading '--'
            options += [f"{flag}={item}" for item in value]
        else:
            if action.dest in _PATH_OPTIONS and "://" not in str(value):
                value = os.path.abspath(value)
            options += [flag, str(value)]
    return dict(options=options, output_dir=os.path.abspath(args.output_dir), cwd=os.getcwd())


def _add_compile_kubeflow(subparsers) -> None:
    parser = subparsers.add_parser(
        "compile-kubeflow",
        help="compile the pipeline for Kubeflow Pipelines v2 / Vertex AI Pipelines",
        description="Compiles the same pipeline as `run` with TFX's KubeflowV2DagRunner "
        "into a pipeline JSON to submit to Kubeflow Pipelines v2 or Vertex AI Pipelines. "
        "--voc-dir is not read now: the cluster reads it when the pipeline runs, so give "
        "a path it can read (e.g. gs://...); the text of --label-map is compiled in.",
    )
    parser.add_argument(
        "--output", required=True, metavar="FILE", help="the pipeline JSON to write"
    )
    parser.add_argument(
        "--image",
        required=True,
        metavar="IMAGE",
        help="the component image (see kubeflow/Dockerfile)",
    )
    parser.add_argument(
        "--pipeline-root",
        required=True,
        metavar="ROOT",
        help="where the components write their artifacts (e.g. gs://bucket/root)",
    )
    parser.add_argument(
        "--ingest-cache",
        action="store_true",
        help="let Kubeflow / Vertex AI reuse a cached VOC ExampleGen when its "
        "options are unchanged; only for data that never changes under the "
        "same --voc-dir (default: the VOC ExampleGen always runs)",
    )
    _add_pipeline_options(parser, output_dir=False)
    parser.set_defaults(handler=_compile_kubeflow)


def _compile_kubeflow(args) -> int:
    pipeline_options = _pipeline_options(args)
    _quiet_tensorflow()
    from odweights.pipelines import kubeflow_v2_runner

    for warning in kubeflow_v2_runner.local_input_warnings(
        args.voc_dir, args.label_map, args.pipeline_root
    ):
        print(f"odweights: warning: {warning}", file=sys.stderr)
    num_tasks = kubeflow_v2_runner.compile_pipeline(
        pipeline_options,
        args.output,
        args.image,
        args.pipeline_root,
        ingest_cache=args.ingest_cache,
    )
    print(
        f"odweights: wrote {args.output} ({num_tasks} tasks); submit it with "
        f"aiplatform.PipelineJob(template_path={args.output!r}, ...).submit() (Vertex AI) or "
        f"kfp.Client().create_run_from_pipeline_package({args.output!r}) (Kubeflow), "
        "see docs/kubeflow.md"
    )
    return errors.EXIT_OK


def _add_audit(subparsers) -> None:
    parser = subparsers.add_parser(
        "audit",
        help="trace an exported file back to the VOC input through ML Metadata",
        description="Prints the lineage of an exported TFRecord file (or export folder): "
        "every artifact and execution from the export back to the VOC input.",
    )
    parser.add_argument(
        "path", metavar="PATH", help="an exported TFRecord file or the export folder"
    )
    parser.add_argument(
        "--metadata",
        metavar="FILE",
        help="the ML Metadata SQLite file (default: OUT/metadata.sqlite "
        "when PATH lies inside OUT/export)",
    )
    parser.add_argument(
        "--json", action="store_true", dest="as_json", help="print a machine-readable JSON document"
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="recompute the sha256 of the exported files and the input "
        "fingerprint; exit non-zero if anything changed since the run",
    )
    parser.add_argument(
        "--reproduce-command",
        action="store_true",
        help="print the `odweights run` command that made the export, every "
        "recorded option spelt out, with a new --output-dir to fill in",
    )
    parser.add_argument(
        "--reproduce",
        metavar="DIR",
        help="run that command into the new folder DIR and compare every "
        "exported file's sha256 with the recorded one (differences of the "
        "input and the environment are named first); exit 0 all same, 3 any "
        "differs, 2 bad usage (e.g. DIR already holds an export)",
    )
    parser.set_defaults(handler=_audit)


def _audit(args) -> int:
    _quiet_tensorflow()
    chosen = [
        flag
        for flag, given in (
            ("--verify", args.verify),
            ("--reproduce-command", args.reproduce_command),
            ("--reproduce", args.reproduce is not None),
        )
        if given
    ]
    if len(chosen) > 1:
        raise errors.InvalidOptionsError(f"choose one of {', '.join(chosen)}")
    from odweights.app import audit

    if args.reproduce_command or args.reproduce is not None:
        from odweights.app import reproduce

        metadata = args.metadata or audit.default_metadata_path(args.path)
        if args.reproduce_command:
            return reproduce.run_reproduce_command(args.path, metadata, as_json=args.as_json)
        return reproduce.run_reproduce(args.path, metadata, args.reproduce, as_json=args.as_json)
    return audit.run_audit(args.path, args.metadata, as_json=args.as_json, verify=args.verify)


def _add_report(subparsers) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write the HTML run report OUT/export/report.html again",
        description="Writes OUT/export/report.html from an output folder of `odweights run` "
        "(its export, ML Metadata and the VOC files it names): the run, the classes and "
        "weights, the rejections drawn on their images, data-quality flags, a sample of the "
        "exported examples and the lineage. One self-contained file; see docs/report.md.",
    )
    parser.add_argument("output_dir", metavar="OUT", help="the --output-dir of `odweights run`")
    parser.set_defaults(handler=_report)


def _report(args) -> int:
    from odweights.pipelines.local_runner import EXPORT_DIR

    if not os.path.isdir(os.path.join(args.output_dir, EXPORT_DIR)):
        raise errors.InvalidOptionsError(
            f"{args.output_dir} has no export/ folder: give the --output-dir of a finished "
            "`odweights run`"
        )
    _quiet_tensorflow()
    from odweights.app.report.writer import write_report

    print(f"Report: {write_report(args.output_dir)}")
    return errors.EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="odweights",
        description="Pascal VOC to class-weighted TFRecords for the TensorFlow Object "
        "Detection API, as a TFX pipeline tracked in ML Metadata.",
    )
    parser.add_argument("--version", action="version", version=f"odweights {odweights.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_sample_data(subparsers)
    _add_run(subparsers)
    _add_compile_kubeflow(subparsers)
    _add_audit(subparsers)
    _add_report(subparsers)
    return parser


def _join_beam_args(argv: list[str]) -> list[str]:
    """`--beam-arg --runner=X` -> `--beam-arg=--runner=X`: argparse would read the
    value, which starts with '--', as an option of its own."""
    joined: list[str] = []
    values = iter(argv)
    for arg in values:
        if arg == "--beam-arg":
            value = next(values, None)
            joined.append(arg if value is None else f"--beam-arg={value}")
        else:
            joined.append(arg)
    return joined


def _warnings_to_log() -> None:
    """Third-party warnings (Google's client libraries warn about the Python version, TFX
    and Beam about deprecations while they load) go to the `py.warnings` logger, never
    to the console: `run` writes them to OUT/run.log (progress.capture_logs), the other
    subcommands, which keep no log file, drop them."""
    logging.captureWarnings(True)
    logger = logging.getLogger("py.warnings")
    logger.propagate = False
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())


def main(argv: list[str] | None = None) -> int:
    _warnings_to_log()
    parser = build_parser()
    args = parser.parse_args(_join_beam_args(sys.argv[1:] if argv is None else list(argv)))
    try:
        return args.handler(args)
    except errors.OdWeightsError as error:
        print(f"odweights: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        # a second Ctrl-C while Python shuts down would print a traceback
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print(INTERRUPTED_MESSAGE, file=sys.stderr)
        return errors.EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
