"""Compiles the odweights pipeline for Kubeflow Pipelines v2 and Vertex AI Pipelines.

The pipeline is the one `odweights run` runs (`create_pipeline`, same options);
only the orchestrator differs: TFX's KubeflowV2DagRunner writes it as a
pipeline file whose every task runs TFX's container entrypoint
(`kubeflow_v2_run_executor`) in the image built from kubeflow/Dockerfile.

Compiling never reads --voc-dir: VocExampleGen detects the dataset layout when
it runs, on the cluster. Its task is compiled with caching off unless asked
for: a KFP launcher decides on a cache hit from the task's parameters before
any odweights code runs, so it cannot see edited annotations or images (see
docs/kubeflow.md).

Pipeline spec schema 2.1 is used because with it each task carries its input
spec, and the entrypoint then reads the parameters from `parameterValues`,
the field that current KFP v2 launchers and Vertex AI fill.
"""

import os
import posixpath
from typing import Any

from odweights.errors import InvalidOptionsError
from odweights.maker import IMAGE_ENV
from odweights.pipelines.options import PipelineOptions

# OdExport publishes the OD API files here, below the pipeline root, as
# `odweights run` does below its output directory: the latest run's export.
EXPORT_FOLDER = "export"

# A JSON file is a PipelineJob (Vertex AI, and KFP's v2 REST API); a YAML file
# is the bare PipelineSpec that the KFP v2 SDK client uploads.
OUTPUT_SUFFIXES = (".json", ".yaml", ".yml")


INGEST_TASK = "VocExampleGen"


def local_input_warnings(voc_dir: str, label_map: str | None, pipeline_root: str) -> list[str]:
    """Warnings for local input paths in a pipeline whose root is remote (the cluster)."""
    if not _is_remote(pipeline_root):
        return []
    warnings = []
    if not _is_remote(voc_dir):
        warnings.append(
            f"--voc-dir {voc_dir} is a local path but --pipeline-root is remote: the cluster "
            "reads --voc-dir when the pipeline runs; give a path it can read (gs://...)"
        )
    if label_map and not _is_remote(label_map):
        warnings.append(
            f"--label-map {label_map} is a local path but --pipeline-root is remote: its text "
            "is compiled into the pipeline, but keep the file where others can find it"
        )
    return warnings


def _is_remote(path: str) -> bool:
    return "://" in path


def _set_ingest_caching(pipeline_job: dict[str, Any], ingest_cache: bool) -> None:
    """The VOC ExampleGen task caches only when `ingest_cache` (see the module docstring)."""
    task = pipeline_job["pipelineSpec"]["root"]["dag"]["tasks"][INGEST_TASK]
    if ingest_cache:
        task["cachingOptions"] = {"enableCache": True}
    else:
        task.pop("cachingOptions", None)


def _set_component_image_env(pipeline_job: dict[str, Any], image: str) -> None:
    """Every task's container tells its executor which image it runs in: the maker
    that the executors record in ML Metadata names it (see docs/audit.md)."""
    for executor in pipeline_job["pipelineSpec"]["deploymentSpec"]["executors"].values():
        if "container" in executor:
            executor["container"].setdefault("env", []).append({"name": IMAGE_ENV, "value": image})


def compile_pipeline(
    options: PipelineOptions,
    output_file: str,
    image: str,
    pipeline_root: str,
    ingest_cache: bool = False,
) -> int:
    """Writes the pipeline of `options` to `output_file` for KFP v2 / Vertex AI.

    Args:
      options: the same options as `odweights run`; `voc_dir` must be readable
        by the cluster (e.g. gs://bucket/VOCdevkit); it is not read here.
      output_file: `.json` (PipelineJob) or `.yaml`/`.yml` (PipelineSpec); a
        local path or a URL TensorFlow can write (gs://...).
      image: the component image built from kubeflow/Dockerfile and pushed to
        a registry the cluster pulls from.
      pipeline_root: where the components write their artifacts (gs://...);
        the export is published to PIPELINE_ROOT/export.
      ingest_cache: let KFP / Vertex AI serve the VOC ExampleGen from its cache
        when its parameters did not change (only for data that never changes
        under the same --voc-dir).
    Returns:
      the number of tasks in the written pipeline.
    Raises:
      InvalidOptionsError: a missing image or root, or an unknown file type.
    """
    options.validate()
    if not image:
        raise InvalidOptionsError(
            "give the component image with --image, e.g. "
            "--image us-docker.pkg.dev/PROJECT/REPO/odweights:0.1.0 (build it from "
            "kubeflow/Dockerfile and push it first, see kubeflow/README.md)"
        )
    if not pipeline_root:
        raise InvalidOptionsError(
            "give the pipeline root with --pipeline-root, a folder the cluster can "
            "write, e.g. --pipeline-root gs://BUCKET/odweights"
        )
    if not output_file.endswith(OUTPUT_SUFFIXES):
        raise InvalidOptionsError(
            f"--output {output_file}: name the file .json (PipelineJob, for Vertex AI) "
            "or .yaml (PipelineSpec, for the KFP v2 client)"
        )
    # Heavy imports (TFX) only once the options are known to be usable; only the
    # Kubeflow v2 runner's module, not tfx.v1 with every extension.
    import tensorflow as tf
    from tfx import version
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

    from odweights.pipelines.pipeline import create_pipeline

    pipeline = create_pipeline(
        pipeline_root=pipeline_root,
        export_dir=posixpath.join(pipeline_root.rstrip("/"), EXPORT_FOLDER),
        metadata_connection_config=None,
        **options.factory_arguments(),
    )
    config = kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
        default_image=image, use_pipeline_spec_2_1=True
    )
    if not _is_remote(output_file):
        output_file = os.path.abspath(output_file)
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=config,
        output_dir=os.path.dirname(output_file),
        output_filename=os.path.basename(output_file),
    )
    pipeline_job = runner.run(pipeline, write_out=False)
    _set_ingest_caching(pipeline_job, ingest_cache)
    _set_component_image_env(pipeline_job, image)
    tf.io.gfile.makedirs(os.path.dirname(output_file))
    # TFX's own writer: JSON PipelineJob, or YAML PipelineSpec with its comments.
    kubeflow_v2_dag_runner._write_pipeline_spec_to_file(  # pylint: disable=protected-access
        pipeline_job,
        f"This is converted from TFX pipeline from tfx-{version.__version__}.",
        output_file,
    )
    return len(pipeline_job["pipelineSpec"]["root"]["dag"]["tasks"])
