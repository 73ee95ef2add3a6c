"""The neural network the scheduler runs: a tiny next-token model, its weights and updates.

The model is small on purpose (an embedding, one hidden layer, an output layer; a few
hundred parameters) but real: every token the engine produces comes out of a torch forward
pass over the current weights, and every weight update writes real tensors.

A weight update is validated as a whole before any tensor is written, and every problem
raises :class:`WeightUpdateError` naming the weight and leaves every weight as it was.  A
valid update is a non-empty dict mapping parameter names to tensors that are

* dense (``torch.strided``: not sparse, not mkldnn, not nested),
* on the weights' device (``cpu``; a ``meta`` tensor has no values, a ``cuda`` one is not
  where the weights are),
* of the parameter's exact shape and dtype,
* readable and finite (a tensor whose values cannot be read, e.g. a fake tensor, is refused).

A tensor that requires grad is valid (a trainer's parameters do): its values are copied,
never its autograd graph, and the model's weights never require grad.

>>> model = TinyLM(seed=0)
>>> sorted(model.state_dict())
['embed.weight', 'hidden.bias', 'hidden.weight', 'out.bias', 'out.weight']
>>> model.apply_update({"out.bias": torch.zeros(3)})
Traceback (most recent call last):
...
impl.engine.weights.WeightUpdateError: invalid weight update, nothing was changed: out.bias: shape (3,), expected (32,)
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from .validate import EngineInputError, describe


class WeightUpdateError(EngineInputError):
    """A weight update was rejected; the message lists every problem.  No weight changed."""


class TinyLM(nn.Module):
    """Next token = argmax(out(tanh(hidden(embed(token))))).  Deterministic for a seed."""

    def __init__(self, vocab: int = 32, dim: int = 8, seed: int = 0) -> None:
        super().__init__()
        w = _initial_weights(vocab, dim, seed)
        self.vocab = vocab
        self.embed = nn.Embedding(vocab, dim, _weight=w["embed.weight"].clone(), _freeze=True)
        self.hidden = _linear(w["hidden.weight"], w["hidden.bias"])
        self.out = _linear(w["out.weight"], w["out.bias"])

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
            problem = _tensor_problem(tensor, current[name])
            if problem:
                problems.append(f"{name}: {problem}")
        if problems:
            raise WeightUpdateError(
                "invalid weight update, nothing was changed: " + "; ".join(problems)
            )

    @torch.no_grad()
    def apply_update(self, weights: Mapping[str, torch.Tensor]) -> None:
        """Validate the whole update, then copy every tensor in: all or nothing.

        The new values are read in full before the first weight is written, so an update
        built from the model's own tensors (``{"out.weight": embed, "embed.weight": out}``,
        a swap) gets the values the weights had before it."""
        self.check_update(weights)
        current = self.state_dict()
        staged = {name: tensor.detach().clone() for name, tensor in weights.items()}
        for name, tensor in staged.items():
            current[name].copy_(tensor)


_INITIAL: dict[tuple[int, int, int], dict[str, torch.Tensor]] = {}


def _initial_weights(vocab: int, dim: int, seed: int) -> dict[str, torch.Tensor]:
    """The initial weights of ``TinyLM(vocab, dim, seed)``: seeded normal draws times 0.5, in
    parameter order, computed once per key (an exploration builds thousands of engines).
    Callers copy them; these tensors are never handed out."""
    key = (vocab, dim, seed)
    weights = _INITIAL.get(key)
    if weights is None:
        generator = torch.Generator().manual_seed(seed)
        shapes = (("embed.weight", (vocab, dim)), ("hidden.weight", (dim, dim)),
                  ("hidden.bias", (dim,)), ("out.weight", (vocab, dim)), ("out.bias", (vocab,)))
        weights = {name: torch.randn(shape, generator=generator) * 0.5 for name, shape in shapes}
        _INITIAL[key] = weights
    return weights


def _linear(weight: torch.Tensor, bias: torch.Tensor) -> nn.Linear:
    """An ``nn.Linear`` holding copies of ``weight`` and ``bias`` (no grad), built without
    its random initialisation, which would be overwritten at once."""
    layer = nn.Linear.__new__(nn.Linear)
    nn.Module.__init__(layer)
    layer.in_features, layer.out_features = int(weight.shape[1]), int(weight.shape[0])
    layer.weight = nn.Parameter(weight.clone(), requires_grad=False)
    layer.bias = nn.Parameter(bias.clone(), requires_grad=False)
    return layer


def _tensor_problem(tensor: object, want: torch.Tensor) -> str:
    """What makes ``tensor`` unfit to replace the weight ``want`` ("" if nothing)."""
    if not isinstance(tensor, torch.Tensor):
        return f"a {type(tensor).__name__}, expected a torch.Tensor"
    try:
        if tensor.is_nested:
            return "a nested tensor, expected a dense (torch.strided) tensor"
        if tensor.layout != torch.strided:
            return f"layout {tensor.layout}, expected a dense (torch.strided) tensor"
        if tensor.device != want.device:
            return (f"on device {tensor.device}, expected {want.device} (the weights' device)"
                    + ("; a meta tensor has no values" if tensor.device.type == "meta" else ""))
        if tuple(tensor.shape) != tuple(want.shape):
            return f"shape {tuple(tensor.shape)}, expected {tuple(want.shape)}"
        if tensor.dtype != want.dtype:
            return f"dtype {tensor.dtype}, expected {want.dtype}"
        if not bool(torch.isfinite(tensor).all()):
            return "contains NaN or infinite values"
    except Exception as exc:  # a tensor whose values cannot be read (fake, opaque, ...)
        return (f"its values cannot be read ({type(exc).__name__}); expected a dense cpu "
                "tensor with real values")
    return ""


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


def load_file(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a weight file written with ``torch.save(dict_of_tensors, path)``.

    ``path`` must name an existing regular file; a directory, a missing file, a device or
    pipe, an unreadable file or one that is not a ``torch.save``'d dict raises
    WeightUpdateError naming the path and the problem.

    >>> load_file("/")
    Traceback (most recent call last):
    ...
    impl.engine.weights.WeightUpdateError: invalid weight update: '/' is a directory, expected a file written by torch.save
    """
    if not isinstance(path, (str, os.PathLike)):
        raise WeightUpdateError(f"invalid weight update: the path must be a str or "
                                f"os.PathLike, got {describe(path)}")
    path = Path(path)
    where = repr(str(path))
    try:
        if path.is_dir():
            raise WeightUpdateError(f"invalid weight update: {where} is a directory, expected "
                                    "a file written by torch.save")
        if not path.exists():
            raise WeightUpdateError(f"invalid weight update: no such file {where}")
        if not path.is_file():
            raise WeightUpdateError(f"invalid weight update: {where} is not a regular file, "
                                    "expected a file written by torch.save")
        data = path.read_bytes()
    except OSError as exc:
        raise WeightUpdateError(f"invalid weight update: cannot read {where}: "
                                f"{exc.strerror or type(exc).__name__}") from None
    return from_bytes(data, what=where)
