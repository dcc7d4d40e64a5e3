"""A `.hz` file is untrusted input: it can never run code, fetch or load a model the user did not
name, or make the decoder allocate what its length fields or options ask for.

Every case goes through the real CLI, in-process (`cli.main`), as `harness decompress FILE` would.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from harness import cli, container, wire
from harness.errors import HarnessError
from harness.predictor import memory_need
from tests.conftest import SHARED

TEXT = b"Alice was beginning to get very tired of sitting by her sister on the bank.\n" * 3
GPT2_TOKENIZER = SHARED / "models" / "gpt2-tokenizer"


def forged(spec: str, config: dict, length: int, symbols: int, segment: int, tail: bytes = b"") -> bytes:
    """A well-formed header saying whatever an attacker likes, then `tail`."""
    return wire.header_bytes(spec, wire.ConfigCheck.of(config, config), length, symbols, segment) + tail


def decompress(capsys, path: Path, *options: str) -> tuple[int, str]:
    code = cli.main(["decompress", str(path), "-o", str(path.with_suffix(".out")), *options])
    error = capsys.readouterr().err
    assert "Traceback" not in error and "internal error" not in error
    return code, error


def test_an_oversized_model_named_by_a_file_is_refused_before_it_is_built(registry, tmp_path, capsys, monkeypatch):
    """gpt with 6 M rows per n-gram order would take ~60 GB; nothing is allocated for it."""
    spec = "gpt:ngrams=6,buckets=6000000"
    cls, settings, _ = registry.predictor(spec)
    path = tmp_path / "big.hz"
    path.write_bytes(forged(spec, cls.static_config(settings), 10, 10, 0, wire.varint(1) + bytes(5)))
    monkeypatch.setattr(cls, "__init__", lambda *a, **k: pytest.fail("the predictor was built"))
    code, error = decompress(capsys, path)
    assert code == 2 and "--max-memory" in error and "MiB" in error
    assert not path.with_suffix(".out").exists()


@pytest.mark.parametrize(
    ("spec", "symbols"),
    [("gpt:batch=2048,context=1024,memory_blocks=256", 95), ("lstm:batch=4096,context=4096", 2 * 4096 * 4096)],
)
def test_an_online_model_whose_activations_would_not_fit_is_refused_before_it_is_built(
    registry, tmp_path, capsys, monkeypatch, spec, symbols
):
    """Their weights are a few MB, under the limit; their caches, attention scores and buffers
    (gpt, grown past 4.5 GiB when built) or the activations of a block (lstm) take many GB."""
    cls, settings, _ = registry.predictor(spec)
    path = tmp_path / "wide.hz"
    tail = wire.varint(64) + bytes(68)  # a payload long enough for the symbols it claims
    path.write_bytes(forged(spec, cls.static_config(settings), symbols, symbols, 0, tail))
    monkeypatch.setattr(cls, "__init__", lambda *a, **k: pytest.fail("the predictor was built"))
    code, error = decompress(capsys, path)
    assert code == 2 and error.count("\n") == 1 and "--max-memory" in error and "MiB" in error
    assert not path.with_suffix(".out").exists()


@pytest.mark.parametrize("spec", ["mix:order0+ngram(order=2;memory_mib=1)", "mix:cm(memory_mib=1;history_mib=1)+ngram"])
def test_a_mix_claiming_a_billion_symbols_is_refused_before_it_is_built(registry, tmp_path, capsys, spec):
    """A mix codes its whole input as one segment: 1e9 symbols in 1 KB would ask for 16 GB."""
    cls, settings, _ = registry.predictor(spec)
    config = cls.static_config(settings)
    path = tmp_path / "bomb.hz"
    path.write_bytes(forged(spec, config, 10**9, 10**9, 0, wire.varint(1000) + bytes(1004)))
    code, error = decompress(capsys, path)
    assert code == 2 and "--max-memory" in error
    assert not path.with_suffix(".out").exists()


def test_max_symbols_bounds_the_work_a_file_can_claim(registry, tmp_path, capsys, monkeypatch):
    """250 bytes may claim 10^8 symbols, minutes of decoding: a genuine file may too (a million
    zero bytes codes in a few bytes), so the bound is the user's to set, and it is set before
    anything is built."""
    spec = "mix:order0+ngram(order=2;memory_mib=1)"
    cls, settings, _ = registry.predictor(spec)
    path = tmp_path / "long.hz"
    path.write_bytes(forged(spec, cls.static_config(settings), 10**8, 10**8, 0, wire.varint(200) + bytes(204)))
    monkeypatch.setattr(cls, "__init__", lambda *a, **k: pytest.fail("the predictor was built"))
    code, error = decompress(capsys, path, "--max-symbols", "1000000")
    assert code == 2 and "100,000,000 symbols" in error and "--max-symbols" in error
    assert not path.with_suffix(".out").exists()
    genuine = tmp_path / "text.hz"
    genuine.write_bytes(container.encode(TEXT, "order0", registry.build("order0")).container)
    assert decompress(capsys, genuine, "--max-symbols", str(len(TEXT)))[0] == 0
    assert decompress(capsys, genuine, "--max-symbols", str(len(TEXT) - 1))[0] == 2


def test_max_memory_lets_the_user_allow_more(registry, tmp_path, capsys):
    spec = "gpt:layers=1,width=64,heads=2,batch=2,context=4"
    cls, settings, _ = registry.predictor(spec)
    path = tmp_path / "small.hz"
    path.write_bytes(container.encode(TEXT, spec, registry.build(spec)).container)
    need = memory_need(cls, settings, len(TEXT))
    assert need > 1 << 20  # so that --max-memory 1 refuses it
    assert decompress(capsys, path, "--max-memory", "1")[0] == 2
    assert decompress(capsys, path)[0] == 0
    assert path.with_suffix(".out").read_bytes() == TEXT


@pytest.mark.parametrize(
    "spec",
    ["gpt:width=100000", "lstm:lr=inf", "lstm:seed=99999999999999999999999", "ngram:order=2,order=3", "lstm:threads=0"],
)
def test_out_of_bounds_options_in_a_file_are_refused_cleanly(tmp_path, capsys, spec):
    path = tmp_path / "x.hz"
    path.write_bytes(forged(spec, {}, 1, 1, 0, wire.varint(1) + bytes(5)))
    code, error = decompress(capsys, path)
    assert code == 2 and error.count("\n") == 1 and "harness: error:" in error


def test_one_segment_of_every_symbol_is_refused_for_a_streaming_predictor(registry, tmp_path, capsys):
    """segment=0 would make the decoder hold every claimed symbol at once (8.6 GB asked for here)."""
    cls, settings, _ = registry.predictor("ngram")
    path = tmp_path / "amplified.hz"
    tail = wire.varint(2000) + bytes(2004)
    path.write_bytes(forged("ngram", cls.static_config(settings), 2**30, 2**30, 0, tail))
    code, error = decompress(capsys, path)
    assert code == 2 and "segment size 0" in error


def test_untrusted_text_is_printed_as_text_not_markup(tmp_path, capsys):
    path = tmp_path / "[bold]loud.hz"
    path.write_bytes(forged("x[/]y", {}, 1, 1, 0))
    code, error = decompress(capsys, path)
    assert code == 2 and "'x[/]y'" in error
    (tmp_path / "m[").mkdir()
    source = tmp_path / "m[" / "]x.txt"
    source.write_bytes(TEXT)
    assert cli.main(["compress", str(source), "-p", "order0"]) == 0
    assert "m[/]x.txt" in capsys.readouterr().err
    assert cli.main(["compress", str(tmp_path / "[bold]absent.txt"), "-p", "order0"]) == 2
    assert "[bold]absent.txt" in capsys.readouterr().err


@pytest.mark.parametrize("gguf", ["../../../../etc/passwd", "/etc/shadow", "sub/model.gguf", "model.bin"])
def test_gguf_file_is_a_bare_file_name(registry, gguf):
    with pytest.raises(HarnessError, match="gguf_file"):
        registry.predictor(f"hf:/some/folder,gguf_file={gguf}")


# The hf plugin: code that comes with a model, pickled weights, local folders and the Hub.

hf = pytest.importorskip("plugins.hf")


@pytest.fixture
def tiny_model(tmp_path) -> Path:
    """A small random GPT-2 with the real GPT-2 tokenizer, in a folder called `tiny-gpt2`."""
    if not GPT2_TOKENIZER.is_dir():
        pytest.skip("../shared/models/gpt2-tokenizer is absent")
    torch = pytest.importorskip("torch")
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

    folder = tmp_path / "models" / "tiny-gpt2"
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=16, n_positions=64)).save_pretrained(folder)
    GPT2TokenizerFast.from_pretrained(GPT2_TOKENIZER).save_pretrained(folder)
    hf.load.cache_clear()
    yield folder
    hf.load.cache_clear()


def test_code_that_comes_with_a_model_never_runs(tiny_model, tmp_path, capsys, monkeypatch):
    """config.json and tokenizer_config.json point at Python files (transformers' auto_map), and
    stdin answers "y" to any prompt: the files are still never imported."""
    marker = tmp_path / "ran"
    evil = f"open({str(marker)!r}, 'w').write('pwned')\n"
    for name in ("configuration_evil.py", "modeling_evil.py", "tokenization_evil.py"):
        (tiny_model / name).write_text(evil)
    for name, entries in [
        ("config.json", {"AutoConfig": "configuration_evil.C", "AutoModelForCausalLM": "modeling_evil.M"}),
        ("tokenizer_config.json", {"AutoTokenizer": ["tokenization_evil.T", "tokenization_evil.T"]}),
    ]:
        config = json.loads((tiny_model / name).read_text())
        (tiny_model / name).write_text(json.dumps({**config, "auto_map": entries}))
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n" * 10))
    source = tmp_path / "text.txt"
    source.write_bytes(TEXT)
    code = cli.main(["compress", str(source), "-p", f"hf:{tiny_model}", "-o", str(tmp_path / "text.hz")])
    error = capsys.readouterr().err
    assert not marker.exists()
    assert "Traceback" not in error and "internal error" not in error
    if code == 0:  # transformers used its own GPT-2 classes, ignoring the model's code
        assert decompress(capsys, tmp_path / "text.hz", "--model", str(tiny_model))[0] == 0
        assert not marker.exists()


def test_pickled_weights_load_only_when_allowed(tiny_model, tmp_path, capsys):
    import torch
    from transformers import GPT2LMHeadModel

    pickled = tmp_path / "pickled" / "tiny-gpt2"
    shutil.copytree(tiny_model, pickled)
    (pickled / "model.safetensors").unlink()
    torch.save(GPT2LMHeadModel.from_pretrained(tiny_model).state_dict(), pickled / "pytorch_model.bin")
    source = tmp_path / "text.txt"
    source.write_bytes(TEXT)
    args = ["compress", str(source), "-p", f"hf:{pickled}", "-o", str(tmp_path / "text.hz")]
    assert cli.main(args) == 2
    assert "--allow-pickle" in capsys.readouterr().err and not (tmp_path / "text.hz").exists()
    assert cli.main([*args, "--allow-pickle"]) == 0
    assert decompress(capsys, tmp_path / "text.hz", "--model", str(pickled))[0] == 2  # the file can't allow it
    assert decompress(capsys, tmp_path / "text.hz", "--model", str(pickled), "--allow-pickle")[0] == 0


def test_a_file_loads_only_a_model_the_user_names(tiny_model, tmp_path, capsys, monkeypatch):
    source = tmp_path / "text.txt"
    source.write_bytes(TEXT)
    coded = tmp_path / "text.hz"
    assert cli.main(["compress", str(source), "-p", f"hf:{tiny_model}", "-o", str(coded)]) == 0
    code, error = decompress(capsys, coded)
    assert code == 2 and "--model" in error
    moved = tmp_path / "elsewhere" / "tiny-gpt2"  # the same model at another place: found by name
    shutil.copytree(tiny_model, moved)
    shutil.rmtree(tiny_model)
    hf.load.cache_clear()
    assert decompress(capsys, coded, "--model", str(moved))[0] == 0
    assert coded.with_suffix(".out").read_bytes() == TEXT
    # Other weights under that name are refused from their checksum, before they are parsed.
    config = json.loads((moved / "config.json").read_text())
    (moved / "config.json").write_text(json.dumps({**config, "n_layer": 2}))
    hf.load.cache_clear()
    monkeypatch.setattr(hf, "load", lambda *a: pytest.fail("the model was loaded"))
    code, error = decompress(capsys, coded, "--model", str(moved), "--force")
    assert code == 2 and "model_sha256" in error


def test_a_hub_model_named_by_a_file_comes_from_the_cache_only(registry, tmp_path, capsys, monkeypatch):
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    asked = []

    def snapshot_download(repo_id: str, **options):
        asked.append(options["local_files_only"])
        raise LocalEntryNotFoundError("not cached")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    path = tmp_path / "hub.hz"
    path.write_bytes(forged("hf:someone/some-model", {}, 1, 1, 0))
    code, error = decompress(capsys, path)
    assert code == 2 and "--allow-download" in error and asked == [True]
    decompress(capsys, path, "--allow-download")
    assert asked == [True, False]


@pytest.mark.parametrize(
    "option", ["revision=../../../../tmp/evil", "revision=refs/../../x", "revision=/etc/passwd", "revision=a\\b"]
)
def test_a_revision_cannot_walk_out_of_the_hub_cache(tmp_path, capsys, monkeypatch, option):
    """huggingface_hub joins the revision onto its cache folder to read the commit it names: a
    file naming `..` there would make the decoder load a folder the user never named."""
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *a, **k: pytest.fail("the hub was asked"))
    path = tmp_path / "hub.hz"
    path.write_bytes(forged(f"hf:someone/some-model,{option}", {}, 1, 1, 0))
    code, error = decompress(capsys, path)
    assert code == 2 and "revision" in error and error.count("\n") == 1


@pytest.mark.parametrize("model", ["a/..", "someone/..", "someone/x/../../y"])
def test_a_hub_id_is_a_hub_id(tmp_path, capsys, monkeypatch, model):
    monkeypatch.chdir(tmp_path)  # where no folder `a` or `someone` exists: these are not local paths
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *a, **k: pytest.fail("the hub was asked"))
    with pytest.raises(HarnessError, match="hub id|no model folder"):
        hf.fetch(model, "main", "")


@pytest.mark.parametrize("mode", [["-t"], ["--list"]])
def test_a_header_with_control_characters_is_refused_before_anything_shows_it(tmp_path, capsys, mode):
    """A forged spec would drive the terminal (escape sequences) or forge lines of --list."""
    path = tmp_path / "esc.hz"
    path.write_bytes(forged("ngram\x1b]0;owned\x07\nratio  999", {}, 1, 1, 0, wire.varint(1) + bytes(5)))
    assert cli.main(["decompress", str(path), *mode]) == 2
    out, error = capsys.readouterr()
    assert "control characters" in error and error.count("\n") == 1 and "\x1b" not in error + out


def test_a_spec_with_control_characters_is_never_written_into_a_file(tmp_path, capsys):
    source = tmp_path / "in.txt"
    source.write_bytes(TEXT)
    for spec in ("ngram:order=2\x1b[2J", "hf:./a\nb"):
        assert cli.main(["compress", str(source), "-p", spec]) == 2
        assert "control characters" in capsys.readouterr().err
    assert not source.with_suffix(".txt.hz").exists()
    with pytest.raises(SystemExit) as usage:  # an empty path is not the default
        cli.main(["compress", str(source), "-o", ""])
    assert usage.value.code == 2 and "empty path" in capsys.readouterr().err
    assert not source.with_suffix(".txt.hz").exists()
