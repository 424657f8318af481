"""The kfp 2 SDK (the `odweights[kfp]` extra, tfx-1.21 stack only; docs/platforms.md)
reads the PipelineSpec that `compile-kubeflow` writes, as `kfp.Client().
create_run_from_pipeline_package` does before it uploads it."""

import pytest

from odweights.pipelines import kubeflow_v2_runner
from odweights.pipelines.options import PipelineOptions

# kfp-pipeline-spec alone installs a `kfp` namespace package: the SDK is kfp.components.
components = pytest.importorskip(
    "kfp.components",
    reason="the kfp 2 SDK is not installed: it is the odweights[kfp] extra of the "
    "tfx-1.21 stack (it needs protobuf >= 4.21, which the tfx-1.16 stack cannot have)",
)


def test_kfp_loads_the_compiled_pipeline_spec(tmp_path):
    import kfp  # pylint: disable=import-outside-toplevel

    output = tmp_path / "odweights.yaml"
    options = PipelineOptions(voc_dir="gs://bucket/VOCdevkit")
    tasks = kubeflow_v2_runner.compile_pipeline(
        options, str(output), "registry.example.com/odweights:0.1.0", "gs://bucket/root"
    )
    pipeline = components.load_component_from_file(str(output))
    spec = pipeline.pipeline_spec
    assert spec.pipeline_info.name == options.pipeline_name
    assert len(spec.root.dag.tasks) == tasks
    assert kfp.__version__.split(".")[0] == "2"
