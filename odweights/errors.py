"""Errors that odweights reports to users, each with its own exit code."""

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_INVALID_OPTIONS = 2
EXIT_BAD_INPUT = 3


class OdWeightsError(Exception):
    """An error whose message tells the user what to do."""

    exit_code = EXIT_INTERNAL


class InvalidOptionsError(OdWeightsError, ValueError):
    """A parameter or option has a value that cannot be used."""

    exit_code = EXIT_INVALID_OPTIONS


class BadInputError(OdWeightsError):
    """The input data is bad beyond what the options allow."""

    exit_code = EXIT_BAD_INPUT
