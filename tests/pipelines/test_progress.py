"""Progress lines from the orchestrators' log records (the real runs are in test_local_runner)."""

import io
import logging

from absl import logging as absl_logging

from odweights.pipelines import progress


class _Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def _lines(stream):
    return stream.getvalue().splitlines()


def test_local_and_beam_records_give_start_and_end_lines(tmp_path):
    console = io.StringIO()
    library_logger = logging.getLogger("odweights-test-library")  # like TensorFlow's logger
    library_logger.addHandler(logging.StreamHandler(console))
    library_logger.propagate = False
    stream, clock = io.StringIO(), _Clock()
    handler = progress.ProgressHandler(["A", "B"], stream, clock=clock)
    with progress.capture_logs(str(tmp_path / "run.log")), handler.watching():
        absl_logging.info("Component %s is running.", "A")
        absl_logging.info("Going to run a new execution %d", 7)
        clock.now += 2.5
        absl_logging.info("Component %s is finished.", "A")
        absl_logging.info("node %s is running.", "B")
        absl_logging.info("A cached execution %d is used.", 8)
        clock.now += 0.25
        absl_logging.info("node %s is finished.", "B")
        logging.getLogger("apache_beam").warning("noise for the log file only")
        library_logger.warning("library noise")
        absl_logging.set_verbosity(absl_logging.get_verbosity())  # as TensorFlow's SavedModel does
        absl_logging.info("Component %s is running.", "C")
    assert _lines(stream) == [
        "[1/2] A                  started",
        "[1/2] A                  done in 2.5 s",
        "[2/2] B                  started",
        "[2/2] B                  reused from cache in 0.2 s",
        "[   ] C                  started",
    ]
    assert console.getvalue() == ""
    library_logger.warning("after the run")
    assert console.getvalue() == "after the run\n"
    log = (tmp_path / "run.log").read_text()
    assert "library noise" in log
    assert "noise for the log file only" in log
    assert "Component A is running." in log


def test_failed_names_the_running_component(tmp_path):
    stream, clock = io.StringIO(), _Clock()
    handler = progress.ProgressHandler(["A"], stream, clock=clock)
    with progress.capture_logs(str(tmp_path / "run.log")), handler.watching():
        absl_logging.info("Component %s is running.", "A")
        clock.now += 1.0
    handler.failed()
    assert _lines(stream)[-1] == "[1/1] A                  FAILED after 1.0 s"


def test_logging_is_restored_afterwards(tmp_path):
    root = logging.getLogger()
    before = (
        list(root.handlers),
        root.level,
        logging.getLogger("absl").level,
        absl_logging.get_verbosity(),
    )
    handler = progress.ProgressHandler([], io.StringIO())
    with progress.capture_logs(str(tmp_path / "run.log")), handler.watching():
        pass
    assert (
        list(root.handlers),
        root.level,
        logging.getLogger("absl").level,
        absl_logging.get_verbosity(),
    ) == before
