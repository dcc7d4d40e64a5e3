"""The hooks a plugin implements. Read this file top to bottom to write one.

A plugin is any module (or object) with functions named like the hooks below, each decorated
with `@hookimpl`. The harness finds plugins three ways, all through one pluggy manager:

- built-ins: the modules in `harness.registry.DEFAULT_PLUGINS` (`plugins/`, `corpora/`);
- installed packages, through the entry-point group `harness` in their pyproject.toml:
      [project.entry-points.harness]
      mypredictor = "my_package.my_module"
- a single file given on the command line: `harness --plugin path/to/file.py ...`
- tests and scripts: `harness.registry.manager(extra=[module])`.

Each hook returns a list; names must be unique across all plugins, and the harness says which
two plugins clash when they are not.

Minimal predictor plugin:

    import numpy as np
    from harness import Predictor, hookimpl

    class Uniform(Predictor):
        name = "uniform"
        description = "every byte equally likely (8 bits/byte)"

        def predict(self) -> np.ndarray:
            return np.full(256, 1 / 256)

        def update(self, symbol: int) -> None:
            pass

    @hookimpl
    def harness_predictors():
        return [Uniform]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from harness.baselines import Baseline
    from harness.corpus import Corpus
    from harness.predictor import SequenceCoder

hookspec = pluggy.HookspecMarker("harness")
hookimpl = pluggy.HookimplMarker("harness")


@hookspec
def harness_predictors() -> list[type[SequenceCoder]]:
    """Return the predictor classes this plugin provides: subclasses of `Predictor` (a step
    model: predict/update) or of `SequenceCoder` (a model that codes whole sequences itself)."""


@hookspec
def corpora() -> list[Corpus]:
    """Return the corpora this plugin provides (`harness.corpus.Corpus`)."""


@hookspec
def harness_baselines() -> list[Baseline]:
    """Return the reference compressors this plugin provides (`harness.baselines.Baseline`)."""
