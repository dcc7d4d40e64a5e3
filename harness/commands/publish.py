"""`harness publish`: select records from a store and write the published tables, charts and records."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness import files, results, ui
from harness.errors import HarnessError


def run(args: argparse.Namespace) -> None:
    from harness import publish

    store = results.store_path(args.results)
    registry = ui.registry(args)
    subsets = registry.subsets()
    records = [publish.without_paths(registry, r) for r in results.read(store)]
    published = publish.files(records, args.corpus or [], subsets, publisher=results.git_commit())
    if not published:
        raise HarnessError(f"no results in {store} for that selection; run `harness run` first")
    readme = Path(args.readme) if args.readme else None
    if readme:
        try:
            text = readme.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise HarnessError(f"cannot read {readme}: {getattr(error, 'strerror', None) or error}") from None
        updated = publish.with_readme_table(text, publish.readme_table(records, subsets, args.corpus or []))
    folder = files.output_folder(args.output_dir)
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
