"""Plugin discovery and the registry of predictors, corpora and baselines.

The built-in plugins are the modules named in DEFAULT_PLUGINS, registered in code (as pytest's
default_plugins are): a module added there is picked up at once, no reinstall needed. Their
modules are light (torch, transformers and matplotlib are imported only when a model is built or
a chart drawn), so loading the registry costs little. Third-party plugins come through the
`harness` entry-point group and `--plugin FILE`. A plugin that fails to import is reported in
`Registry.errors` and the others keep working; two plugins that register the same name are an
error naming both.
"""

from __future__ import annotations

import contextvars
import difflib
import importlib.metadata
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Generic, TypeVar

import pluggy
import psutil

import harness.trust
from harness import corpus, hookspecs, setup_check, wire
from harness.corpus import CorpusFile
from harness.errors import HarnessError
from harness.predictor import SequenceCoder, canonical_spec, defaults, memory_need, parse_spec, typed_options

ENTRY_POINT_GROUP = "harness"
DEFAULT_PLUGINS = (
    "plugins.order0",
    "plugins.ngram",
    "plugins.cm",
    "plugins.lstm",
    "plugins.gpt",
    "plugins.hf",
    "plugins.mix",
    "plugins.baselines",
    "corpora",
)
"""The built-in plugins, by module; each is registered under its last name (`ngram`)."""
OWN_DISTRIBUTION = "compression-harness"
T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered thing and the plugin that provides it."""

    name: str
    item: T
    description: str
    plugin: str


@dataclass
class Registry:
    predictors: dict[str, Entry[type[SequenceCoder]]] = field(default_factory=dict)
    corpora: dict[str, Entry[Any]] = field(default_factory=dict)
    baselines: dict[str, Entry[Any]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    """One line per plugin that could not be loaded."""
    _resolved: dict[str, tuple[type[SequenceCoder], dict[str, Any], str]] = field(default_factory=dict, repr=False)

    def _class(self, name: str) -> type[SequenceCoder]:
        """The class registered as `name`, its options not yet read."""
        head, comma, rest = name.partition(",")
        if comma and name not in self.predictors and head in self.predictors:
            raise HarnessError(f"unknown predictor {name!r}: options follow a ':', as in {head}:{rest}")
        return lookup(self.predictors, name, "predictor").item

    def predictor(self, spec: str) -> tuple[type[SequenceCoder], dict[str, Any], str]:
        """Resolve 'name:key=value,...' to (class, typed settings, canonical spec), once per spec:
        a run asks for the same spec at every layer (sweep, measure, decoder, mix members)."""
        if spec not in self._resolved:
            name, raw = parse_spec(spec)
            cls = self._class(name)
            settings = {**defaults(cls), **typed_options(cls, raw)}
            self._resolved[spec] = cls, settings, canonical_spec(name, settings, cls)
        cls, settings, canonical = self._resolved[spec]
        return cls, dict(settings), canonical

    def portable_spec(self, spec: str) -> str:
        """The spec a `.hz` header records: the same predictor, named without this machine's paths."""
        cls, settings, _ = self.predictor(spec)
        return canonical_spec(cls.name, cls.portable(settings), cls)

    def corpus_files(self, specs: list[str], data_dir: str | None = None) -> list[CorpusFile]:
        """The files the corpus specs name (registered corpora, members or local paths), in order."""
        known = {name: entry.item for name, entry in self.corpora.items()}
        root = corpus.data_dir(data_dir)
        return [file for spec in specs for file in corpus.resolve(spec, known, data_dir=root)]

    def subsets(self) -> dict[str, tuple[str, ...]]:
        """Each subset corpus ('canterbury-small') -> the names of its files, for leaderboards."""
        return {
            name: tuple(file.name for file in entry.item.files())
            for name, entry in self.corpora.items()
            if entry.item.subset_of
        }

    def build(self, spec: str, symbols: int = 0) -> SequenceCoder:
        """A fresh predictor instance for `spec` (to code `symbols` symbols, when known), refused
        when by its own estimate it needs more memory than the current `Trust` allows or this
        machine has."""
        cls, settings, _ = self.predictor(spec)
        need = memory_need(cls, settings, symbols)
        limit = harness.trust.current().max_memory
        if limit is not None and need > limit:
            raise HarnessError(
                f"predictor {spec!r} needs about {need >> 20:,} MiB by its own estimate, more than the "
                f"{limit >> 20:,} MiB a file may ask for; pass --max-memory MIB to allow more"
            )
        total = psutil.virtual_memory().total
        if need > total:
            raise HarnessError(
                f"predictor {spec!r} needs about {need >> 20:,} MiB, more than this machine's {total >> 20:,} MiB"
            )
        try:
            return cls(**settings)
        except MemoryError:
            raise HarnessError(f"not enough memory to build predictor {spec!r}") from None

    def decoder(self, header: wire.Header) -> SequenceCoder:
        """The predictor that decodes `header`'s stream, built only once the header passed every
        check that needs no built predictor (a `.hz` file is untrusted input)."""
        cls, settings, _ = self.predictor(header.spec)
        setup_check.check_header(header, cls, settings)
        return self.build(header.spec, header.symbols)


def lookup(entries: dict[str, Entry[T]], name: str, kind: str) -> Entry[T]:
    """The entry called `name`, or an error naming close matches and what exists."""
    if name in entries:
        return entries[name]
    close = difflib.get_close_matches(name, list(entries), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    known = ", ".join(sorted(entries)) or "none"
    raise HarnessError(f"unknown {kind} {name!r}{hint} (known: {known})")


def _load_file(path: str) -> ModuleType:
    file = Path(path)
    try:
        found = file.is_file()
    except OSError as error:  # is_file() raises for some: a name too long, a folder it may not search
        raise HarnessError(f"cannot load plugin file {path}: {error.strerror}") from None
    if not found:
        raise HarnessError(f"plugin file not found: {path}")
    module_name = f"harness_plugin_file_{abs(hash(str(file.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise HarnessError(f"cannot load plugin file {path}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # a plugin's own bug: report it as one line
        raise HarnessError(f"plugin file {path} failed to load: {error!r}") from None
    return module


def manager(plugin_files: list[str] = (), extra: list[object] = ()) -> tuple[pluggy.PluginManager, list[str]]:
    """A plugin manager with the built-ins, entry-point plugins, plugin files and `extra` objects
    registered.

    Returns the manager and one error line per plugin that failed to load.
    """
    pm = pluggy.PluginManager("harness")
    pm.add_hookspecs(hookspecs)
    errors = []
    plugins = [(m.rpartition(".")[2], m, lambda m=m: importlib.import_module(m)) for m in DEFAULT_PLUGINS]
    plugins += [
        (entry_point.name, entry_point.value, entry_point.load)
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
        if not entry_point.dist or entry_point.dist.name != OWN_DISTRIBUTION  # an older install's built-ins
    ]
    for name, where, load in plugins:
        if pm.get_plugin(name) is not None:
            continue  # the same distribution seen twice on sys.path
        try:
            pm.register(load(), name=name)
        except Exception as error:  # one broken plugin must not take the others down
            errors.append(f"plugin {name!r} ({where}) failed to load: {error!r}")
    loaded = set()
    for path in plugin_files:
        if (resolved := os.path.realpath(path)) in loaded:  # Path.resolve raises on a symlink loop
            continue  # the same file given twice (before and after the command, or as x.py and ./x.py)
        loaded.add(resolved)
        pm.register(_load_file(path), name=str(path))
    for plugin in extra:
        pm.register(plugin, name=getattr(plugin, "__name__", None))
    return pm, errors


def _collect(pm: pluggy.PluginManager, hook: str, kind: str, errors: list[str]) -> dict[str, Entry[Any]]:
    entries: dict[str, Entry[Any]] = {}
    for impl in getattr(pm.hook, hook).get_hookimpls():
        try:
            items = impl.function()
        except Exception as error:
            errors.append(f"plugin {impl.plugin_name!r} failed in {hook}: {error!r}")
            continue
        for item in items or []:
            name = getattr(item, "name", None)
            if not isinstance(name, str) or not name:
                errors.append(f"plugin {impl.plugin_name!r} returned {item!r} from {hook}, which has no name")
                continue
            if name in entries:
                raise HarnessError(
                    f"{kind} {name!r} is registered twice: by plugin {entries[name].plugin!r}"
                    f" and by plugin {impl.plugin_name!r}"
                )
            entries[name] = Entry(name, item, getattr(item, "description", ""), impl.plugin_name)
    return dict(sorted(entries.items()))


def load_registry(plugin_files: list[str] = (), extra: list[object] = ()) -> Registry:
    """Discover every plugin and collect what they register; the registry becomes `current()`."""
    pm, errors = manager(plugin_files, extra)
    registry = Registry(
        predictors=_collect(pm, "harness_predictors", "predictor", errors),
        corpora=_collect(pm, "corpora", "corpus", errors),
        baselines=_collect(pm, "harness_baselines", "baseline", errors),
        errors=errors,
    )
    _current.set(registry)
    return registry


_current: contextvars.ContextVar[Registry | None] = contextvars.ContextVar("registry", default=None)


def current() -> Registry:
    """The registry loaded last (with the command's plugin files and entry points), loading the
    installed plugins where none was: predictors made of other predictors (`mix`) resolve their
    members here, so a member may come from any plugin the command loaded."""
    return _current.get() or load_registry()
