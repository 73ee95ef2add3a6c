"""The neural network the scheduler runs: a tiny next-token model, its weights and updates.

The model is small on purpose (an embedding, one hidden layer, an output layer; a few
hundred parameters) but real: every token the engine produces comes out of a torch forward
pass over the current weights, and every weight update writes real tensors.

A weight update is validated as a whole before any tensor is written: an unknown name, a
wrong shape or dtype, or a non-finite value raises :class:`WeightUpdateError` and leaves
every weight as it was.

>>> model = TinyLM(seed=0)
>>> sorted(model.state_dict())
['embed.weight', 'hidden.bias', 'hidden.weight', 'out.bias', 'out.weight']
>>> model.apply_update({"out.bias": torch.zeros(3)})
Traceback (most recent call last):
...
impl.weights.WeightUpdateError: invalid weight update, nothing was changed: out.bias: shape (3,), expected (32,)
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn


class WeightUpdateError(ValueError):
    """A weight update was rejected; the message lists every problem.  No weight changed."""


class TinyLM(nn.Module):
    """Next token = argmax(out(tanh(hidden(embed(token))))).  Deterministic for a seed."""

    def __init__(self, vocab: int = 32, dim: int = 8, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.vocab = vocab
        self.embed = nn.Embedding(vocab, dim)
        self.hidden = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, vocab)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
        self.requires_grad_(False)

    @torch.no_grad()
    def next_tokens(self, tokens: list[int]) -> list[int]:
        """One forward pass over a batch: the next token for each input token."""
        batch = torch.tensor(tokens, dtype=torch.long)
        logits = self.out(torch.tanh(self.hidden(self.embed(batch))))
        return [int(t) for t in logits.argmax(dim=-1)]

    @torch.no_grad()
    def fingerprint(self) -> tuple[float, ...]:
        """A content hash of the weights: one float per tensor.  Two forward passes with
        different fingerprints ran on different weights; the monitor reads this, not flags."""
        return tuple(float(p.double().mul(1.0 + i).sum()) for i, p in
                     enumerate(self.state_dict().values()))

    def check_update(self, weights: Mapping[str, torch.Tensor]) -> None:
        """Raise WeightUpdateError listing every problem of ``weights``; change nothing."""
        current = self.state_dict()
        problems = []
        if not isinstance(weights, Mapping) or not weights:
            raise WeightUpdateError(
                "invalid weight update, nothing was changed: expected a non-empty dict of "
                f"name -> tensor; valid names: {', '.join(current)}"
            )
        for name, tensor in weights.items():
            if name not in current:
                problems.append(f"{name}: unknown parameter; valid names: {', '.join(current)}")
                continue
            want = current[name]
            if not isinstance(tensor, torch.Tensor):
                problems.append(f"{name}: a {type(tensor).__name__}, expected a torch.Tensor")
                continue
            if tuple(tensor.shape) != tuple(want.shape):
                problems.append(f"{name}: shape {tuple(tensor.shape)}, expected {tuple(want.shape)}")
            elif tensor.dtype != want.dtype:
                problems.append(f"{name}: dtype {tensor.dtype}, expected {want.dtype}")
            elif not bool(torch.isfinite(tensor).all()):
                problems.append(f"{name}: contains NaN or infinite values")
        if problems:
            raise WeightUpdateError(
                "invalid weight update, nothing was changed: " + "; ".join(problems)
            )

    @torch.no_grad()
    def apply_update(self, weights: Mapping[str, torch.Tensor]) -> None:
        """Validate the whole update, then copy every tensor in: all or nothing."""
        self.check_update(weights)
        current = self.state_dict()
        for name, tensor in weights.items():
            current[name].copy_(tensor)


def perturbed(model: TinyLM | Mapping[str, torch.Tensor], seed: int,
              scale: float = 0.1) -> dict[str, torch.Tensor]:
    """A full, valid update: every weight (of a model, or of a state dict) plus seeded noise;
    distinct seeds give distinct weights."""
    generator = torch.Generator().manual_seed(seed)
    weights = model.state_dict() if isinstance(model, nn.Module) else model
    return {name: t + torch.randn(t.shape, generator=generator) * scale
            for name, t in weights.items()}


def to_bytes(weights: Mapping[str, torch.Tensor]) -> bytes:
    """Serialise weights as ``torch.save`` does (the simulated ipc transport)."""
    buffer = io.BytesIO()
    torch.save(dict(weights), buffer)
    return buffer.getvalue()


def from_bytes(data: bytes, what: str = "the payload") -> dict[str, torch.Tensor]:
    """Inverse of :func:`to_bytes`; tensors only (``weights_only=True``).  Anything that is
    not a ``torch.save``'d dict raises WeightUpdateError naming ``what``."""
    try:
        loaded = torch.load(io.BytesIO(data), weights_only=True)
    except Exception as exc:
        raise WeightUpdateError(
            f"invalid weight update: cannot load {what} ({len(data)} bytes): not a "
            f"torch.save'd dict of name -> tensor ({type(exc).__name__})") from None
    if not isinstance(loaded, dict):
        raise WeightUpdateError(f"invalid weight update: {what} holds a {type(loaded).__name__}, "
                                "expected a dict of name -> tensor")
    return loaded


def load_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a weight file written with ``torch.save(dict_of_tensors, path)``."""
    path = Path(path)
    if not path.is_file():
        raise WeightUpdateError(f"invalid weight update: no such file {str(path)!r}")
    return from_bytes(path.read_bytes(), what=repr(str(path)))
