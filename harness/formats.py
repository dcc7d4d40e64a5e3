"""Output formats of a leaderboard: each a renderer of the one row model (`leaderboard.frame`),
registered in one table (as datasette's output renderers are). `table`, rich tables fitted to a
terminal, is the CLI's own."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from harness import tables


def _html(df: pd.DataFrame) -> str:
    from harness import html  # matplotlib is only needed for the page's charts

    return html.page(df)


RENDERERS: dict[str, Callable[[pd.DataFrame], str]] = {
    "md": tables.markdown,
    "csv": lambda df: df.to_csv(index=False),
    "json": lambda df: df.to_json(orient="records", indent=2),
    "html": _html,
}
FORMATS = ("table", *RENDERERS)


def render(df: pd.DataFrame, fmt: str) -> str:
    """The leaderboard in format `fmt` (one of RENDERERS)."""
    return RENDERERS[fmt](df)
