"""The online-trained predictors `lstm` and `gpt`: lossless, deterministic, and code length = loss."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from harness import container, results, wire
from harness.errors import HarnessError
from plugins.gpt.model import hashed_ngrams
from tests.conftest import run_cli

TINY = {
    "lstm": "lstm:layers=2,hidden=16,batch=8,context=8",
    "gpt": "gpt:layers=2,width=16,heads=2,batch=8,context=8,memory_blocks=1,ngrams=0",
    "gpt-memory": "gpt:layers=2,width=16,heads=2,batch=8,context=8,memory_blocks=3,ngrams=0",
    "gpt-ngrams": "gpt:layers=2,width=16,heads=2,batch=8,context=8,ngrams=4,buckets=64",
}
TEXT = b"the quick brown fox jumps over the lazy dog; " * 12 + b"1+1=2\n2+2=4\n"
BINARY = np.random.default_rng(1).integers(0, 256, 300, dtype=np.uint8).tobytes() + bytes(40) + b"\xff" * 7
MEMORY_BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "memory_online.py"


def _encode(registry, spec, data):
    predictor = registry.build(spec)
    return predictor, container.encode(data, spec, predictor)


@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("data", [TEXT, BINARY, b"", b"x"], ids=["text", "binary", "empty", "one"])
def test_round_trip_through_the_container(registry, name, data):
    _, encoded = _encode(registry, TINY[name], data)
    assert container.decode(wire.unpack(encoded.container), registry.build(TINY[name])) == data


@pytest.mark.parametrize("name", sorted(TINY))
def test_fresh_instances_give_identical_payloads(registry, name):
    _, first = _encode(registry, TINY[name], TEXT)
    _, second = _encode(registry, TINY[name], TEXT)
    assert first.container == second.container
    _, other_seed = _encode(registry, TINY[name] + ",seed=1", TEXT)
    assert other_seed.container != first.container  # the seed really sets the initial weights


@pytest.mark.parametrize("updates", [1, 3])
@pytest.mark.parametrize("name", sorted(TINY))
def test_code_length_is_the_area_under_the_training_loss_curve(registry, name, updates):
    predictor, encoded = _encode(registry, f"{TINY[name]},updates={updates}", TEXT)
    ideal = float(encoded.symbol_bits.sum(dtype=np.float64))
    model = float(predictor.model_bits.sum())
    # The coder codes the model's own probabilities: quantization costs a tiny fraction...
    assert abs(ideal - model) < 1e-4 * model
    # ...and the payload is the ideal code length plus a few bytes of flush.
    assert abs(8 * encoded.payload_bytes - ideal) < 8 * 4
    # Each training step's loss, computed in its own forward pass before its update, is the
    # code length of the block it trains on (every block but the last is trained on).
    length, steps = predictor.layout(len(TEXT))
    trained = np.arange(len(TEXT)) % length < steps - predictor.settings["context"]
    assert len(predictor.train_bits) == steps // predictor.settings["context"] - 1
    assert sum(predictor.train_bits) == pytest.approx(predictor.model_bits[trained].sum(), rel=1e-4)


@pytest.mark.parametrize("name", sorted(TINY))
def test_more_updates_per_block_learn_a_repetitive_text_faster(registry, name):
    _, once = _encode(registry, TINY[name], TEXT)
    predictor, thrice = _encode(registry, f"{TINY[name]},updates=3", TEXT)
    assert thrice.payload_bytes < once.payload_bytes
    assert predictor.flops_per_symbol == pytest.approx(10 / 4 * registry.build(TINY[name]).flops_per_symbol)
    assert container.decode(wire.unpack(thrice.container), registry.build(f"{TINY[name]},updates=3")) == TEXT


def test_gpt_scales_its_learning_rate_with_width(registry):
    rates = {w: registry.build(f"gpt:width={w},lr=0.002,ngrams=0").learning_rate() for w in (64, 128, 256)}
    assert rates == {64: pytest.approx(0.004), 128: pytest.approx(0.002), 256: pytest.approx(0.001)}


def test_adam_betas_are_options_that_change_the_stream(registry):
    from plugins.online import loop

    predictor = registry.build(f"{TINY['lstm']},beta1=0.3,beta2=0.9")
    optimizer = loop.make_optimizer(predictor, loop.fresh_model(predictor))
    assert optimizer.param_groups[0]["betas"] == (0.3, 0.9)
    _, default = _encode(registry, TINY["lstm"], TEXT)
    _, other = _encode(registry, f"{TINY['lstm']},beta1=0.3,beta2=0.9", TEXT)
    assert other.ideal_bits != default.ideal_bits


@pytest.mark.parametrize("name", sorted(TINY))
def test_learning_rate_decays_linearly_over_the_run(registry, name):
    predictor = registry.build(f"{TINY[name]},decay=0.1")
    rates = np.array([predictor.block_rate(block, 10) for block in range(10)]) / predictor.learning_rate()
    assert rates[0] == pytest.approx(1.0) and rates[-1] == pytest.approx(0.1)
    assert np.diff(rates) == pytest.approx(np.full(9, -0.1))
    constant = registry.build(f"{TINY[name]},decay=1")
    assert constant.block_rate(9, 10) == constant.learning_rate()
    _, decayed = _encode(registry, f"{TINY[name]},decay=0.1", TEXT)
    _, kept = _encode(registry, f"{TINY[name]},decay=1", TEXT)
    assert decayed.container != kept.container  # the schedule is really applied...
    assert container.decode(wire.unpack(decayed.container), registry.build(f"{TINY[name]},decay=0.1")) == TEXT


@pytest.mark.parametrize("name", sorted(TINY))
def test_decoding_with_another_setup_is_refused(registry, name):
    predictor, encoded = _encode(registry, TINY[name], TEXT)
    config = predictor.config()
    assert {"torch", "device_type", "dtype", "threads"} <= config.keys()
    header = wire.unpack(encoded.container)
    for key, value in [("torch", "0.0.1"), ("threads", 7), ("cpu_capability", "NO AVX")]:
        check = wire.ConfigCheck.of({**config, key: value}, config)
        changed = dataclasses.replace(header, check=check)
        with pytest.raises(HarnessError, match=key):
            container.decode(changed, registry.build(TINY[name]))


@pytest.mark.parametrize(("blocks", "sees_first_byte"), [(1, False), (4, True)])
def test_gpt_memory_blocks_set_how_far_back_a_byte_sees(registry, blocks, sees_first_byte):
    # 40 bytes in blocks of 8: the last one is 39 bytes after the first, beyond one block of
    # memory (it sees 8-16 bytes back) and within four (32-40).
    last_logits = []
    for first in (1, 2):
        spec = f"gpt:layers=1,width=16,heads=2,context=8,memory_blocks={blocks},ngrams=0"
        model = registry.build(spec)._fresh_model()
        model.reset(1)
        with torch.no_grad():
            for position, byte in enumerate([first] + [7] * 39):
                if position and position % 8 == 0:
                    model.next_block()
                logits = model.step(torch.tensor([byte]))
        last_logits.append(logits)
    assert (not torch.equal(*last_logits)) == sees_first_byte


def test_hashed_ngram_ids_depend_on_exactly_the_last_n_bytes():
    window = torch.tensor([[5, 1, 2, 3, 4]])  # 3 bytes before, then 2 inputs
    changed = window.clone()
    changed[0, 1] = 9  # 3 bytes before the last input: only its order-4 id may change
    ids, other = hashed_ngrams(window, 4, 1000), hashed_ngrams(changed, 4, 1000)
    assert ids.shape == (1, 2, 3)
    assert torch.equal(ids[0, 1, :2], other[0, 1, :2]) and ids[0, 1, 2] != other[0, 1, 2]
    assert [(ids[0, :, k] // 1000).tolist() for k in range(3)] == [[0, 0], [1, 1], [2, 2]]  # a table part per order


def test_hashed_ngram_embeddings_learn_a_repetitive_text_faster(registry):
    spec = "gpt:layers=2,width=16,heads=2,batch=4,context=8,memory_blocks=1,lr=2e-3"
    _, plain = _encode(registry, f"{spec},ngrams=0", TEXT * 4)
    _, hashed = _encode(registry, f"{spec},ngrams=4,buckets=64", TEXT * 4)
    assert hashed.payload_bytes < 0.9 * plain.payload_bytes


def test_bad_options_give_clear_errors(registry):
    with pytest.raises(HarnessError, match="multiple of heads"):
        registry.build("gpt:width=10,heads=3")
    with pytest.raises(HarnessError, match="optimizer"):
        registry.build("lstm:optimizer=rmsprop")
    with pytest.raises(HarnessError, match="batch"):
        registry.build("lstm:batch=0")
    with pytest.raises(HarnessError, match="decay"):
        registry.build("gpt:decay=0")
    with pytest.raises(HarnessError, match="memory_blocks"):
        registry.build("gpt:memory_blocks=0")
    with pytest.raises(HarnessError, match="ngrams"):
        registry.build("gpt:ngrams=1")
    with pytest.raises(HarnessError, match="buckets"):
        registry.build("gpt:ngrams=3,buckets=0")
    with pytest.raises(HarnessError, match="beta1"):
        registry.build("lstm:beta1=1")
    if not torch.cuda.is_available():
        with pytest.raises(HarnessError, match="CUDA"):
            registry.build("gpt:device=cuda")


def test_run_stores_the_loss_curve_and_plot_draws_it(tmp_path):
    data = tmp_path / "sample.txt"
    data.write_bytes(TEXT)
    store = tmp_path / "results.jsonl"
    run = run_cli("run", "-p", TINY["gpt"], "-c", str(data), "--no-baselines", "--results", str(store))
    assert run.returncode == 0, run.stderr
    (record,) = results.read(store)
    assert record.verified and record.model_bytes == 0
    with np.load(tmp_path / record.curve) as saved:
        bits = saved["bits"]
    assert len(bits) == len(TEXT)
    assert float(bits.sum(dtype=np.float64)) == pytest.approx(record.ideal_bits, rel=1e-6)

    plot = run_cli("plot", "curve", "--results", str(store), "-o", str(tmp_path / "plots"))
    assert plot.returncode == 0, plot.stderr
    png = (tmp_path / "plots" / "loss-curve.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000

    nothing = run_cli("plot", "curve", "--results", str(store), "--spec", "order0", "-o", str(tmp_path))
    assert nothing.returncode == 2 and "no results with a loss curve" in nothing.stderr


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="peak RSS is reset through Linux's /proc")
@pytest.mark.parametrize(
    "spec",
    ["gpt", "lstm", "gpt:width=16,heads=16,layers=1,batch=16,context=256,memory_blocks=1,ngrams=0", "order0"],
    ids=["gpt", "lstm", "gpt-attention", "order0"],
)
def test_the_memory_estimate_bounds_the_peak_of_coding(registry, spec):
    """`--max-memory` trusts the estimate: coding in a fresh process, long enough that every
    stream trains with a full memory, must add no more to its peak RSS than the estimate (the
    defaults, weight-bound, and a model whose attention scores are most of it)."""
    _, settings, _ = registry.predictor(spec)
    online = "batch" in settings  # else a streaming predictor: one whole segment
    length = settings["batch"] * settings["context"] * (settings.get("memory_blocks", 0) + 2) if online else 1 << 20
    command = [sys.executable, str(MEMORY_BENCHMARK), "--child", spec, str(length)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.splitlines()[-1])
    assert figures["added"] > 16 << 20  # it measured the model, not nothing
    assert figures["estimate"] >= figures["added"]
