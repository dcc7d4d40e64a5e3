"""The exception types users see, and the characters no untrusted text shown to them may hold."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")
"""What no untrusted text (a store's, a .hz header's) may hold: a newline would forge a line of
a table, an escape sequence would drive the terminal it is printed on."""


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
