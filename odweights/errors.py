"""Errors that odweights reports to users, each with its own exit code."""

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_INVALID_OPTIONS = 2
EXIT_BAD_INPUT = 3
EXIT_INTERRUPTED = 130  # the shell's code for a process ended by Ctrl-C (128 + SIGINT)


def interrupted(error: BaseException) -> bool:
    """Whether a Ctrl-C (KeyboardInterrupt) caused `error`, however it was wrapped."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


class OdWeightsError(Exception):
    """An error whose message tells the user what to do."""

    exit_code = EXIT_INTERNAL


class InvalidOptionsError(OdWeightsError, ValueError):
    """A parameter or option has a value that cannot be used."""

    exit_code = EXIT_INVALID_OPTIONS


class BadInputError(OdWeightsError):
    """The input data is bad beyond what the options allow."""

    exit_code = EXIT_BAD_INPUT


class IngestStoppedError(BadInputError):
    """The VOC ExampleGen stopped the run; `report_dir` holds its rejected.jsonl and
    totals.json, which `odweights run` still publishes.

    The folder is the exception's second argument, so that it survives Beam, which
    re-raises an exception as `type(e)(message + where, *other arguments)`.
    """

    def __init__(self, message: str, report_dir: str = ""):
        super().__init__(message, report_dir)
        self.report_dir = report_dir

    def __str__(self) -> str:
        return str(self.args[0])
