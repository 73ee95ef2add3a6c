"""BREAKER: clients retrying behind a circuit breaker, a second benchmark spec for the fast path.

Structurally unlike PAUSE-UPDATE: the state is a NamedTuple with a string field, bounded
counters and a nested tuple of worker states (strings); it has a ``sometimes`` property and an
``is_done``.  It exists to measure the fast path on a spec other than PAUSE-UPDATE
(``python -m spec.bench --compare``) and in the tests; it models nothing in the engine.

Each worker loops ``idle -> sent -> idle`` (the request succeeded) or ``sent -> backoff ->
idle`` (it failed); ``max_errors`` failures open the breaker, which blocks new requests until
``reset`` closes it.  At most ``cap`` requests are in flight; the run is done once ``limit``
requests succeeded.

>>> from model_check import check
>>> r = check(BREAKER(workers=2), all_discoveries=True)
>>> r.verdict, r.hits, r.fast
('ok', {'tripped': True}, True)
"""

from __future__ import annotations

from typing import Any, NamedTuple

from model_check import Parameter, Property, Spec, always, sometimes
from model_check.fast import Command, FastModel, Processes, Step, Var

WORKER = ("idle", "sent", "backoff")


class BreakerState(NamedTuple):
    mode: str  # "closed" or "open"
    inflight: int
    served: int
    errors: int
    workers: tuple[str, ...]


class Breaker(Spec):
    """Retrying clients behind a circuit breaker (see the module docstring)."""

    name = "BREAKER"
    parameters = (
        Parameter("workers", 4, "number of identical workers", minimum=1),
        Parameter("cap", 3, "requests in flight at most", minimum=1),
        Parameter("limit", 3, "successful requests that end the run", minimum=1),
        Parameter("max_errors", 2, "failures that open the breaker", minimum=1),
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        p = self.params
        self.w, self.cap, self.limit, self.max_errors = (
            p["workers"], p["cap"], p["limit"], p["max_errors"])

    def init_states(self) -> list[BreakerState]:
        return [BreakerState("closed", 0, 0, 0, ("idle",) * self.w)]

    def properties(self) -> list[Property]:
        return [
            always("bounded_inflight", lambda s: s.inflight <= self.cap,
                   "never more than cap requests in flight"),
            always("open_after_errors", lambda s: s.mode == "closed" or s.errors == self.max_errors,
                   "the breaker is open only after max_errors failures"),
            sometimes("tripped", lambda s: s.mode == "open", "the breaker can open"),
        ]

    def is_done(self, s: BreakerState) -> bool:
        return s.served == self.limit

    def canonical(self, s: BreakerState) -> BreakerState:
        return s._replace(workers=tuple(sorted(s.workers)))

    def successors(self, s: BreakerState) -> list[tuple[str, BreakerState]]:
        out: list[tuple[str, BreakerState]] = []
        if s.mode == "open":
            out.append(("reset", s._replace(mode="closed", errors=0)))
        for i, w in enumerate(s.workers):
            if w == "idle":
                if s.mode == "closed" and s.inflight < self.cap and s.served < self.limit:
                    out.append((f"send[{i}]", s._replace(
                        inflight=s.inflight + 1, workers=_set(s.workers, i, "sent"))))
            elif w == "sent":
                out.append((f"ok[{i}]", s._replace(
                    inflight=s.inflight - 1, served=min(s.served + 1, self.limit),
                    workers=_set(s.workers, i, "idle"))))
                errors = min(s.errors + 1, self.max_errors)
                out.append((f"fail[{i}]", s._replace(
                    inflight=s.inflight - 1, errors=errors,
                    mode="open" if errors == self.max_errors else s.mode,
                    workers=_set(s.workers, i, "backoff"))))
            else:
                out.append((f"retry[{i}]", s._replace(workers=_set(s.workers, i, "idle"))))
        return out

    def actions(self, s: BreakerState) -> list[str]:
        return [a for a, _ in self.successors(s)]

    def next_state(self, s: BreakerState, action: str) -> BreakerState:
        for a, t in self.successors(s):
            if a == action:
                return t
        raise ValueError(f"action {action!r} is not enabled in {s!r}")

    def fast_model(self) -> FastModel:
        """The same actions as guarded commands; ``mode`` is coded 0 (closed) / 1 (open)."""
        import numpy as np

        cap, limit, max_errors = self.cap, self.limit, self.max_errors

        def fail(v: Any) -> dict[str, Any]:
            errors = np.minimum(v.errors + 1, max_errors)
            return {"inflight": v.inflight - 1, "errors": errors,
                    "mode": np.where(errors == max_errors, 1, v.mode)}

        return FastModel(
            vars=[Var("mode", ("closed", "open")), Var("inflight", range(cap + 1)),
                  Var("served", range(limit + 1)), Var("errors", range(max_errors + 1))],
            commands=[Command("reset", lambda v: v.mode == 1,
                              lambda v: {"mode": 0, "errors": 0})],
            processes=Processes("workers", self.w, WORKER),
            steps=[
                Step(lambda i: f"send[{i}]", "idle", "sent",
                     lambda v: (v.mode == 0) & (v.inflight < cap) & (v.served < limit),
                     lambda v: {"inflight": v.inflight + 1}),
                Step(lambda i: f"ok[{i}]", "sent", "idle", None,
                     lambda v: {"inflight": v.inflight - 1,
                                "served": np.minimum(v.served + 1, limit)}),
                Step(lambda i: f"fail[{i}]", "sent", "backoff", None, fail),
                Step(lambda i: f"retry[{i}]", "backoff", "idle"),
            ],
            properties={
                "bounded_inflight": lambda v: v.inflight <= cap,
                "open_after_errors": lambda v: (v.mode == 0) | (v.errors == max_errors),
                "tripped": lambda v: v.mode == 1,
            },
            done=lambda v: v.served == limit,
            state_type=BreakerState,
        )


def _set(t: tuple[str, ...], i: int, value: str) -> tuple[str, ...]:
    return t[:i] + (value,) + t[i + 1:]


BREAKER = Breaker
