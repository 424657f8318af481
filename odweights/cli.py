"""The `odweights` command line."""

import argparse
import sys
from typing import List, Optional

import odweights
from odweights import errors


def _add_sample_data(subparsers) -> None:
    parser = subparsers.add_parser(
        "sample-data",
        help="write a deterministic synthetic Pascal VOC dataset",
        description="Writes DIR/VOCdevkit/VOC2007/{Annotations,JPEGImages,ImageSets/Main} "
        "with real JPEG/PNG images, a long-tailed class distribution and the quirks "
        "of files written by annotation tools. Same seed and N: byte-identical files.")
    parser.add_argument("dir", metavar="DIR", help="output folder (created if missing)")
    parser.add_argument("--images", type=int, default=300, metavar="N",
                        help="number of images (default: 300)")
    parser.add_argument("--seed", type=int, default=0, metavar="S",
                        help="random seed (default: 0)")
    parser.set_defaults(handler=_sample_data)


def _sample_data(args) -> int:
    from odweights import sample_data
    summary = sample_data.write_dataset(args.dir, num_images=args.images, seed=args.seed)
    print(summary.describe())
    return errors.EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="odweights",
        description="Pascal VOC to class-weighted TFRecords for the TensorFlow Object "
        "Detection API, as a TFX pipeline tracked in ML Metadata.")
    parser.add_argument("--version", action="version",
                        version=f"odweights {odweights.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_sample_data(subparsers)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except errors.OdWeightsError as error:
        print(f"odweights: error: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
