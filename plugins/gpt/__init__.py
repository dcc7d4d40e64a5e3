"""`gpt`: a byte-level decoder-only transformer trained online while coding, nanoGPT-style.

The model is nanoGPT's (pre-norm blocks of causal self-attention and a 4x GELU MLP, tied input
and output embeddings, scaled init of residual projections), with three changes for online
coding in blocks:

- Memory (as in Transformer-XL and NNCP): the keys and values of the last `memory_blocks`
  blocks stay cached, so a byte sees between M x `context` and (M + 1) x `context` bytes back,
  while training costs only one block per update. The memory is computed with the weights of
  its own time and not trained through.
- Relative positions instead of learned absolute ones, so a cached key keeps its meaning when its
  block becomes memory: attention scores get ALiBi's per-head penalty linear in the distance
  (a recency prior that helps from the first byte) plus a learned bias per head and distance,
  zero at the start (T5-style). The learned part lets a head look exactly k bytes back, which
  fixed-layout data needs: in the "a+b=c" records a sum digit sits 9 and 18 bytes after the
  operand digits it depends on.
- Token shift ("smear", as in RWKV and modded-nanoGPT): the input of each position is its byte's
  embedding plus an embedding of the byte before it. Without it a small model has to learn an
  attention head for the previous byte first; with it, it learns faster early on, which matters
  when every byte is seen once.
- Hashed n-gram embeddings (as in BLT, the Byte Latent Transformer): with `ngrams=n`, each input
  also adds one learned row per order 2..n, picked by a hash of its last k bytes (`buckets` rows
  per order). A context seen before is then recognised from the input alone, which attention
  would learn only after many steps; on book1 this is the largest single gain (see the README).

Coding steps one byte at a time through the cache (`step`); training recomputes the block in
one pass (`block_loss`) with the same weights, hence the same probabilities up to rounding.
The model is in model.py; plugins/online holds the shared loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from harness.errors import HarnessError
from harness.hookspecs import hookimpl
from harness.predictor import Option
from plugins.online import OnlinePredictor

if TYPE_CHECKING:
    from plugins.gpt.model import GPTModel


BASE_WIDTH = 128


class GPT(OnlinePredictor):
    name = "gpt"
    description = "byte-level decoder-only transformer trained online while coding (nanoGPT-style)"
    # 2: token shift; 3: learning rate scaled with width; 4: learned distance bias, memory_blocks;
    # 5: hashed n-gram embeddings, Adam fused with beta1 0.5 (was 0.9); 6: the best measured
    # configuration as the defaults (width 256, lr 1e-3, 8 blocks of memory, n-grams of 2..6 bytes
    # in 16,384 rows each; was width 128, lr 2e-3, 1 block, none: results/online/README.md)
    version = 6
    options: ClassVar[dict[str, Any]] = {
        **OnlinePredictor.options,
        "layers": Option(2, "transformer blocks", 1, 64),
        "width": Option(256, "embedding width (a multiple of heads)", 1, 8192),
        "heads": Option(4, "attention heads", 1, 256),
        "context": Option(16, "T: steps per block; the weights are frozen within a block", 1, 4096),
        "lr": Option(
            1e-3,
            "learning rate at width 128 (other widths get lr x 128 / width)",
            1e-9,
            10.0,
        ),
        # 0.5 rather than 0.9 (or 0), by the beta1 table of results/online/README.md
        "beta1": Option(0.5, "Adam's beta1 (momentum)", 0.0, 0.999999),
        "memory_blocks": Option(8, "blocks of cached keys/values a byte attends to besides its own", 1, 256),
        "ngrams": Option(6, "hashed n-gram input embeddings for orders 2..ngrams (0: off)", 0, 32),
        "buckets": Option(16384, "rows per n-gram order", 1, 1 << 24),
    }

    """lr is the rate at width 128; other widths get lr x 128 / width (muP's rule for Adam), so
    one setting serves a size sweep instead of being too high for the widest model."""

    test_options: ClassVar[dict[str, Any]] = {
        "layers": 1,
        "width": 16,
        "heads": 2,
        "batch": 32,
        "context": 8,
        "memory_blocks": 2,
        "ngrams": 3,
        "buckets": 64,
    }

    def learning_rate(self) -> float:
        return self.settings["lr"] * BASE_WIDTH / self.settings["width"]

    @classmethod
    def working_bytes(cls, settings: dict[str, Any]) -> int:
        """The activations, caches and buffers of training and coding, bounded from above (the
        weights are counted by `memory_estimate`); they grow with batch x context x memory_blocks."""
        # In float32s, with K = (memory_blocks + 1) x context, the most keys a query sees:
        # - keys and values of K positions per layer and stream, three times over (the memory,
        #   the cache of the block being coded, the new one each step or training concatenates),
        #   and twice more for one layer's gradients and the allocator's slack;
        # - attention scores [batch, heads, context, K]: one per layer kept for backward, three
        #   in flight (scaled, biased, softmaxed, or their gradients);
        # - per position and layer about 20 x width kept for backward (layer norms, q, k, v, the
        #   MLP's 4 x width twice, residuals), a layer more for their gradients, the n-gram rows
        #   gathered before they are summed, and the logits, their log-softmax and its gradient;
        # - the distance (int64) and ALiBi buffers, [context, K] and [heads, context, K], twice
        #   over: the model derives one from another, training adds the learned bias to a copy.
        # Weights alone let a 95-byte file ask for batch=2048,context=1024,memory_blocks=256
        # under a 4 GiB limit, and then take more than 4.5 GiB.
        s = settings
        batch, context, width, layers, heads = s["batch"], s["context"], s["width"], s["layers"], s["heads"]
        keys = (s["memory_blocks"] + 1) * context
        floats = (
            (3 * layers + 2) * 2 * batch * keys * width
            + (layers + 3) * batch * heads * context * keys
            + ((layers + 1) * 20 + s["ngrams"]) * batch * context * width
            + 3 * batch * context * 256
            + (4 + 2 * heads) * context * keys
        )
        return 4 * floats

    @classmethod
    def make_model_for(cls, settings: dict[str, Any]) -> GPTModel:
        from plugins.gpt.model import GPTModel

        s = settings
        if s["width"] % s["heads"]:
            raise HarnessError(f"gpt: width must be a multiple of heads (got {s['width']}, {s['heads']})")
        if s["ngrams"] == 1:
            raise HarnessError("gpt: ngrams must be 0 (off) or at least 2, not 1")
        return GPTModel(
            s["layers"],
            s["width"],
            s["heads"],
            s["context"],
            s["memory_blocks"],
            s["ngrams"],
            s["buckets"],
        )


@hookimpl
def harness_predictors() -> list[type[OnlinePredictor]]:
    return [GPT]
