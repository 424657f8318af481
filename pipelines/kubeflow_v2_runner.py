"""Compiles the odweights pipeline for Kubeflow Pipelines v2 and Vertex AI Pipelines.

The pipeline is the one `odweights run` runs (`create_pipeline`, same options);
only the orchestrator differs: TFX's KubeflowV2DagRunner writes it as a
pipeline file whose every task runs TFX's container entrypoint
(`kubeflow_v2_run_executor`) in the image built from kubeflow/Dockerfile.

Pipeline spec schema 2.1 is used because with it each task carries its input
spec, and the entrypoint then reads the parameters from `parameterValues`,
the field that current KFP v2 launchers and Vertex AI fill.
"""

import os
import posixpath

from odweights.errors import InvalidOptionsError
from odweights.pipelines.options import PipelineOptions

# OdExport publishes the OD API files here, below the pipeline root, as
# `odweights run` does below its output directory: the latest run's export.
EXPORT_FOLDER = "export"

# A JSON file is a PipelineJob (Vertex AI, and KFP's v2 REST API); a YAML file
# is the bare PipelineSpec that the KFP v2 SDK client uploads.
OUTPUT_SUFFIXES = (".json", ".yaml", ".yml")


def compile_pipeline(options: PipelineOptions, output_file: str, image: str,
                     pipeline_root: str) -> None:
    """Writes the pipeline of `options` to `output_file` for KFP v2 / Vertex AI.

    Args:
      options: the same options as `odweights run`; `voc_dir` must be readable
        by the cluster (e.g. gs://bucket/VOCdevkit), and is read here too, to
        choose the dataset layout.
      output_file: `.json` (PipelineJob) or `.yaml`/`.yml` (PipelineSpec); a
        local path or a URL TensorFlow can write (gs://...).
      image: the component image built from kubeflow/Dockerfile and pushed to
        a registry the cluster pulls from.
      pipeline_root: where the components write their artifacts (gs://...);
        the export is published to PIPELINE_ROOT/export.
    Raises:
      InvalidOptionsError: a missing image or root, or an unknown file type.
    """
    options.validate()
    if not image:
        raise InvalidOptionsError(
            "give the component image with --image, e.g. "
            "--image us-docker.pkg.dev/PROJECT/REPO/odweights:0.1.0 (build it from "
            "kubeflow/Dockerfile and push it first, see kubeflow/README.md)")
    if not pipeline_root:
        raise InvalidOptionsError(
            "give the pipeline root with --pipeline-root, a folder the cluster can "
            "write, e.g. --pipeline-root gs://BUCKET/odweights")
    if not output_file.endswith(OUTPUT_SUFFIXES):
        raise InvalidOptionsError(
            f"--output {output_file}: name the file .json (PipelineJob, for Vertex AI) "
            "or .yaml (PipelineSpec, for the KFP v2 client)")
    # Heavy imports (TFX) only once the options are known to be usable.
    from tfx import v1 as tfx
    from odweights.pipelines.pipeline import create_pipeline

    pipeline = create_pipeline(
        pipeline_root=pipeline_root,
        export_dir=posixpath.join(pipeline_root.rstrip("/"), EXPORT_FOLDER),
        metadata_connection_config=None,
        **options.factory_arguments())
    config = tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
        default_image=image, use_pipeline_spec_2_1=True)
    if "://" not in output_file:
        output_file = os.path.abspath(output_file)
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=config, output_dir=os.path.dirname(output_file),
        output_filename=os.path.basename(output_file))
    runner.run(pipeline)
