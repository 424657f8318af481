"""Live progress of a pipeline run: each component's start and end, with elapsed time.

The hook is the orchestrators' own log records. LocalDagRunner logs
"Component %s is running." / "... is finished." around each node, TFX's
BeamDagRunner "node %s is running." / "... is finished.", and TFX's Launcher
(used by both) "A cached execution %d is used." or "Going to run a new
execution %d" in between. A logging.Handler on the `absl` logger sees these
records in the process that orchestrates (BeamDagRunner runs its node DoFns on
the in-process DirectRunner), without patching TFX and without a second
connection to the SQLite ML Metadata while TFX writes it (polling it could
make TFX's own writes fail on a locked database). Should a TFX release reword
these messages, the lines stop appearing but the run is unaffected, and the
summary printed at the end still comes from ML Metadata; the end-to-end tests
check these lines, so such a change is noticed.

`capture_logs` moves everything TFX, Beam and TensorFlow log into a file, so
the console shows progress and the summary, and the file shows the rest.
"""

import contextlib
import logging
import re
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import TextIO

from absl import logging as absl_logging

_NODE_STARTED = re.compile(r"^(?:Component|node) (\S+) is running\.$")
_NODE_FINISHED = re.compile(r"^(?:Component|node) (\S+) is finished\.$")
_CACHED = re.compile(r"^A cached execution (\d+) is used\.$")
_EXECUTED = re.compile(r"^Going to run a new execution (\d+)$")


class ProgressHandler(logging.Handler):
    """Prints `[i/n] Component  started` and `... done in 12.3 s` lines to a stream."""

    def __init__(
        self,
        component_ids: Sequence[str],
        stream: TextIO,
        clock: Callable[[], float] = time.monotonic,
    ):
        super().__init__(level=logging.INFO)
        self._component_ids = list(component_ids)
        self._stream = stream
        self._clock = clock
        self._current: str | None = None
        self._started = 0.0
        self._cached = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record of someone else's is not our failure
            return
        started = _NODE_STARTED.match(message)
        if started:
            self._current, self._started, self._cached = started.group(1), self._clock(), False
            self._print(self._current, "started")
        elif _CACHED.match(message):
            self._cached = True
        elif _EXECUTED.match(message):
            self._cached = False
        else:
            finished = _NODE_FINISHED.match(message)
            if finished:
                elapsed = self._clock() - self._started
                state = "reused from cache" if self._cached else "done"
                self._print(finished.group(1), f"{state} in {elapsed:.1f} s")
                self._current = None

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """Within the block, the orchestrators' records (`absl` logger) reach this handler."""
        absl_logger = logging.getLogger("absl")
        absl_logger.addHandler(self)
        try:
            yield
        finally:
            absl_logger.removeHandler(self)

    def failed(self) -> None:
        """Reports the component that was running when the run stopped, if any."""
        if self._current is not None:
            self._print(self._current, f"FAILED after {self._clock() - self._started:.1f} s")
            self._current = None

    def _print(self, component_id: str, text: str) -> None:
        if component_id in self._component_ids:
            position = f"[{self._component_ids.index(component_id) + 1}/{len(self._component_ids)}]"
        else:
            position = "[   ]"
        self._stream.write(f"{position} {component_id:<18} {text}\n")
        self._stream.flush()


@contextlib.contextmanager
def capture_logs(log_file: str) -> Iterator[None]:
    """Within the block, every log record and warning goes to `log_file`, none to the console.

    Console handlers of any logger (the root's, absl's, TensorFlow's own) are
    set aside and put back afterwards. absl's level is set through its own
    verbosity (absl.logging.set_verbosity), not Logger.setLevel: TensorFlow
    saves and restores that verbosity around SavedModel export, which would
    otherwise silence INFO records from Transform on.
    """
    root = logging.getLogger()
    loggers = [root] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger) and logger.handlers
    ]
    saved = [(logger, list(logger.handlers), logger.propagate) for logger in loggers]
    saved_root_level = root.level
    absl_logger = logging.getLogger("absl")
    saved_verbosity, saved_absl_level = absl_logging.get_verbosity(), absl_logger.level
    file_handler = logging.FileHandler(log_file, mode="w", encoding="utf-8")
    file_handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s %(filename)s:%(lineno)d] %(message)s")
    )
    for logger, handlers, _ in saved:
        for handler in handlers:
            logger.removeHandler(handler)
        logger.propagate = True
    root.addHandler(file_handler)
    root.setLevel(logging.INFO)
    absl_logging.set_verbosity(absl_logging.INFO)
    logging.captureWarnings(True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            yield
    finally:
        logging.captureWarnings(False)
        root.removeHandler(file_handler)
        file_handler.close()
        absl_logging.set_verbosity(saved_verbosity)
        absl_logger.setLevel(saved_absl_level)
        root.setLevel(saved_root_level)
        for logger, handlers, propagate in saved:
            logger.propagate = propagate
            for handler in handlers:
                logger.addHandler(handler)
