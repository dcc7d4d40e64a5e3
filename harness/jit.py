"""numba, set up once for every compiled kernel (the coder's and the plugins'): `jit` compiles a
function on its first call and caches the machine code, so later processes load it instead.

The cache lives in the user's cache folder, `$NUMBA_CACHE_DIR` where set (numba's own variable),
else `<harness cache dir>/numba` ($HARNESS_CACHE_DIR, else ~/.cache/harness): never in the
installed source tree, which may be read-only or shared. A cache is an optimisation only: an
entry that cannot be read or written (a full disk, a race with another process, a damaged
index) is skipped, the kernel compiled as if there were no cache, and the run goes on.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from harness.dirs import cache_dir

os.environ.setdefault("NUMBA_CACHE_DIR", str(cache_dir() / "numba"))

import numba  # noqa: E402  (after NUMBA_CACHE_DIR: numba reads it when first imported)
from numba.core import caching, config, event  # noqa: E402

config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]  # numba may have been imported before us
# Only there: numba's fallbacks would write beside the source, in the installed tree.
caching.CacheImpl._locator_classes = [caching.UserProvidedCacheLocator]

_warned = False


def _note(why: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        print(f"harness: note: numba cache in {config.CACHE_DIR} skipped ({why}); compiling", file=sys.stderr)


def _usable(folder: str) -> bool:
    try:
        os.makedirs(folder, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as error:
        _note(error.strerror or str(error))
        return False
    return True


jit = numba.njit(cache=_usable(config.CACHE_DIR), nogil=True)
"""The decorator for every kernel: compiled without the GIL, cached across processes."""


@contextmanager
def _never_fail() -> Iterator[None]:
    """numba's guard around each cache read and write: any failure is a miss (the kernel is
    compiled) or an unsaved entry, said once on stderr, never the run's failure."""
    try:
        yield
    except Exception as error:
        _note(repr(error))


caching.Cache._guard_against_spurious_io_errors = lambda self: _never_fail()


class _FirstCompileNote(event.Listener):
    """Says once, on a terminal, that kernels are being compiled: a first run after an install
    (or a change to the code) waits a minute or more with nothing else moving."""

    said = False

    def on_start(self, event: event.Event) -> None:
        if not self.said and sys.stderr.isatty():
            type(self).said = True
            print(f"harness: compiling kernels, once (cached in {config.CACHE_DIR})", file=sys.stderr)

    def on_end(self, event: event.Event) -> None:
        pass


event.register("numba:compile", _FirstCompileNote())


@contextmanager
def compile_timer() -> Iterator[Callable[[], float]]:
    """Yields a getter of the seconds the block spent compiling kernels or loading them from the
    cache: a once-per-process cost, which a measurement keeps out of its coding speed."""
    listener = event.TimingListener()  # the compiler lock is held for both, nested calls once
    with event.install_listener("numba:compiler_lock", listener):
        yield lambda: listener.duration if listener.done else 0.0
