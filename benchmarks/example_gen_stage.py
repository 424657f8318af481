"""Benchmark stage (b): the VOC ExampleGen alone, in a one-component pipeline.

Runs VocExampleGen on TFX's LocalDagRunner with SQLite ML Metadata, exactly
as `odweights run` runs its first component, so that its cost can be compared
with the serial baseline without the rest of the pipeline.

Usage: python benchmarks/example_gen_stage.py --voc-dir DIR --work-dir DIR
       [--beam-arg ARG ...]
Prints one JSON line with its own timings (epoch seconds) on stdout.
"""

import argparse
import json
import os
import sys
import time

_STARTED = time.time()

from tfx import v1 as tfx  # noqa: E402

from odweights.components.voc_example_gen.component import VocExampleGen  # noqa: E402
from odweights.components.voc_example_gen.layout import voc_input_configs  # noqa: E402

PIPELINE_NAME = "bench-example-gen"
METADATA_FILE = "metadata.sqlite"


def run_example_gen(voc_dir: str, work_dir: str, beam_args) -> None:
    input_base, input_config, output_config = voc_input_configs(voc_dir)
    example_gen = VocExampleGen(
        input_base=input_base, input_config=input_config, output_config=output_config
    )
    pipeline = tfx.dsl.Pipeline(
        pipeline_name=PIPELINE_NAME,
        pipeline_root=os.path.join(work_dir, "pipeline"),
        components=[example_gen],
        enable_cache=False,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            os.path.join(work_dir, METADATA_FILE)
        ),
        beam_pipeline_args=list(beam_args),
    )
    tfx.orchestration.LocalDagRunner().run(pipeline)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voc-dir", required=True)
    parser.add_argument("--work-dir", required=True)
    parser.add_argument("--beam-arg", action="append", default=[], dest="beam_args")
    args = parser.parse_args(argv)
    imports_done = time.time()
    run_example_gen(args.voc_dir, args.work_dir, args.beam_args)
    print(json.dumps({"started": _STARTED, "imports_done": imports_done, "finished": time.time()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
