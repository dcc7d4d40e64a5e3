"""The one exception type users see."""


class HarnessError(Exception):
    """A user-facing error: the CLI prints its message on one line and exits non-zero."""
