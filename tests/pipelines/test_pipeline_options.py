"""PipelineOptions: parsing helpers, validation, and what reaches create_pipeline."""

import inspect

import pytest
from apache_beam.options.pipeline_options import DirectOptions, StandardOptions
from apache_beam.options.pipeline_options import PipelineOptions as BeamOptions

from odweights.errors import InvalidOptionsError
from odweights.pipelines import options
from odweights.pipelines.options import PipelineOptions


def test_parse_splits():
    assert options.parse_splits("train, val") == ("train", "val")


def test_weights_split_is_train_if_chosen_else_the_first():
    assert PipelineOptions(voc_dir="d").weights_split == "train"
    assert PipelineOptions(voc_dir="d", splits=("val", "train")).weights_split == "train"
    assert PipelineOptions(voc_dir="d", splits=("trainval", "test")).weights_split == "trainval"


def test_defaults_are_valid_and_name_the_in_process_runner_on_both_stacks():
    PipelineOptions(voc_dir="d").validate()
    beam = BeamOptions(list(PipelineOptions(voc_dir="d").beam_pipeline_args))
    # Named, so that a Beam whose DirectRunner would try Prism first runs it too
    # (docs/platforms.md); Beam resolves the name on both stacks.
    runner = beam.view_as(StandardOptions).runner
    assert runner == "apache_beam.runners.portability.fn_api_runner.FnApiRunner"
    from apache_beam.runners import create_runner
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    assert type(create_runner(runner)) is FnApiRunner
    assert beam.view_as(DirectOptions).direct_running_mode == "in_memory"
    assert beam.view_as(DirectOptions).direct_num_workers == 1


def test_user_beam_args_are_appended_and_a_users_runner_replaces_the_default():
    chosen = PipelineOptions(voc_dir="d", beam_args=("--runner=FlinkRunner",))
    assert chosen.beam_pipeline_args == ("--runner=FlinkRunner",)
    assert chosen.factory_arguments()["beam_pipeline_args"] == ["--runner=FlinkRunner"]
    other = PipelineOptions(voc_dir="d", beam_args=("--temp_location=/tmp/beam",))
    assert other.beam_pipeline_args == (options.IN_PROCESS_RUNNER_ARG, "--temp_location=/tmp/beam")


def test_ingest_workers_give_the_example_gen_alone_worker_processes(tmp_path):
    from odweights.pipelines.pipeline import create_pipeline

    assert options.ingest_beam_args(1) == ()
    (tmp_path / "a.xml").write_text("<annotation/>")  # a flat layout
    arguments = PipelineOptions(voc_dir=str(tmp_path), ingest_workers=0).factory_arguments()
    beam = BeamOptions(arguments["ingest_beam_args"]).view_as(DirectOptions)
    assert (beam.direct_running_mode, beam.direct_num_workers) == ("multi_processing", 0)
    pipeline = create_pipeline(
        pipeline_root=str(tmp_path / "root"), export_dir=str(tmp_path / "export"), **arguments
    )
    beam_args = {
        component.id: list(component.executor_spec.beam_pipeline_args)
        for component in pipeline.components
        if hasattr(component.executor_spec, "beam_pipeline_args")
    }
    runner = [options.IN_PROCESS_RUNNER_ARG]
    assert beam_args.pop("VocExampleGen") == runner + arguments["ingest_beam_args"]
    assert beam_args and all(args == runner for args in beam_args.values())


def test_factory_arguments_are_exactly_create_pipelines_parameters():
    from odweights.pipelines.pipeline import create_pipeline

    parameters = set(inspect.signature(create_pipeline).parameters)
    given = set(PipelineOptions(voc_dir="d").factory_arguments())
    assert given <= parameters
    assert parameters - given == {"pipeline_root", "export_dir", "metadata_connection_config"}


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(label_map_text="item { name: 'a' id: 1 } item { name: 'a' id: 2 }"), "listed twice"),
        (dict(exif_policy="rotate"), "EXIF policy 'rotate'"),
        (dict(resample="lvis"), "resample \\(--resample\\) must be one of"),
        (dict(rfs_rounding="floor"), "rfs_rounding must be one of"),
        (dict(voc_dir=""), "--voc-dir"),
        (dict(ingest_workers=-1), "--ingest-workers -1"),
    ],
)
def test_validation_errors(changes, message):
    values = dict(voc_dir="d")
    values.update(changes)
    with pytest.raises(InvalidOptionsError, match=message):
        PipelineOptions(**values).validate()
