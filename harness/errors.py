"""The exception types users see."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class HarnessError(Exception):
    """A user-facing error: the CLI prints its message on one line and exits non-zero."""


class PredictorError(Exception):
    """An exception escaped a predictor's code: a plugin's bug, reported by predictor and input.

    Not a HarnessError, so that it is never mistaken for a refused input (a corrupt stream, a
    failed check); the original exception is its `__cause__`, for `--debug`'s traceback."""


@contextmanager
def predictor_errors(spec: str, input_name: str) -> Iterator[None]:
    """Name the predictor and the input in any exception the block's predictor calls raise.

    A HarnessError passes unchanged: a predictor refusing its options says so in its own words.
    """
    try:
        yield
    except (HarnessError, PredictorError):
        raise
    except Exception as error:
        raise PredictorError(f"predictor {spec!r} failed on {input_name}: {type(error).__name__}: {error}") from error
