"""`lstm`: a byte-level LSTM trained online while coding (NNCP / lstm-compress style).

Stacked LSTM layers, each fed the byte embedding and the layer below; the output layer sees
every layer's output (skip connections, as in NNCP). Trained by truncated backpropagation
through time: every `context` steps one update on the last `context` bytes of each stream,
starting from the state the block began with. The model is in model.py; plugins/online holds the shared loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from harness.hookspecs import hookimpl
from harness.predictor import Option
from plugins.online import OnlinePredictor

if TYPE_CHECKING:
    from plugins.lstm.model import LSTMModel


class LSTM(OnlinePredictor):
    name = "lstm"
    description = "byte-level LSTM trained online while coding (truncated BPTT, NNCP-style)"
    # 2: Adam fused, beta1 0 (was 0.9); 3: the best measured configuration as the defaults (3 layers
    # of 256, lr 5e-3; was 2 of 128, lr 1e-2: results/online/README.md)
    version = 3
    options: ClassVar[dict[str, Any]] = {
        **OnlinePredictor.options,
        "layers": Option(3, "stacked LSTM layers", 1, 64),
        "hidden": Option(256, "hidden units per layer", 1, 8192),
        "context": Option(16, "T: steps per block (truncated BPTT length)", 1, 4096),
        "lr": Option(5e-3, "learning rate", 1e-9, 10.0),
    }

    test_options: ClassVar[dict[str, Any]] = {
        "layers": 1,
        "hidden": 16,
        "batch": 32,
        "context": 8,
    }

    @classmethod
    def working_bytes(cls, settings: dict[str, Any]) -> int:
        """The activations and states of training and coding, bounded from above (the weights
        are counted by `memory_estimate`); they grow with batch x context x hidden x layers."""
        # In float32s: per layer and position of every stream 32 x hidden kept for backward and
        # their gradients (input projections, gates before and after their nonlinearities, cell
        # states, the layer's input and output; about 20 measured); the logits, their log-softmax,
        # its gradient and a copy; each layer's state and the memory of it.
        batch, context, hidden, layers = (settings[k] for k in ("batch", "context", "hidden", "layers"))
        return 4 * (32 * layers * batch * context * hidden + 4 * batch * context * 256 + 4 * layers * batch * hidden)

    @classmethod
    def make_model_for(cls, settings: dict[str, Any]) -> LSTMModel:
        from plugins.lstm.model import LSTMModel

        return LSTMModel(settings["layers"], settings["hidden"])


@hookimpl
def harness_predictors() -> list[type[OnlinePredictor]]:
    return [LSTM]
