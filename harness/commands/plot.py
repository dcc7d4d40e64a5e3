"""`harness plot`: PNG charts of the stored results, and the online loss curves."""

from __future__ import annotations

import argparse

from harness import files, leaderboard, results, ui
from harness.commands.leaderboard import stored
from harness.errors import HarnessError


def run(args: argparse.Namespace) -> None:
    from harness import plots  # matplotlib is loaded only by the commands that draw

    if args.kind == "curve":
        _plot_curve(args)
        return
    _, df = stored(args)
    labels = _labels(args)
    folder = files.output_folder(args.output_dir)
    kinds = list(plots.KINDS) if args.kind == "all" else [args.kind]
    for name, data in plots.charts(df, kinds, args.format, args.dpi, labels).items():
        files.write_atomically(folder / name, data, force=True)
        ui.console.print(f"wrote {folder / name}")


def _labels(args: argparse.Namespace) -> dict[str, str]:
    """--label SPEC=NAME as spec -> name, each spec written as the store writes it."""
    labels, registry = {}, ui.registry(args) if args.label else None
    for given in args.label:
        spec, equals, name = given.rpartition("=")
        if not equals or not spec or not name.strip():
            raise HarnessError(f"--label {given!r}: expected SPEC=NAME, e.g. --label 'hf:./smollm2,batch=64=SmolLM2'")
        try:
            spec = registry.predictor(spec)[2]
        except HarnessError:
            pass  # a baseline's name, or a spec of a predictor not installed here: taken as written
        labels[spec] = name.strip()
    return labels


def _plot_curve(args: argparse.Namespace) -> None:
    """The online loss curves of the selected runs (latest per spec and corpus) in one PNG."""
    from harness import curves, plots

    store = results.store_path(args.results)
    registry = ui.registry(args)
    specs = [registry.predictor(spec)[2] for spec in args.spec or []]
    latest = {}
    for record in results.read(store):
        in_corpus = leaderboard.matches(record.corpus, args.corpus or [], registry.subsets())
        if record.curve and in_corpus and (not specs or record.spec in specs):
            latest[record.spec, record.corpus] = record
    if not latest:
        raise HarnessError(
            f"no results with a loss curve in {store} for that selection; run `harness run` first (a published "
            "store leaves the curves out: they stay in the working store that measured)"
        )
    folder = files.output_folder(args.output_dir)
    output = folder / "loss-curve.png"
    output = output.with_suffix(f".{args.format}")
    figure = curves.figure(store, list(latest.values()), args.window)
    files.write_atomically(output, plots.rendered(figure, args.format, args.dpi), force=True)
    ui.console.print(f"wrote {output}")
