"""The `hf` predictor and its aliases, offline.

A small random GPT-2 (the real GPT-2 tokenizer from ../shared, random weights) is saved and laid
out as the Hugging Face cache holds `openai-community/gpt2`, so `--predictor gpt2` runs its real
code path with HF_HUB_OFFLINE=1. Real pretrained models in ../shared are used where present.
"""

import itertools
from pathlib import Path

import numpy as np
import pytest

from harness import cli, container, curves, measure, results, sweep, wire
from harness.conformance import check_predictor
from harness.errors import HarnessError
from plugins.hf.tokens import OnlineBias
from plugins.mix import Mix
from tests.conftest import SHARED, run_cli

pytest.importorskip("transformers")
torch = pytest.importorskip("torch")
hf = pytest.importorskip("plugins.hf")

GPT2_TOKENIZER = SHARED / "models" / "gpt2-tokenizer"
SMOLLM2 = SHARED / "models" / "smollm2-135m-instruct"
STORIES = SHARED / "models" / "stories260K"
COMMIT = "0123456789abcdef0123456789abcdef01234567"

TEXT = (
    b"Alice was beginning to get very tired of sitting by her sister on the bank, and of having "
    b"nothing to do: once or twice she had peeped into the book her sister was reading.\n"
)
# Invalid UTF-8, lone continuation bytes, NUL, a 4-byte character, CR/LF, tabs, no-break spaces.
AWKWARD = b"caf\xc3\xa9 \xe2\x82\xac\xf0\x9f\x98\x80\xff\xfe\x80 \x00\r\n\t\t \xc2\xa0 x\xc3" + TEXT[:40]


def _save_tiny_gpt2(folder: Path, seed: int = 0) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

    tokenizer = GPT2TokenizerFast.from_pretrained(GPT2_TOKENIZER)
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_head=2, n_embd=32, n_positions=64))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


@pytest.fixture(scope="module")
def hf_home(tmp_path_factory) -> Path:
    """An HF_HOME whose hub cache holds a tiny random `openai-community/gpt2`."""
    if not GPT2_TOKENIZER.is_dir():
        pytest.skip("../shared/models/gpt2-tokenizer is absent")
    home = tmp_path_factory.mktemp("hf_home")
    repo = home / "hub" / "models--openai-community--gpt2"
    _save_tiny_gpt2(repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return home


@pytest.fixture(scope="module")
def tiny(hf_home) -> str:
    """A spec for the tiny GPT-2 as a local folder (the same files the cache holds)."""
    return f"hf:{hf_home / 'hub' / 'models--openai-community--gpt2' / 'snapshots' / COMMIT}"


def _round_trip(registry, spec: str, data: bytes) -> container.Encoded:
    encoded = container.encode(data, spec, registry.build(spec))
    assert container.decode(wire.unpack(encoded.container), registry.build(spec)) == data
    return encoded


def test_the_online_bias_steps_down_the_gradient_of_the_coded_tokens_cost():
    rng = np.random.default_rng(3)
    q = rng.dirichlet(np.ones(50))
    assert OnlineBias(50, 0.0).apply(q) is q  # off: the model as it is
    bias = OnlineBias(50, 0.3)
    bias.bias = rng.normal(size=50)
    cost = lambda b: -np.log(q[7] * np.exp(b[7]) / (q * np.exp(b)).sum())  # noqa: E731
    numeric = np.array([(cost(bias.bias + e) - cost(bias.bias - e)) / 2e-6 for e in np.eye(50) * 1e-6])
    before, p = bias.bias.copy(), bias.apply(q)
    assert np.isclose(p.sum(), 1.0) and np.allclose(p, q * np.exp(before) / (q * np.exp(before)).sum())
    bias.learn(7)
    assert np.allclose(bias.bias - before, -0.3 * numeric, atol=1e-6)


def test_a_bias_learnt_on_the_text_codes_it_smaller_and_decodes(registry, tiny):
    """Two streams, each with its own bias, literals among the tokens; alone and in a hybrid."""
    data = TEXT * 3 + AWKWARD + TEXT * 3
    for spec in (f"{tiny},batch=2", f"mix:{_member(tiny)}+cm"):
        plain = _round_trip(registry, spec, data)
        biased = _round_trip(
            registry, spec.replace(")", ";bias_lr=0.3)") if "mix" in spec else spec + ",bias_lr=0.3", data
        )
        assert biased.payload_bytes < 0.97 * plain.payload_bytes


def test_spec_takes_the_model_as_a_bare_value(registry):
    _, settings, canonical = registry.predictor("hf:HuggingFaceTB/SmolLM2-135M,dtype=float64")
    assert settings["model"] == "HuggingFaceTB/SmolLM2-135M" and settings["dtype"] == "float64"
    assert canonical == "hf:HuggingFaceTB/SmolLM2-135M,dtype=float64"
    assert registry.predictor("hf:model=a/b")[2] == "hf:a/b"
    assert registry.predictor("gpt2")[1]["model"] == "openai-community/gpt2"
    with pytest.raises(HarnessError, match="no bare value"):
        registry.predictor("gpt2:something")


def test_text_codes_as_tokens_and_round_trips(registry, tiny):
    encoded = _round_trip(registry, tiny, TEXT)
    predictor = registry.build(tiny)
    symbols = predictor.to_symbols(TEXT)
    assert encoded.symbols == len(symbols) < len(TEXT) / 3  # BPE tokens, not bytes
    assert (symbols < predictor.m.vocab).all()  # GPT-2's byte-level BPE reproduces plain text
    assert predictor.from_symbols(symbols) == TEXT


@pytest.mark.parametrize(
    "data",
    [b"", b"\xff", AWKWARD, bytes(range(256)), np.random.default_rng(1).bytes(600)],
    ids=["empty", "one invalid byte", "awkward text", "all bytes", "random binary"],
)
def test_any_bytes_round_trip(registry, tiny, data):
    _round_trip(registry, tiny, data)


def test_binary_costs_about_a_byte_per_byte_not_the_floor(registry, tiny):
    data = np.random.default_rng(2).bytes(1500)
    encoded = _round_trip(registry, tiny, data)
    assert 8 * encoded.payload_bytes / len(data) < 9.0  # the floor frequency would cost ~30 bits


def test_a_normalising_tokenizer_still_round_trips(registry, tmp_path):
    """Lowercasing + NFKC change the text, so tokens no longer spell the input: literals take over."""
    from tokenizers import normalizers
    from transformers import PreTrainedTokenizerFast

    if not GPT2_TOKENIZER.is_dir():
        pytest.skip("../shared/models/gpt2-tokenizer is absent")
    _save_tiny_gpt2(tmp_path)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(tmp_path)  # keeps tokenizer.json's pipeline as saved
    tokenizer.backend_tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.save_pretrained(tmp_path)
    spec = f"hf:{tmp_path}"
    data = "Ⅻ ﬁne Ｆｕｌｌ width, MiXeD case and a\u00a0no-break space. ".encode() + TEXT
    symbols = registry.build(spec).to_symbols(data)
    assert (symbols >= registry.build(spec).m.vocab).any()
    _round_trip(registry, spec, data)


@pytest.mark.skipif(not STORIES.is_dir(), reason="../shared/models/stories260K is absent")
def test_a_sentencepiece_llama_round_trips_text_and_bytes(registry):
    """stories260K: SentencePiece pieces ("▁" for space, <0x..> byte pieces), vocab 512."""
    spec = f"hf:{STORIES}"
    data = TEXT + AWKWARD + "Ünïcödé “quotes” — 日本語\n".encode()
    symbols = registry.build(spec).to_symbols(data)
    assert (symbols < 512).sum() > len(data) / 8  # mostly pieces, not literals
    _round_trip(registry, spec, data)


@pytest.mark.parametrize("model", ["tiny", "stories"])
def test_coded_a_byte_at_a_time_a_file_costs_what_whole_tokens_do(registry, tiny, model):
    """code=bytes: each token as its bytes and end decisions over the token table's trie, and a
    choice where ids share bytes (GPT-2's byte tokens and the literals; stories260K's <0x..>
    pieces): the same bits within rounding, decoded."""
    if model == "stories" and not STORIES.is_dir():
        pytest.skip("../shared/models/stories260K is absent")
    spec = tiny if model == "tiny" else f"hf:{STORIES}"
    data = TEXT + AWKWARD + "Ünïcödé “quotes” — 日本語\n".encode() + TEXT
    tokens = _round_trip(registry, spec, data)
    by_bytes = _round_trip(registry, f"{spec},code=bytes", data)
    assert abs(by_bytes.payload_bytes - tokens.payload_bytes) <= 2
    usual = tokens.symbol_bits < 20  # below the coder's floor (2**-30), where the rounding shows
    assert np.allclose(by_bytes.symbol_bits[usual], tokens.symbol_bits[usual], atol=1e-3)
    assert np.abs(by_bytes.symbol_bits - tokens.symbol_bits).max() < 1


@pytest.mark.skipif(not STORIES.is_dir(), reason="../shared/models/stories260K is absent")
def test_a_model_named_by_its_portable_name_is_verified(registry, tmp_path, monkeypatch):
    """`hf:./stories260K` run from the folder holding it: the spec already names the model as
    the header does, and the check decode may still load the folder the run loaded (it was
    refused, and every such run said "NOT verified")."""
    monkeypatch.chdir(STORIES.parent)
    (tmp_path / "a.txt").write_bytes(TEXT)
    (file,) = registry.corpus_files([str(tmp_path / "a.txt")])
    assert measure.measure_predictor(registry, "hf:./stories260K", file).verified


def _member(spec: str) -> str:
    """An hf spec as a mix member: hf(model;key=value)."""
    return f"hf({spec.partition(':')[2].replace(',', ';')})"


def test_hf_joins_a_bitwise_mix_as_its_bytes(registry, tiny):
    """mix:hf+cm: the model's tokens walked a byte at a time, each byte coded by cm with the
    model's masses over it as a hint, the ends of tokens and choices between ids with the same
    bytes (GPT-2's byte tokens and the literals) coded in between; decoded, and every bit of it
    counted in the bytes' code lengths."""
    spec = f"mix:{_member(tiny)}+cm+ngram"
    data = TEXT + AWKWARD + bytes(range(256)) + TEXT
    encoded = _round_trip(registry, spec, data)
    assert abs(encoded.payload_bytes - encoded.ideal_bits / 8) < 8  # decisions included (and a count)
    header = wire.unpack(encoded.container)  # as `harness decompress` does: the header checked first
    assert container.decode(header, registry.decoder(header)) == data
    assert registry.build(spec).model_bytes == registry.build(tiny).model_bytes > 0  # the adjusted ratio charges it


@pytest.mark.parametrize(
    ("members", "error"),
    [
        ("{hf}+ngram", "through a bitwise member"),
        ("{hf}+gpt+cm", "alone among"),
        ("{hf}+{hf}+cm", "alone among"),
    ],
)
def test_hf_in_a_mix_is_refused_where_it_cannot_join(registry, tiny, members, error):
    with pytest.raises(HarnessError, match=error):
        registry.build("mix:" + members.format(hf=_member(tiny)))


def test_hf_in_a_mix_codes_one_stream(registry, tiny):
    predictor = registry.build(f"mix:{_member(tiny + ',batch=2')}+cm")
    with pytest.raises(HarnessError, match="one stream"):
        container.encode(TEXT, "mix", predictor)


def test_a_hybrid_stream_whose_tokens_do_not_fit_the_file_is_refused(registry, tiny):
    spec = f"mix:{_member(tiny)}+cm"
    header = wire.unpack(container.encode(TEXT, spec, registry.build(spec)).container)
    count = len(wire.varint(len(registry.build(tiny).to_symbols(TEXT))))
    for tokens in (len(TEXT) + 1, 3):  # more tokens than bytes; too few tokens for the bytes
        forged = wire.varint(tokens) + header.payload[count:]
        with pytest.raises(HarnessError, match="not a valid .hz file"):
            registry.build(spec).decode_symbols(forged[: len(forged)], len(TEXT))


def test_conformance(tiny):
    check_predictor(hf.HF, {"model": tiny.partition(":")[2]}, long_bytes=400)


def test_a_hybrid_conforms(tiny):
    check_predictor(Mix, {"members": f"{_member(tiny)}+cm(memory_mib=1;history_mib=1)"}, long_bytes=400)


def test_window_restarts_round_trip_and_the_batched_fast_path_agrees(registry, tiny):
    """Past the 16-token window the model restarts from the last 4 tokens, the same on both sides.

    The unverified fast path (whole windows per forward pass, two at a time, literals mixed in)
    gives the coded path's ideal code lengths to rounding, so it measures the same thing.
    """
    spec = f"{tiny},context=16,overlap=4"
    data = TEXT + AWKWARD + TEXT
    encoded = _round_trip(registry, spec, data)
    predictor = registry.build(spec)
    symbols = predictor.to_symbols(data)
    assert (symbols < predictor.m.vocab).sum() > 4 * 16 and (symbols >= predictor.m.vocab).any()
    fast = predictor.batched_ideal_bits(symbols, windows=2)
    assert np.allclose(fast, encoded.symbol_bits, atol=1e-3)


def test_the_preallocated_kv_cache_gives_dynamic_caches_probabilities_bit_for_bit(registry, tiny):
    """The runner writes keys and values in place rather than growing transformers' DynamicCache
    by torch.cat; the attention sees the same filled positions, so every probability is the same
    to the last bit (files coded with a DynamicCache still decode), across a restart too."""
    from transformers import DynamicCache

    predictor = registry.build(f"{tiny},context=16,batch=2")
    runner, model, start = predictor.runner, predictor.m.model, predictor.m.start
    history = np.array([[5, 6, 7], [8, 9, 10]])
    steps = [np.array([[11 + i], [40 + i]]) for i in range(10)]
    calls = [history, *steps, history[:, 1:], steps[0]]  # more than one token: a restart over that history
    ours = [runner.restart(fed) if fed.shape[1] > 1 else runner.forward(fed) for fed in calls]
    theirs = []
    with torch.inference_mode():
        for fed in calls:
            if fed.shape[1] > 1:
                cache, fed = DynamicCache(config=model.config), np.concatenate([np.full((2, 1), start), fed], axis=1)
            argument = {predictor.m.cache_argument: cache}
            logits = model(input_ids=torch.from_numpy(fed), logits_to_keep=1, **argument).logits
            theirs.append(torch.softmax(logits[:, -1].double(), dim=-1).numpy())
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs, strict=True))
    assert not np.array_equal(ours[0], ours[1])  # the steps are different predictions


def test_streams_coded_in_lockstep_round_trip_each_as_if_alone(registry, tiny):
    """batch=3: three streams share each forward pass, and each is coded as the stream alone would be.

    Literals inside a stream, window restarts and a last stream that runs out first are all
    covered; the fast path replays the same streams.
    """
    spec = f"{tiny},context=16,overlap=4,batch=3"
    data = TEXT + AWKWARD + TEXT + AWKWARD[:20]
    encoded = _round_trip(registry, spec, data)
    predictor = registry.build(spec)
    symbols = predictor.to_symbols(data)
    lengths = predictor.stream_lengths(symbols)
    assert len(lengths) == 3 and lengths[0] > lengths[2] > 0 and sum(lengths) == len(symbols)
    alone = registry.build(f"{tiny},context=16,overlap=4")
    for first, end in itertools.pairwise([0, *np.cumsum(lengths).tolist()]):
        _, bits = alone.encode_symbols(symbols[first:end])
        assert np.allclose(bits, encoded.symbol_bits[first:end], atol=1e-3)
    assert np.allclose(predictor.batched_ideal_bits(symbols, windows=2), encoded.symbol_bits, atol=1e-3)


def test_chunks_are_independent_streams_coded_batch_at_a_time(registry, tiny):
    """chunk=N (LMIC's protocol): each N-byte chunk is tokenized and coded alone, `batch` chunks
    per forward pass, waves until all are done; the chunks' symbol counts lead the payload."""
    data = (TEXT + AWKWARD) * 3
    spec = f"{tiny},chunk=64,batch=2"
    encoded = _round_trip(registry, spec, data)
    predictor = registry.build(spec)
    symbols = predictor.to_symbols(data)
    lengths = predictor.stream_lengths(symbols)
    assert len(lengths) == -(-len(data) // 64) and sum(lengths) == len(symbols)
    alone = registry.build(tiny)
    bounds = itertools.pairwise([0, *np.cumsum(lengths).tolist()])
    for n, (first, end) in enumerate(bounds):
        chunk = data[64 * n : 64 * (n + 1)]
        assert np.array_equal(alone.to_symbols(chunk), symbols[first:end])  # tokenized alone
        _, bits = alone.encode_symbols(symbols[first:end])
        assert np.allclose(bits, encoded.symbol_bits[first:end], atol=1e-3)  # coded as if alone


def test_chunk_bytes_fans_a_file_out_in_parts_whose_records_add_up(registry, tiny, tmp_path):
    """`--chunk-bytes 64 --chunks-per-job 3`: the file runs as jobs of 192 bytes, each coded and
    decoded on its own; the file's one record is their sum, its spec names the chunking."""
    source = tmp_path / "text.txt"
    source.write_bytes((TEXT + AWKWARD) * 3)
    store = tmp_path / "store.jsonl"
    args = ["run", "-p", tiny, "-c", str(source), "--no-baselines", "--results", str(store)]
    assert cli.main([*args, "--chunk-bytes", "64", "--chunks-per-job", "3"]) == 0
    (record,) = results.read(store)
    assert record.spec.endswith(",chunk=64") and record.verified and record.raw_bytes == source.stat().st_size
    grid = {"baselines": False, "max_bytes": None, "data_dir": None, "plugin_files": [], "chunk_bytes": 64}
    (job,) = sweep.grid(registry, [tiny], None, [str(source)], **grid)
    parts = sweep.parts(registry, job, 3)
    assert len(parts) == -(-source.stat().st_size // 192) and parts[-1].part[1] == source.stat().st_size
    pieces = [sweep.measure_job(registry, part) for part in parts]
    assert sum(p.compressed_bytes for p in pieces) == record.compressed_bytes
    assert sum(p.symbols for p in pieces) == record.symbols
    assert abs(sum(p.ideal_bits for p in pieces) - record.ideal_bits) < 1e-6 * record.ideal_bits
    assert cli.main([*args, "--chunk-bytes", "64"]) == 0  # reused: the same spec and file
    assert len(results.read(store)) == 1


def test_a_stopped_chunked_run_keeps_its_finished_parts_and_resumes_from_them(tiny, tmp_path, monkeypatch):
    """Ctrl-C as a file's third part starts: the two finished parts wait in store.parts.jsonl, the
    store has nothing; run again, only the third part is coded, and the file's record (and its
    loss curve) is the one an uninterrupted run makes."""
    source = tmp_path / "text.txt"
    source.write_bytes((TEXT + AWKWARD) * 3)
    store, parts_store = tmp_path / "store.jsonl", tmp_path / "store.parts.jsonl"
    args = ["run", "-p", tiny, "-c", str(source), "--no-baselines", "--chunk-bytes", "64", "--chunks-per-job", "4"]
    measured = []
    attempt = sweep.attempt

    def stopped_at_third(registry, job, **streaming):
        if len(measured) == 2:
            raise KeyboardInterrupt
        measured.append(job.part)
        return attempt(registry, job, **streaming)

    monkeypatch.setattr(sweep, "attempt", stopped_at_third)
    assert cli.main([*args, "--results", str(store)]) == 130
    assert results.read(store) == [] and measured == [(0, 256), (256, 512)]
    assert [(p.raw_bytes, p.verified) for p in results.read(parts_store)] == [(256, True), (256, True)]

    measured.clear()
    counted = lambda registry, job, **streaming: measured.append(job.part) or attempt(registry, job, **streaming)  # noqa: E731
    monkeypatch.setattr(sweep, "attempt", counted)
    assert cli.main([*args, "--results", str(store)]) == 0
    assert measured == [(512, source.stat().st_size)]
    (resumed,) = results.read(store)
    assert cli.main([*args, "--results", str(tmp_path / "fresh.jsonl")]) == 0  # its own parts store
    (fresh,) = results.read(tmp_path / "fresh.jsonl")
    assert resumed.verified and resumed.raw_bytes == source.stat().st_size
    assert (resumed.compressed_bytes, resumed.symbols) == (fresh.compressed_bytes, fresh.symbols)
    curve = curves.load(store, resumed)
    assert len(curve) == resumed.symbols and np.allclose(curve, curves.load(tmp_path / "fresh.jsonl", fresh))


def test_chunk_bytes_is_refused_for_a_predictor_that_codes_whole_inputs(tmp_path, capsys):
    source = tmp_path / "text.txt"
    source.write_bytes(TEXT)
    args = ["run", "-p", "ngram", "-c", str(source), "--chunk-bytes", "64", "--results", str(tmp_path / "s")]
    assert cli.main(args) != 0
    assert "--chunk-bytes: ngram codes whole inputs; predictors with a chunk option:" in capsys.readouterr().err


def test_forged_chunk_counts_are_refused(registry, tiny):
    predictor = registry.build(f"{tiny},chunk=64")
    payload, _ = predictor.encode_symbols(predictor.to_symbols(TEXT))
    count = len(predictor.to_symbols(TEXT))
    for forged in (wire.varint(1 << 40) + payload[1:], wire.varint(1) + wire.varint(count + 1)):
        with pytest.raises(HarnessError, match="not a valid .hz file"):
            predictor.decode_symbols(forged, count)


def test_a_changed_model_is_refused_at_decode(registry, tmp_path):
    if not GPT2_TOKENIZER.is_dir():
        pytest.skip("../shared/models/gpt2-tokenizer is absent")
    _save_tiny_gpt2(tmp_path, seed=0)
    spec = f"hf:{tmp_path}"
    encoded = container.encode(TEXT, spec, registry.build(spec))
    _save_tiny_gpt2(tmp_path, seed=1)
    hf.load.cache_clear()
    with pytest.raises(HarnessError, match="model_sha256"):
        container.decode(wire.unpack(encoded.container), registry.build(spec))


def test_a_hybrid_whose_model_changed_is_refused_at_decode_naming_the_key(registry, tmp_path):
    """A mix:hf+cm file, decoded as `harness decompress` does, after the model's weights changed."""
    if not GPT2_TOKENIZER.is_dir():
        pytest.skip("../shared/models/gpt2-tokenizer is absent")
    _save_tiny_gpt2(tmp_path, seed=0)
    spec = f"mix:hf({tmp_path})+cm(memory_mib=1;history_mib=1)"
    header = wire.unpack(container.encode(TEXT, spec, registry.build(spec)).container)
    _save_tiny_gpt2(tmp_path, seed=1)
    hf.load.cache_clear()
    with pytest.raises(HarnessError, match="model_sha256"):
        container.decode(header, registry.decoder(header))


def test_a_file_written_where_torch_ran_other_kernels_is_refused_naming_the_isa(registry, tiny, monkeypatch):
    """torch's CPU kernels (AVX2, AVX-512) round differently: the file names the ISA it was written
    with, and elsewhere is refused by that key rather than decoded into a CRC failure."""
    import torch

    encoded = container.encode(TEXT, tiny, registry.build(tiny))
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "NO AVX")
    with pytest.raises(HarnessError, match=r"cpu_capability \(here 'NO AVX'\)"):
        container.decode(wire.unpack(encoded.container), registry.build(tiny))


def test_size_and_compute_are_reported(registry, tiny):
    predictor = registry.build(tiny)
    model = predictor.m.model
    assert predictor.params == sum(p.numel() for p in model.parameters())
    embeddings = model.transformer.wte.weight.numel() + model.transformer.wpe.weight.numel()
    assert predictor.flops_per_symbol == 2 * (predictor.params - embeddings)
    weights = Path(tiny.partition(":")[2]) / "model.safetensors"
    assert predictor.model_bytes == weights.stat().st_size + (weights.parent / "config.json").stat().st_size
    config = predictor.config()
    assert config["torch"] == torch.__version__ and config["device_type"] == "cpu"
    assert len(config["model_sha256"]) == len(config["tokenizer_sha256"]) == 64


def test_harness_run_gpt2_offline_from_the_cache(hf_home, tmp_path):
    """What a user types, with the model already in the HF cache and no network."""
    corpus = tmp_path / "sample.txt"
    corpus.write_bytes(TEXT + AWKWARD)
    store = tmp_path / "results.jsonl"
    env = {"HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1"}
    done = run_cli("run", "--predictor", "gpt2", "-c", str(corpus), "--no-baselines", "--results", str(store), env=env)
    assert done.returncode == 0, done.stderr
    (record,) = results.read(store)
    assert record.spec == "gpt2" and record.verified is True
    assert record.symbols < record.raw_bytes
    assert record.model_bytes > 0 and record.params > 0 and record.flops_per_byte > 0
    assert record.adjusted_ratio == pytest.approx(record.raw_bytes / (record.compressed_bytes + record.model_bytes))


def test_offline_without_a_cached_copy_says_how_to_get_it(tmp_path):
    corpus = tmp_path / "sample.txt"
    corpus.write_bytes(TEXT)
    env = {"HF_HOME": str(tmp_path / "empty"), "HF_HUB_OFFLINE": "1"}
    store = tmp_path / "results.jsonl"
    done = run_cli("run", "-p", "distilgpt2", "-c", str(corpus), "--no-baselines", "--results", str(store), env=env)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "hf download distilbert/distilgpt2" in done.stderr


def test_a_missing_local_folder_is_named_not_looked_up_on_the_hub(registry, tmp_path):
    with pytest.raises(HarnessError, match="no model folder"):
        registry.build(f"hf:{tmp_path / 'absent'}")


@pytest.mark.slow
@pytest.mark.skipif(not SMOLLM2.is_dir(), reason="../shared/models/smollm2-135m-instruct is absent")
def test_smollm2_gguf_compresses_alice_verified(registry, shared_corpora, capfd):
    """The real pretrained SmolLM2-135M (GGUF, expanded by transformers) on the first 2,000 bytes of
    alice29.txt in 4 lockstep streams, decoded and checked: 4 cold starts of 500 bytes each still
    leave it far below any classic compressor (xz -9e takes about 2.5 bits/byte on alice29); a
    wrongly expanded weight would not.
    """
    data = (shared_corpora / "canterbury" / "alice29.txt").read_bytes()[:2_000]
    spec = f"hf:{SMOLLM2},gguf_file=SmolLM2-135M-Instruct.Q4_1.gguf,batch=4,threads=2"
    encoded = container.encode(data, spec, registry.build(spec))
    assert "GGUF tensors" not in capfd.readouterr().err  # transformers' own bar would cut through ours
    decoded = container.decode(wire.unpack(encoded.container), registry.build(spec))
    assert decoded == data
    bits_per_byte = 8 * encoded.payload_bytes / len(data)  # the header (~0.6 KB: config, hashes) aside
    assert bits_per_byte <= 1.5, bits_per_byte  # 1.41 measured


def test_threads_are_pinned_for_a_run_only(registry, tiny):
    """Building or running an hf predictor never changes the process's torch thread count."""
    import torch

    before = torch.get_num_threads()
    wanted = 2 if before != 2 else 1
    predictor = registry.build(f"{tiny},threads={wanted}")
    assert torch.get_num_threads() == before
    seen = []
    predictor.encode_symbols(predictor.to_symbols(TEXT[:200]), lambda _: seen.append(torch.get_num_threads()))
    assert set(seen) == {wanted} and torch.get_num_threads() == before


def test_the_memory_estimate_counts_every_streams_keys_and_values(registry, tmp_path, capsys):
    """A file may name a cached model with batch=4096: its keys and values (batch x context x
    layers x key-value width) are counted, read from the model's config or GGUF header, and a
    file asking for more than --max-memory is refused before the model is built."""
    from harness import cli
    from plugins.hf.loading import Shape, shape

    if not (STORIES.is_dir() and SMOLLM2.is_dir()):
        pytest.skip("../shared/models is absent")
    assert shape(SMOLLM2, "SmolLM2-135M-Instruct.Q4_1.gguf") == Shape(30, 192, 8192, 49152)  # its GGUF header
    model = shape(STORIES, "")
    assert (model.layers, model.kv_width, model.max_positions) == (5, 32, 512)
    cls, one, _ = registry.predictor(f"hf:{STORIES}")
    _, many, _ = registry.predictor(f"hf:{STORIES},batch=4096")
    assert cls.memory_estimate(many, 0) - cls.memory_estimate(one, 0) >= model.kv_bytes(4095 * 512, 4)
    spec = "hf:./stories260K,batch=4096"
    config = cls.static_config(many)
    path = tmp_path / "wide.hz"
    path.write_bytes(
        wire.header_bytes(spec, wire.ConfigCheck.of(config, config), 10, 10, 0) + wire.varint(1) + bytes(5)
    )
    code = cli.main(["decompress", str(path), "--model", str(STORIES), "--max-memory", "1024"])
    error = capsys.readouterr().err
    assert code == 2 and "--max-memory" in error and error.count("\n") == 1


def test_progress_counts_bytes_of_the_input_not_tokens(registry, tiny):
    """A tokenizing predictor codes fewer symbols than bytes: the bars and their rate and ETA are
    in bytes all the same (a token's share of them)."""
    from harness import measure
    from harness.corpus import CorpusFile

    data = TEXT.encode() if isinstance(TEXT, str) else TEXT
    phases, counts = [], []
    record = measure.measure_predictor(
        registry,
        tiny,
        CorpusFile("notes", lambda: data),
        progress=counts.append,
        phase=lambda *named: phases.append((*named, len(counts))),
    )
    assert record.symbols < len(data)  # tokens
    assert [(name, total) for name, total, _ in phases] == [("encode", len(data)), ("decode", len(data))]
    at_decode = phases[1][2]
    assert sum(counts[:at_decode]) == pytest.approx(len(data)) and sum(counts[at_decode:]) == pytest.approx(len(data))
