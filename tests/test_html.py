"""The HTML leaderboard: one self-contained page, opened in a real headless browser."""

import re
import shutil
import subprocess

import pytest

from harness import html, leaderboard
from tests.test_leaderboard import two_file_records

# Runs after the page has loaded: sorts the first table by predictor name, Z to A, and reports.
PROBE = """<script>
window.addEventListener("load", function () {
  var table = document.querySelector("table.board");
  var header = Array.prototype.find.call(table.tHead.rows[0].cells, function (c) {
    return c.textContent === "predictor";
  });
  header.click();
  header.click();
  var images = Array.prototype.filter.call(document.images, function (i) { return i.naturalWidth > 0; });
  console.log("probe rows=" + table.tBodies[0].rows.length + " first=" + table.tBodies[0].rows[0].cells[0].textContent
              + " images=" + images.length);
});
</script>"""


def page() -> str:
    return html.page(leaderboard.frame(two_file_records()))


def test_page_is_self_contained():
    text = page()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), "the page must not fetch anything"
    assert text.count('src="data:image/png;base64,') == 3  # size, compute, time for group g
    assert text.count("<table") == 3 and "gzip -9 *" in text


def console_lines(browser: str, path, tmp_path) -> list[str]:
    """Console messages Chromium logged while opening `path` headless."""
    result = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "<table" in result.stdout or "<p" in result.stdout, result.stderr[-2000:]
    return [line for line in result.stderr.splitlines() if ":CONSOLE" in line]


def test_page_opens_in_headless_chromium_without_console_errors(tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    broken = tmp_path / "broken.html"
    broken.write_text("<!DOCTYPE html><p>x</p><script>notDefined();</script>")
    assert any("Uncaught ReferenceError" in line for line in console_lines(browser, broken, tmp_path))

    board = tmp_path / "board.html"
    board.write_text(page().replace("</body>", PROBE + "</body>"))
    lines = console_lines(browser, board, tmp_path)
    assert len(lines) == 1, lines  # only the probe: no errors, no warnings
    # by bits/byte "big" came first; the click sorted the rows ("small" > "gzip -9 *" > "big")
    assert '"probe rows=3 first=small images=3"' in lines[0]
