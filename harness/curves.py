"""Online loss curves: each symbol's code length in bits, stored beside the results store and drawn.

For a predictor trained while coding, the code length of a symbol is its training loss at the
moment it was coded, so the area under this curve is the code length of the whole file (the
payload differs from it only by the coder's overhead of a few bytes). Curves are kept in coding
order, which is the order the model saw the data in.
"""

from __future__ import annotations

import os
import stat
import tempfile
import uuid
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harness.errors import HarnessError

if TYPE_CHECKING:  # measuring saves curves; only drawing them needs matplotlib
    from matplotlib.figure import Figure

    from harness.record import Record

FOLDER = "curves"


def save(store: Path, bits: np.ndarray) -> str:
    """Write `bits` (per symbol, coding order) next to `store`; return its path relative to the store's folder."""
    relative = Path(FOLDER) / f"{uuid.uuid4().hex[:16]}.npz"
    path = store.parent / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".curve.", suffix=".npz")
    try:
        with os.fdopen(handle, "wb") as out:
            np.savez_compressed(out, bits=np.asarray(bits, dtype=np.float32))
        os.chmod(temp, 0o644)  # mkstemp makes it private
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return relative.as_posix()


def load(store: Path, record: Record) -> np.ndarray:
    """The curve a record names: a regular file in the store's curves folder (a store is untrusted:
    its `curve` could name any path, a FIFO that blocks, a device that never ends), holding one
    finite code length per symbol."""
    path = store.parent / record.curve
    problem = f"cannot read the loss curve {record.curve!r} of {record.spec} on {record.corpus}"
    folder = (store.parent / FOLDER).resolve()
    try:
        inside = path.resolve().parent == folder and stat.S_ISREG(path.lstat().st_mode)
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop
        inside = False
    if not inside:
        raise HarnessError(f"{problem}: not a file in {FOLDER}/ beside the store")
    try:
        bits = _read_bits(path, record.symbols, problem)
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        raise HarnessError(problem) from None
    if not np.isfinite(bits).all():
        raise HarnessError(f"{problem}: it holds code lengths that are not finite numbers")
    return bits


_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def _read_bits(path: Path, symbols: int, problem: str) -> np.ndarray:
    """The curve's array, its shape and type checked from its header before anything is sized
    by them: a small forged file can declare billions of values."""
    with zipfile.ZipFile(path) as archive, archive.open("bits.npy") as member:
        read_header = _HEADERS.get(np.lib.format.read_magic(member))
        if read_header is None:
            raise ValueError("unknown .npy version")
        shape, _, dtype = read_header(member)
        if not (symbols > 0 and shape == (symbols,) and dtype in (np.float32, np.float64)):
            raise HarnessError(f"{problem}: not one code length for each of its {symbols:,} symbols")
        size = symbols * dtype.itemsize
        if size > _free_memory() // 2:
            raise HarnessError(f"{problem}: its {size >> 20:,} MiB would not fit in this machine's free memory")
        data = member.read(size)
    if len(data) != size:
        raise ValueError("truncated")
    return np.frombuffer(data, dtype)


def _free_memory() -> int:
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Moving average over `window` values (shorter at the start, so nothing is dropped)."""
    window = max(1, min(window, len(values)))
    sums = np.cumsum(np.asarray(values, dtype=np.float64))
    out = sums.copy()
    out[window:] = sums[window:] - sums[:-window]
    return out / np.minimum(np.arange(1, len(values) + 1), window)


def figure(store: Path, records: list[Record], window: int = 0) -> Figure:
    """Bits/byte against bytes seen for each record with a stored curve.

    x is scaled to bytes and y to bits per byte, so the area under each line is the code
    length in bits, whatever the predictor's symbols are. A record with a known entropy
    floor (synthetic corpora) gets it drawn as a dashed line: the gap is what is still learnable.
    """
    from matplotlib.figure import Figure

    from harness.leaderboard import display_name, prefixed

    curves = [(r, load(store, r)) for r in records if r.curve]
    if not curves:
        raise HarnessError("none of the selected results has a stored loss curve (they come from `harness run`)")
    fig = Figure(figsize=(9, 5))
    ax = fig.subplots()
    floors = set()
    for record, bits in curves:
        scale = record.symbols / record.raw_bytes
        x = np.arange(1, len(bits) + 1) / scale
        y = smooth(bits, window or max(1, len(bits) // 200)) * scale
        area = float(bits.sum(dtype=np.float64))
        corpus = record.corpus if record.max_bytes is None else prefixed(record.corpus, record.max_bytes)
        label = (
            f"{display_name(record.spec)} on {corpus}: area {area / 8:,.0f} B, "
            f"payload {record.payload_bytes:,} B ({8 * record.payload_bytes - area:+.0f} bits coder overhead)"
        )
        ax.plot(x, y, linewidth=1.2, label=label)
        if record.entropy_bits_per_byte is not None:
            floors.add((record.corpus, record.entropy_bits_per_byte))
    for corpus, floor in sorted(floors):
        ax.axhline(floor, color="black", linestyle="--", linewidth=1, label=f"entropy floor of {corpus}: {floor:.3f}")
    ax.set_xlabel("bytes seen (coding order)")
    ax.set_ylabel("bits per byte (moving average)")
    ax.set_title("Online loss curves: the area under each is its code length")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig
