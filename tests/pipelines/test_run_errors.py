"""How a failure inside a pipeline run becomes a user-facing error and exit code.

The real failures (BadInputError raised in VOC ExampleGen's executor on both
orchestrators) are in test_local_runner; these cover the shapes of exception
that Beam hands back.
"""

import apache_beam as beam
import pytest

from odweights import errors
from odweights.pipelines.local_runner import user_error

LOG = "/out/run.log"


class _RaiseBadInput(beam.DoFn):
    def process(self, element):
        raise errors.BadInputError("3 of 10 images rejected; fix them or raise the limit")


def test_error_raised_in_a_beam_step_keeps_its_class_without_the_step_name():
    with pytest.raises(errors.BadInputError) as raised:
        with beam.Pipeline() as pipeline:
            _ = pipeline | beam.Create([1]) | "Convert" >> beam.ParDo(_RaiseBadInput())
    assert "[while running" in str(raised.value)
    reported = user_error(raised.value, LOG)
    assert type(reported) is errors.BadInputError
    assert reported.exit_code == errors.EXIT_BAD_INPUT
    assert str(reported) == (
        "3 of 10 images rejected; fix them or raise the limit\n(details: /out/run.log)"
    )


def test_error_returned_as_text_by_a_worker_process_is_recognised():
    remote = RuntimeError(
        'Traceback (most recent call last):\n  File "executor.py", line 3\n'
        "odweights.errors.BadInputError: 2 images rejected [while running 'Run[VocExampleGen]']"
        "\n"
    )
    reported = user_error(remote, LOG)
    assert type(reported) is errors.BadInputError
    assert str(reported).startswith("2 images rejected\n")


def test_anything_else_is_an_internal_failure_pointing_at_the_log():
    reported = user_error(KeyError("split_names"), LOG)
    assert type(reported) is errors.OdWeightsError
    assert reported.exit_code == errors.EXIT_INTERNAL
    assert "internal failure: KeyError: 'split_names'" in str(reported)
    assert LOG in str(reported)
