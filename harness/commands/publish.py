"""`harness publish`: regenerate the published tables and charts from a results store."""

from __future__ import annotations

import argparse

from harness import files, ui
from harness.commands.leaderboard import stored


def run(args: argparse.Namespace) -> None:
    from harness import publish

    records, df = stored(args)
    folder = files.output_folder(args.output_dir)
    for name, data in publish.files(records, args.corpus or []).items():
        files.write_atomically(folder / name, data, force=True)
    ui.console.print(f"published {', '.join(publish.groups_in(df))} into {folder}/")
