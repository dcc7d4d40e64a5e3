import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.registry import load_registry

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
HARNESS = Path(sys.executable).parent / "harness"


@pytest.fixture(scope="session", autouse=True)
def private_data_home(tmp_path_factory):
    """No test writes to the user's own results store (the default one, in their data dir)."""
    saved = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("data-home"))
    yield
    if saved is None:
        del os.environ["XDG_DATA_HOME"]
    else:
        os.environ["XDG_DATA_HOME"] = saved


@pytest.fixture(scope="session")
def registry():
    return load_registry()


@pytest.fixture(scope="session")
def shared_corpora() -> Path:
    path = SHARED / "corpora"
    if not path.is_dir():
        pytest.skip("../shared/corpora is absent")
    return path


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the installed `harness` console script, as a user would."""
    return subprocess.run(
        [str(HARNESS), *args],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


class ReadLog(io.BytesIO):
    """An in-memory input that records the size of every read, to show input is read in pieces."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[int] = []

    def read(self, n: int | None = -1) -> bytes:
        self.reads.append(n)
        return super().read(n)
