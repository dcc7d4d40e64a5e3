import hashlib
import io
import math
import platform
import shutil
import tarfile
import threading
import zipfile
from collections import Counter
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

import corpora
from corpora import python, standard, synthetic
from harness import baselines
from harness.corpus import archive_corpus, cache_dir, data_dir, prefix_length, resolve
from harness.errors import HarnessError
from plugins.baselines import standard_baselines
from tests.conftest import SHARED

SHARED_CORPORA = SHARED / "corpora"
needs_shared = pytest.mark.skipif(not SHARED_CORPORA.is_dir(), reason="needs ../shared/corpora")

CORPORA = {c.name: c for c in corpora.corpora()}


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    monkeypatch.delenv("HARNESS_DATA_DIR", raising=False)
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- registry ---------------------------------------------------------------------------


def test_registered_corpora():
    assert list(CORPORA) == [
        "python",
        "synthetic",
        "canterbury",
        "canterbury-text",
        "canterbury-small",
        "calgary",
        "silesia",
        "enwik8",
        "enwik9",
        "text8",
    ]
    for corpus in CORPORA.values():
        assert corpus.description and "\n" not in corpus.description
        names = [f.name for f in corpus.files()]
        assert names and len(set(names)) == len(names)
        assert all(name.startswith((corpus.subset_of or corpus.name) + "/") for name in names)
    assert len(CORPORA["canterbury"].files()) == 11
    assert len(CORPORA["calgary"].files()) == 18
    assert len(CORPORA["silesia"].files()) == 12


@needs_shared
def test_standard_checksums_match_the_reference_copies():
    listed = dict(line.split()[::-1] for line in (SHARED_CORPORA / "SHA256SUMS").read_text().splitlines())
    for corpus, members in (("canterbury", standard.CANTERBURY), ("calgary", standard.CALGARY)):
        for member, (size, digest) in members.items():
            assert listed[f"{corpus}/{member}"] == digest
            assert (SHARED_CORPORA / corpus / member).stat().st_size == size
    assert len(listed) == len(standard.CANTERBURY) + len(standard.CALGARY)


# --- python -----------------------------------------------------------------------------


def test_python_corpus():
    topics, stdlib = CORPORA["python"].files()
    assert (topics.name, stdlib.name) == ("python/topics", "python/stdlib")
    for file, fresh in ((topics, python.topics()), (stdlib, python.stdlib())):
        data = file.read()
        assert data == fresh  # rebuilt from scratch: deterministic
        assert 100_000 < len(data) < 600_000
        assert file.meta["python"] == platform.python_version()
        assert file.meta["sha256"] == sha256(data)
        assert file.entropy_bits is None
    assert 'The "assert" statement' in topics.read().decode()
    assert stdlib.read().count(b"\n# ==== ") + 1 == len(python.STDLIB_FILES)
    assert b"# ==== textwrap.py ====\n" in stdlib.read()


# --- synthetic --------------------------------------------------------------------------


def test_synthetic_is_deterministic():
    for make in (synthetic.iid, synthetic.markov, synthetic.addition):
        assert make().read() == make().read()
        assert make(seed=1).read() != make().read()
    assert [f.read() for f in CORPORA["synthetic"].files()] == [
        synthetic.iid().read(),
        synthetic.markov().read(),
        synthetic.addition().read(),
    ]


def test_iid_entropy():
    file = synthetic.iid()
    data = file.read()
    h = file.meta["entropy_rate_bits_per_byte"]
    p = np.array(file.meta["probabilities"])
    assert h == pytest.approx(-(p * np.log2(p)).sum())
    assert file.entropy_bits(len(data)) == pytest.approx(len(data) * h)
    assert file.entropy_bits(10) == pytest.approx(10 * h)
    counts = np.array(list(Counter(data).values()))
    empirical = -(counts / len(data) * np.log2(counts / len(data))).sum()
    assert empirical == pytest.approx(h, abs=0.01)


def test_markov_entropy():
    file = synthetic.markov()
    data = file.read()
    transition = np.array(file.meta["transition"])
    stationary = np.array(file.meta["stationary"])
    assert transition.sum(axis=1) == pytest.approx(1)
    assert stationary @ transition == pytest.approx(stationary)
    rate = file.meta["entropy_rate_bits_per_byte"]
    assert file.entropy_bits(0) == 0
    assert file.entropy_bits(1) == pytest.approx(file.meta["first_symbol_bits"])
    assert file.entropy_bits(len(data)) == pytest.approx(file.meta["first_symbol_bits"] + (len(data) - 1) * rate)
    # The empirical conditional entropy H(next | previous) matches the rate.
    pairs = Counter(zip(data, data[1:], strict=False))
    previous = Counter(data[:-1])
    empirical = -sum(c / (len(data) - 1) * math.log2(c / previous[a]) for (a, _), c in pairs.items())
    assert empirical == pytest.approx(rate, abs=0.01)


def test_addition_records_and_floor():
    file = synthetic.addition(records=1000)
    data = file.read()
    lines = data.decode().splitlines(keepends=True)
    assert len(lines) == 1000 and all(len(line) == 28 for line in lines)
    for line in lines:
        a, rest = line.split("+")
        b, c = rest.split("=")
        assert len(a) == len(b) == 8 and len(c) == 10 and int(a) + int(b) == int(c)
    digit = math.log2(10)
    assert file.meta["floor_bits_per_record"] == pytest.approx(16 * digit)
    assert file.entropy_bits(len(data)) == pytest.approx(1000 * 16 * digit)
    # Within a record only the operand digits count: "AAAAAAAA+BBBBBBBB=CCCCCCCCC\n".
    for prefix, digits in {0: 0, 5: 5, 8: 8, 9: 8, 10: 9, 17: 16, 27: 16, 28: 16, 28 + 3: 19}.items():
        assert file.entropy_bits(prefix) == pytest.approx(digits * digit)
    assert file.entropy_bits(10**9) == file.entropy_bits(len(data))


def test_no_compressor_beats_a_synthetic_floor():
    for file in CORPORA["synthetic"].files():
        data = file.read()
        for baseline in standard_baselines():
            packed = baselines.compress(baseline, data)
            assert len(packed) * 8 > file.entropy_bits(len(data)), (file.name, baseline.name)


# --- resolve ----------------------------------------------------------------------------


def test_resolve_names_and_members():
    assert [f.name for f in resolve("calgary", CORPORA)] == [f"calgary/{m}" for m in standard.CALGARY]
    [book1] = resolve("calgary/book1", CORPORA)
    assert book1.name == "calgary/book1" and book1.meta["size"] == 768_771
    [markov] = resolve("synthetic/markov", CORPORA)
    assert markov.entropy_bits is not None


def test_a_subset_is_its_parents_files_under_their_own_names(registry):
    small = resolve("canterbury-small", CORPORA)
    assert [f.name for f in small] == [f"canterbury/{m}" for m in standard.CANTERBURY_SMALL]
    assert all(f.meta["size"] < 40_000 for f in small)
    assert {f.name for f in resolve("canterbury-text", CORPORA)} == {
        f"canterbury/{m}" for m in standard.CANTERBURY_TEXT
    }
    assert registry.subsets()["canterbury-small"] == tuple(f.name for f in small)
    assert "calgary" not in registry.subsets()  # a whole corpus is no subset


def test_resolve_local_file_and_directory(tmp_path, monkeypatch):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / ".git").mkdir()
    (tmp_path / "d" / "b.txt").write_bytes(b"bee")
    (tmp_path / "d" / "sub" / "a.bin").write_bytes(b"\x00\x01")
    (tmp_path / "d" / ".hidden").write_bytes(b"no")
    (tmp_path / "d" / ".git" / "config").write_bytes(b"no")
    (tmp_path / "d" / "zero.txt").write_bytes(b"")  # no bits/byte to measure: skipped
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path)

    [single] = resolve("d/b.txt", CORPORA)
    assert (single.name, single.read()) == ("d/b.txt", b"bee")
    assert single.meta["path"] == str(tmp_path / "d" / "b.txt")
    files = resolve("d/", CORPORA)
    assert [f.name for f in files] == ["d/b.txt", "d/sub/a.bin"]
    assert [f.read() for f in files] == [b"bee", b"\x00\x01"]
    with pytest.raises(HarnessError, match="has no"):
        resolve("empty", CORPORA)
    with pytest.raises(HarnessError, match="is empty"):
        resolve("d/zero.txt", CORPORA)

    # A registered name wins over a local folder of the same name; ./name reaches the folder.
    (tmp_path / "python").mkdir()
    (tmp_path / "python" / "x").write_bytes(b"x")
    assert [f.name for f in resolve("python", CORPORA)] == ["python/topics", "python/stdlib"]
    assert [f.name for f in resolve("./python", CORPORA)] == ["./python/x"]


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("cantebury", "unknown corpus 'cantebury'; did you mean: canterbury, canterbury-text"),
        ("pyton/topics", "unknown corpus 'pyton/topics'; did you mean: python/topics?"),
        (
            "canterbury/alice.txt",
            "unknown member 'canterbury/alice.txt'; did you mean: canterbury/alice29.txt",
        ),
        ("zzzzzz", "unknown corpus 'zzzzzz'; known: calgary"),
        ("", "unknown corpus ''"),
    ],
)
def test_resolve_unknown_suggests_close_matches(spec, expected):
    with pytest.raises(HarnessError) as error:
        resolve(spec, CORPORA)
    assert str(error.value).startswith(expected)
    assert "\n" not in str(error.value)


def test_small_helpers(monkeypatch, tmp_path):
    assert prefix_length(6, None) == 6
    assert prefix_length(6, 2) == 2
    assert prefix_length(6, 100) == 6
    with pytest.raises(HarnessError):
        prefix_length(3, -1)
    assert data_dir() is None
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path
    assert data_dir("/elsewhere") == Path("/elsewhere")
    assert cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("HARNESS_CACHE_DIR")
    assert cache_dir() == Path.home() / ".cache" / "harness"


# --- data dir ---------------------------------------------------------------------------


@needs_shared
def test_data_dir_serves_verified_standard_files(tmp_path, monkeypatch):
    files = resolve("canterbury", CORPORA, data_dir=SHARED_CORPORA)
    assert sum(len(f.read()) for f in files) == 2_810_784
    assert files[0].meta["path"] == str(SHARED_CORPORA / "canterbury" / "alice29.txt")

    copy = tmp_path / "data"
    shutil.copytree(SHARED_CORPORA / "calgary", copy / "calgary")
    (copy / "calgary" / "paper1").chmod(0o644)
    with (copy / "calgary" / "paper1").open("r+b") as f:
        f.write(b"X")
    monkeypatch.setenv("HARNESS_DATA_DIR", str(copy))  # found through the environment
    [book1] = resolve("calgary/book1", CORPORA)
    assert sha256(book1.read()) == standard.CALGARY["book1"][1]
    with book1.open() as stream:  # streamed from the file, checked the same way
        assert stream.read(10) == book1.read()[:10]
    [paper1] = resolve("calgary/paper1", CORPORA)
    with pytest.raises(HarnessError, match="paper1 is not the expected file: sha256"):
        paper1.read()
    with pytest.raises(HarnessError, match="paper1 is not the expected file: sha256"):
        paper1.open()


# --- download (through a local web server) ----------------------------------------------

MEMBERS = {"a.txt": b"alpha " * 1000, "b.bin": bytes(range(256)) * 10}


def tar_gz(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def server(tmp_path):
    """A web server on 127.0.0.1 serving tmp_path/www; yields (base url, www dir, request log)."""
    www = tmp_path / "www"
    www.mkdir()
    requests = []

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, format, *args):
            requests.append(self.path)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", www, requests
    httpd.shutdown()
    httpd.server_close()


def members_spec(entries: dict[str, bytes]) -> dict:
    return {name: (len(data), sha256(data)) for name, data in entries.items()}


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_download_extracts_caches_and_verifies(server, tmp_path, kind):
    base, www, requests = server
    # Members may sit in a folder inside the archive; extra files are ignored.
    entries = {f"tiny/{name}": data for name, data in MEMBERS.items()} | {"tiny/README": b"extra"}
    archive = tar_gz(entries) if kind == "tar.gz" else zip_bytes(entries)
    (www / f"tiny.{kind}").write_bytes(archive)
    corpus = archive_corpus(
        "tiny", "test", f"{base}/tiny.{kind}", members_spec(MEMBERS), archive_sha256=sha256(archive)
    )

    files = {f.name: f for f in corpus.files()}
    assert files["tiny/a.txt"].read() == MEMBERS["a.txt"]
    assert files["tiny/b.bin"].read() == MEMBERS["b.bin"]
    assert requests == [f"/tiny.{kind}"]  # one download serves every member
    folder = tmp_path / "cache" / "corpora" / "tiny"
    assert sorted(p.name for p in folder.iterdir()) == ["a.txt", "b.bin"]  # archive and temp files gone

    with files["tiny/b.bin"].open() as stream:
        assert stream.read() == MEMBERS["b.bin"]
    (folder / "a.txt").write_bytes(b"damaged")
    with pytest.raises(HarnessError, match="damaged .*delete it"):
        files["tiny/a.txt"].read()
    with pytest.raises(HarnessError, match="damaged .*delete it"):
        files["tiny/a.txt"].open()


def test_download_rejects_wrong_checksums(server, tmp_path):
    base, www, _ = server
    archive = tar_gz(MEMBERS)
    (www / "tiny.tar.gz").write_bytes(archive)
    url = f"{base}/tiny.tar.gz"

    wrong_member = members_spec(MEMBERS) | {"b.bin": (2560, "0" * 64)}
    with pytest.raises(HarnessError, match="b.bin in .*: sha256 .*, expected 0000"):
        archive_corpus("bad-member", "test", url, wrong_member).files()[1].read()

    wrong_size = {"a.txt": (5, None)}
    with pytest.raises(HarnessError, match="6000 bytes, expected 5"):
        archive_corpus("bad-size", "test", url, wrong_size).files()[0].read()

    with pytest.raises(HarnessError, match="expected 1111.*HARNESS_DATA_DIR"):
        archive_corpus("bad-archive", "test", url, members_spec(MEMBERS), archive_sha256="1" * 64).files()[0].read()

    # Only verified members stay in the cache (a.txt came before the bad b.bin).
    cached = [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file() and "cache" in p.parts]
    assert cached == ["cache/corpora/bad-member/a.txt"]


def test_download_failures_explain_how_to_work_offline(server):
    base, www, _ = server
    (www / "page.zip").write_bytes(b"<html>not an archive</html>")
    (www / "short.tar.gz").write_bytes(tar_gz({"a.txt": MEMBERS["a.txt"]}))
    spec = members_spec(MEMBERS)

    for url, message in [
        (f"{base}/missing.tar.gz", "cannot download .*404"),
        (f"{base}/page.zip", "cannot extract page.zip"),
        (f"{base}/short.tar.gz", "lacks b.bin"),
    ]:
        with pytest.raises(HarnessError, match=message) as error:
            archive_corpus("tiny", "test", url, spec).files()[0].read()
        if "lacks" not in message:
            assert "HARNESS_DATA_DIR" in str(error.value) and "--data-dir" in str(error.value)


def test_hostile_archive_paths_stay_in_the_cache(server, tmp_path):
    base, www, _ = server
    (www / "evil.tar.gz").write_bytes(tar_gz({"../../../a.txt": MEMBERS["a.txt"], "/etc/b.bin": MEMBERS["b.bin"]}))
    corpus = archive_corpus("tiny", "test", f"{base}/evil.tar.gz", members_spec(MEMBERS))
    assert [f.read() for f in corpus.files()] == list(MEMBERS.values())
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert written == ["cache/corpora/tiny/a.txt", "cache/corpora/tiny/b.bin", "www/evil.tar.gz"]


def test_data_dir_takes_precedence_and_is_verified(server, tmp_path):
    base, www, requests = server
    (www / "tiny.tar.gz").write_bytes(tar_gz(MEMBERS))
    corpora = {"tiny": archive_corpus("tiny", "test", f"{base}/tiny.tar.gz", members_spec(MEMBERS))}
    offline = tmp_path / "offline"
    (offline / "tiny").mkdir(parents=True)
    (offline / "tiny" / "a.txt").write_bytes(MEMBERS["a.txt"])

    a, b = resolve("tiny", corpora, data_dir=offline)
    assert a.read() == MEMBERS["a.txt"] and requests == []
    assert a.meta["path"] == str(offline / "tiny" / "a.txt")
    assert b.read() == MEMBERS["b.bin"] and requests == ["/tiny.tar.gz"]  # not in the data dir: downloaded

    (offline / "tiny" / "a.txt").write_bytes(MEMBERS["a.txt"][:-1] + b"?")
    with pytest.raises(HarnessError, match="a.txt is not the expected file"):
        resolve("tiny/a.txt", corpora, data_dir=offline)[0].read()
