"""numba, set up once for every compiled kernel (the coder's and the plugins'): `jit` compiles a
function on its first call and caches the machine code, so later processes load it instead.

numba itself is imported by a kernel's first call, not by the module that defines it: commands
that code nothing (`list`, `leaderboard`, `publish`) load no compiler, though every built-in
plugin defines kernels. Until then a kernel is a `Kernel`, which numba types as the compiled
function it stands for, so kernels call each other as usual.

The cache lives in the user's cache folder, `$NUMBA_CACHE_DIR` where set (numba's own variable),
else `<harness cache dir>/numba/<digest>` ($HARNESS_CACHE_DIR, else ~/.cache/harness): never in
the installed source tree, which may be read-only or shared. The digest is of the harness's and
the built-in plugins' source: numba checks a cached kernel against its own file only, not
against the files of the kernels it calls and inlines (cm's `code_byte` calls `harness.bitmix`),
so without it a change there would leave the old code running, and a file written with it would
not decode where the cache is fresh. A cache is an optimisation only: an
entry that cannot be read or written (a full disk, a race with another process, a damaged
index) is skipped, the kernel compiled as if there were no cache, and the run goes on.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from harness.dirs import cache_dir

_warned = False


def _note(why: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        print(f"harness: note: numba cache in {cache_folder()} skipped ({why}); compiling", file=sys.stderr)


def cache_folder() -> str:
    """Where compiled kernels are cached."""
    return os.environ.get("NUMBA_CACHE_DIR") or str(cache_dir() / "numba" / source_digest())


@functools.cache
def source_digest() -> str:
    """16 hex digits of SHA-256 over the harness's and the built-in plugins' Python source."""
    plugins = importlib.util.find_spec("plugins")
    return tree_digest([Path(__file__).parent, *([Path(plugins.origin).parent] if plugins and plugins.origin else [])])


def tree_digest(roots: list[Path]) -> str:
    digest = hashlib.sha256()
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            digest.update(f"{path.relative_to(root.parent)}\0".encode() + path.read_bytes())
    return digest.hexdigest()[:16]


@functools.cache
def _usable(folder: str) -> bool:
    try:
        os.makedirs(folder, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as error:
        _note(error.strerror or str(error))
        return False
    return True


@functools.cache
def _numba() -> ModuleType:
    """numba, imported and set up (once, by the first kernel called or timed)."""
    os.environ["NUMBA_CACHE_DIR"] = cache_folder()  # numba reads it when first imported
    import numba
    from numba.core import caching, config, event, types
    from numba.extending import typeof_impl

    config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]  # numba may have been imported before us
    # Only there: numba's fallbacks would write beside the source, in the installed tree.
    caching.CacheImpl._locator_classes = [caching.UserProvidedCacheLocator]
    caching.Cache._guard_against_spurious_io_errors = lambda self: _never_fail()

    class FirstCompileNote(event.Listener):
        def on_start(self, event: event.Event) -> None:
            _say_compiling()

        def on_end(self, event: event.Event) -> None:
            pass

    event.register("numba:compile", FirstCompileNote())
    typeof_impl.register(Kernel, lambda kernel, context: types.Dispatcher(kernel.compiled()))
    return numba


class Kernel:
    """A function compiled on its first call (without the GIL, cached across processes)."""

    def __init__(self, function: Callable[..., Any], inline: bool = False) -> None:
        functools.update_wrapper(self, function)
        self.py_func = function
        self.inline = inline
        self._compiled: Any = None

    def compiled(self) -> Any:
        """numba's dispatcher for the function (made, not yet compiled, on the first request)."""
        if self._compiled is None:
            numba = _numba()
            inline = "always" if self.inline else "never"
            self._compiled = numba.njit(cache=_usable(numba.config.CACHE_DIR), nogil=True, inline=inline)(self.py_func)
        return self._compiled

    def __call__(self, *args: Any) -> Any:
        return self.compiled()(*args)


def jit(function: Callable[..., Any]) -> Kernel:
    """The decorator for every kernel."""
    return Kernel(function)


def jit_inline(function: Callable[..., Any]) -> Kernel:
    """The decorator for a kernel that numba inlines into each kernel that calls it (before its
    own optimisation, so the reference counts of the arrays they share are pruned): for a large
    kernel called once a bit from a loop, whose calls cost more than its work."""
    return Kernel(function, inline=True)


@contextmanager
def _never_fail() -> Iterator[None]:
    """numba's guard around each cache read and write: any failure is a miss (the kernel is
    compiled) or an unsaved entry, said once on stderr, never the run's failure."""
    try:
        yield
    except Exception as error:
        _note(repr(error))


@functools.cache
def _say_compiling() -> None:
    """Says once, on a terminal, that kernels are being compiled: a first run after an install
    (or a change to the code) waits a minute or more with nothing else moving."""
    if sys.stderr.isatty():
        print(f"harness: compiling kernels, once (cached in {cache_folder()})", file=sys.stderr)


@contextmanager
def compile_timer() -> Iterator[Callable[[], float]]:
    """Yields a getter of the seconds the block spent compiling kernels or loading them from the
    cache: a once-per-process cost, which a measurement keeps out of its coding speed."""
    event = _numba().core.event
    listener = event.TimingListener()  # the compiler lock is held for both, nested calls once
    with event.install_listener("numba:compiler_lock", listener):
        yield lambda: listener.duration if listener.done else 0.0
