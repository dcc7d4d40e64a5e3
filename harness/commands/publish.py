"""`harness publish`: select records from a store and write the published tables, charts and records."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness import files, results, ui
from harness.errors import HarnessError

README_LIMIT = 16 << 20
"""The largest README `--readme` reads: a Markdown page, not whatever a path names."""


def run(args: argparse.Namespace) -> None:
    from harness import publish

    store = results.store_path(args.results)
    readme = Path(args.readme) if args.readme else None
    if readme:  # read first: a path that is no README fails before the work
        try:
            text = files.read_regular(args.readme, README_LIMIT).decode("utf-8")
        except UnicodeDecodeError:
            raise HarnessError(f"cannot read {readme}: not UTF-8 text") from None
    registry = ui.registry(args)
    subsets = registry.subsets()
    records = [publish.without_paths(registry, r) for r in results.read(store)]
    published = publish.files(records, args.corpus or [], subsets, publisher=results.git_commit())
    if not published:
        raise HarnessError(f"no results in {store} for that selection; run `harness run` first")
    if readme:
        updated = publish.with_readme_table(text, publish.readme_table(records, subsets, args.corpus or []))
    folder = files.output_folder(args.output_dir)
    _refuse_losing_the_store(store, folder / "results.jsonl", published["results.jsonl"])
    for name, data in published.items():
        files.write_atomically(folder / name, data, force=True)
    if readme:
        files.write_atomically(readme, updated.encode(), force=True)
    ui.console.print(
        f"published {len(published)} files into {folder}/" + (f" and the table into {readme}" if readme else "")
    )
    if "+dirty" in results.git_commit():
        ui.console.print(
            f"warning: published from a checkout with uncommitted changes ({results.git_commit()}): the pages say so; "
            "commit and publish again for pages that name the code that made them"
        )


def _refuse_losing_the_store(store: Path, target: Path, published: bytes) -> None:
    """Publishing into the folder of the store it reads replaces that store with the records it
    shows: refused where a line would be lost (other corpora, older versions, loss curves, lines
    this version cannot read). Regenerating a published folder from its own results.jsonl is fine."""
    try:
        if not (target.exists() and target.samefile(store)):
            return
        lines = store.read_bytes().splitlines()
    except OSError:
        return  # not the same readable file: nothing of it is replaced
    kept = {_canonical(line) for line in published.splitlines()}
    dropped = sum(bool(line.strip()) and _canonical(line) not in kept for line in lines)
    if dropped:
        raise HarnessError(
            f"publishing into {target.parent}/ would replace the store it reads ({store}) with the records "
            f"it shows, losing {dropped:,} of its lines; publish from a copy, or into another folder (-o)"
        )


def _canonical(line: bytes) -> str | None:
    """A store line as JSON with sorted keys, so that the same record matches however it was
    written; None for a line that is no JSON (which publishing would lose)."""
    try:
        return json.dumps(json.loads(line), sort_keys=True)
    except (ValueError, RecursionError):
        return None
