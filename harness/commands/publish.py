"""`harness publish`: select records from a store and write the published tables, charts and records."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness import files, provenance, results, ui
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
    subsets, registered = registry.subsets(), set(registry.corpora)
    records = [publish.without_paths(registry, r) for r in results.read(store)]
    published = publish.files(records, args.corpus or [], subsets, provenance.git_commit(), registered)
    if not published:
        raise HarnessError(
            f"no results in {store} for that selection; run `harness run` first (local files are published "
            "only when named: -c PATH)"
        )
    if readme:
        table = publish.readme_table(records, subsets, args.corpus or [], registered)
        updated = publish.with_readme_table(text, table)
    if not args.corpus and (
        left_out := {r.corpus for r in records} - {r.corpus for r in publish.chosen(records, [], subsets, registered)}
    ):
        ui.console.print(
            f"left out {len(left_out):,} files of no registered corpus (e.g. {sorted(left_out)[0]}); "
            "publish them by name: -c PATH"
        )
    folder = files.output_folder(args.output_dir)
    _refuse_losing_the_store(store, folder / "results.jsonl", published["results.jsonl"])
    for name, data in published.items():
        files.write_atomically(folder / name, data, force=True)
    _remove_stale(folder, set(published))
    if readme:
        files.write_atomically(readme, updated.encode(), force=True)
    ui.console.print(
        f"published {len(published)} files into {folder}/" + (f" and the table into {readme}" if readme else "")
    )
    if "+dirty" in (commit := provenance.git_commit()):
        ui.console.print(
            f"warning: published from a checkout with uncommitted changes ({commit}): the pages say so; "
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


MANIFEST = ".published"
"""The files the last publish into a folder wrote, one name a line: the next one removes those it
no longer writes (a corpus gone from the store) and nothing else of the folder."""


def _remove_stale(folder: Path, written: set[str]) -> None:
    manifest = folder / MANIFEST
    try:
        before = files.read_regular(str(manifest), README_LIMIT).decode("utf-8").splitlines()
    except (HarnessError, UnicodeDecodeError):  # none yet (or not one of ours): remove nothing
        before = []
    for name in before:
        path = folder / name
        if name not in written and name == path.name and path.is_file() and not path.is_symlink():
            path.unlink()  # `name == path.name`: a bare file name, never a path out of the folder
    files.write_atomically(manifest, "".join(f"{name}\n" for name in sorted(written)).encode(), force=True)
