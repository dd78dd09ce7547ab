"""Embedding quality, retrieval agreement, size and speed measures for the demo table."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

__all__ = [
    "encode",
    "mean_cosine",
    "mean_pool",
    "retrieval_agreement",
    "time_encoding",
    "tree_bytes",
]

Batch = tuple[torch.Tensor, torch.Tensor]


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average the token vectors of `hidden` over the unmasked tokens, then L2-normalize.

    This is sentence-transformers' pooling for all-MiniLM-L6-v2 (`pooling_mode_mean_tokens`
    followed by its `Normalize` module). Shapes: `[B, T, D]` and `[B, T]` give `[B, D]`.
    """
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    summed = (hidden.float() * mask).sum(dim=1)
    counts = mask.sum(dim=1).clamp(min=1e-9)
    return F.normalize(summed / counts, p=2, dim=1)


@torch.inference_mode()
def encode(model: torch.nn.Module, batches: Sequence[Batch]) -> torch.Tensor:
    """Return the float32 sentence embeddings `[N, D]` of every batch, in order."""
    embeddings = [mean_pool(model(ids, mask), mask) for ids, mask in batches]
    return torch.cat(embeddings)


def mean_cosine(reference: torch.Tensor, candidate: torch.Tensor) -> float:
    """Mean cosine similarity between matching rows of two embedding matrices."""
    return F.cosine_similarity(reference.float(), candidate.float(), dim=1).mean().item()


def _nearest_neighbours(embeddings: torch.Tensor) -> torch.Tensor:
    similarity = embeddings @ embeddings.T
    similarity.fill_diagonal_(float("-inf"))
    return similarity.argmax(dim=1)


def retrieval_agreement(reference: torch.Tensor, candidate: torch.Tensor) -> float:
    """Fraction of texts whose nearest other text is the same under both embeddings.

    Each text queries all the other held-out texts, so this is top-1 retrieval agreement
    with the reference over the held-out set.
    """
    same = _nearest_neighbours(reference) == _nearest_neighbours(candidate)
    return same.float().mean().item()


def time_encoding(run: Callable[[], object], repeats: int) -> float:
    """Return the fastest of `repeats` wall-clock times of `run()`, in seconds, after a warm-up."""
    run()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def tree_bytes(path: Path) -> int:
    """Return the total size of the files under `path` (or of `path` itself), in bytes."""
    if path.is_file():
        return path.stat().st_size
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())
