"""Load benchmark: many generate requests across many pause / update / continue cycles.

On the normal asyncio event loop, one engine serves ``requests`` generate requests (seeded
``max_tokens`` between 1 and 16) while a client runs ``cycles`` cycles of
``pause_generation(mode)``, a weight update (through the variant's own entry point) and
``continue_generation``.  Requests arrive in batches, one batch per cycle, one request per
loop turn, so they keep arriving during every cycle; each pause waits until tokens were
made since the previous continue and some request still holds a reader, so every cycle
overlaps generation (``overlapped`` counts the cycles that did).  At the end one line of figures::

    load: variant=POST_FIX mode=in_place requests=1000 cycles=100 seconds=... requests/s=...
    cycles/s=... lost=0 aborted=0 mixed=0 locks_free=True completed=1000 overlapped=100

``lost`` counts requests that neither completed (``max_tokens`` tokens) nor were aborted by
an abort-mode pause, or that raised; ``mixed`` the requests whose forward passes ran on two
different weights with no pause between (``engine.monitor.mixed``); ``locks_free`` is
``engine.locks_free()`` once everything has finished.  A run that makes no progress for
``stall_timeout`` seconds (a deadlock, e.g. D1 on ``IPC_BEFORE_22290`` with ``in_place``)
is stopped: what did not finish is lost.  The command exits 0 only when lost == 0,
mixed == 0 and every lock is free (1 otherwise; 2 on misuse).

    python -m impl.engine.load [--requests 1000] [--cycles 100] [--mode in_place] [--variant POST_FIX]

>>> report = run_load(requests=20, cycles=3)
>>> report.lost, report.mixed, report.locks_free, report.completed, report.overlapped
(0, 0, True, 20, 3)
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import math
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from .core import ENGINES, MODES, Engine, Generation, Monitor, Request, UpdateReply
from .harness import send_update
from .weights import perturbed

__all__ = ["LoadReport", "MAX_SEED", "main", "run_load"]

#: The largest ``seed``: update seeds are derived from it and must fit torch's generator.
MAX_SEED = 2**32 - 1



@dataclasses.dataclass(frozen=True)
class LoadReport:
    """The figures of one load run; :attr:`ok` is the exit criterion."""

    variant: str
    mode: str
    requests: int
    cycles: int
    seconds: float
    completed: int    # requests that produced all their max_tokens tokens
    aborted: int      # requests finished as aborted by an abort-mode pause
    lost: int         # requests that neither completed nor were aborted, or raised
    mixed: int        # requests that ran on two weights without a pause between
    locks_free: bool  # engine.locks_free() once everything finished
    overlapped: int   # cycles whose pause came after new tokens, with a request in flight
    version: int      # the engine's weight version at the end (= cycles when all applied)
    stalled: bool     # stopped after stall_timeout seconds without progress

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.mixed == 0 and self.locks_free and not self.stalled

    def line(self) -> str:
        rate = (lambda n: f"{n / self.seconds:.1f}") if self.seconds > 0 else (lambda n: "inf")
        return (f"load: variant={self.variant} mode={self.mode} requests={self.requests} "
                f"cycles={self.cycles} seconds={self.seconds:.3f} "
                f"requests/s={rate(self.requests)} cycles/s={rate(self.cycles)} "
                f"lost={self.lost} aborted={self.aborted} mixed={self.mixed} "
                f"locks_free={self.locks_free} completed={self.completed} "
                f"overlapped={self.overlapped}" + (" STALLED" if self.stalled else ""))


@dataclasses.dataclass
class CountingMonitor(Monitor):
    """The engine's monitor, also counting tokens (one per request per forward pass)."""

    tokens: int = 0

    def forward(self, req: Request, version: int, fingerprint: tuple[float, ...]) -> None:
        self.tokens += 1
        super().forward(req, version, fingerprint)


def run_load(requests: int = 1000, cycles: int = 100, mode: str = "in_place",
             variant: str = "POST_FIX", *, seed: int = 0, max_tokens: int = 16,
             abort_poll_interval: float = 0.001, stall_timeout: float = 10.0) -> LoadReport:
    """Run the load on a fresh event loop (``asyncio.run``) and return its figures."""
    if variant not in ENGINES:
        raise ValueError(f"unknown variant {variant!r}; valid: {', '.join(ENGINES)}")
    if mode not in MODES:
        raise ValueError(f"unknown pause mode {mode!r}; valid modes: {', '.join(MODES)}")
    if requests < 1 or cycles < 0 or max_tokens < 1:
        raise ValueError(f"need requests >= 1, cycles >= 0, max_tokens >= 1; got "
                         f"{requests}, {cycles}, {max_tokens}")
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be an int in 0..{MAX_SEED}, got {seed}")
    if not _in_range(abort_poll_interval, 0, False):
        # 0 would busy-spin: each round queues another abort-all ahead of the forward pass
        # the aborted requests need to leave, so the pause would never return
        raise ValueError(f"abort_poll_interval must be a finite number of seconds > 0, "
                         f"got {abort_poll_interval}")
    if not _in_range(stall_timeout, 0, False):
        raise ValueError(f"stall_timeout must be a finite number of seconds > 0, "
                         f"got {stall_timeout}")
    with tempfile.TemporaryDirectory(prefix="load-") as tmp:
        return asyncio.run(_load(requests, cycles, mode, variant, seed, max_tokens,
                                 abort_poll_interval, stall_timeout, Path(tmp)))


async def _load(requests: int, cycles: int, mode: str, variant: str, seed: int,
                max_tokens: int, abort_poll_interval: float, stall_timeout: float,
                tmp: Path) -> LoadReport:
    rng = random.Random(seed)
    engine = ENGINES[variant](seed=seed, abort_poll_interval=abort_poll_interval)
    engine.monitor = monitor = CountingMonitor()
    kind = next(iter(ENGINES[variant].update_policy))  # the variant's first entry point
    batches = [requests // max(cycles, 1) + (i < requests % max(cycles, 1))
               for i in range(max(cycles, 1))]
    wanted: dict[asyncio.Task[Generation], int] = {}
    cycle_started = [asyncio.Event() for _ in batches]
    progress = {"cycles": 0, "overlapped": 0}

    async def arrivals() -> None:
        for i, size in enumerate(batches):
            await cycle_started[i].wait()
            for _ in range(size):  # one request per loop turn: they arrive during the cycle
                n = rng.randint(1, max_tokens)
                task = asyncio.create_task(
                    engine.generate(prompt=rng.randrange(engine.model.vocab), max_tokens=n))
                wanted[task] = n
                await asyncio.sleep(0)

    async def client() -> None:
        cycle_started[0].set()
        for i in range(cycles):
            cycle_started[i].set()
            # overlap: pause once tokens were made since the last continue and some request
            # is still in flight (holds a reader), unless no request is left to come
            tokens = monitor.tokens
            while ((monitor.tokens == tokens or engine.rwlock.readers == 0)
                   and not all_arrived_and_done(i)):
                await asyncio.sleep(0)
            progress["overlapped"] += monitor.tokens > tokens and engine.rwlock.readers > 0
            await engine.pause_generation(mode)
            await send_update(engine, kind, perturbed(engine.model, seed=seed * 100_003 + i + 1),
                              tmp / f"cycle-{i}.pt")
            await engine.continue_generation()
            progress["cycles"] += 1

    def all_arrived_and_done(i: int) -> bool:
        arrived = sum(batches[:i + 1]) == len(wanted)
        return arrived and all(t.done() for t in wanted)

    async def watchdog(work: asyncio.Task[Any]) -> bool:
        """True if ``work`` made no progress for stall_timeout seconds (then cancel it)."""
        last = None
        while not work.done():
            now = (progress["cycles"], engine.version, sum(t.done() for t in wanted))
            if now == last:
                return True
            last = now
            await asyncio.wait({work}, timeout=stall_timeout)
        return False

    async def everything() -> None:
        await asyncio.gather(arrivals(), client())
        while not all(t.done() for t in wanted):  # requests created after the last gather
            await asyncio.wait(list(wanted))

    start = time.perf_counter()
    async with engine.serving():
        work = asyncio.create_task(everything())
        stalled = await watchdog(work)
        if stalled:
            for task in [work, *wanted]:
                task.cancel()
        await asyncio.gather(work, *wanted, return_exceptions=True)
    seconds = time.perf_counter() - start

    completed = aborted = lost = 0
    for task, n in wanted.items():
        if task.cancelled() or task.exception() is not None:
            lost += 1
        elif task.result().aborted:
            aborted += 1
        elif len(task.result().tokens) == n:
            completed += 1
        else:
            lost += 1
    lost += requests - len(wanted)  # never even started (a stalled run)
    return LoadReport(variant, mode, requests, cycles, seconds, completed, aborted, lost,
                      len(engine.monitor.mixed), engine.locks_free(), progress["overlapped"],
                      engine.version, stalled)


def _count(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: an int in ``minimum..maximum`` (no upper bound if None)."""
    valid = f"an int >= {minimum}" if maximum is None else f"an int in {minimum}..{maximum}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {valid}, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"must be {valid}, got {value}")
        return value
    return parse


def _seconds(minimum: float, *, inclusive: bool) -> Callable[[str], float]:
    """An argparse type: a finite number of seconds > ``minimum`` (>= if ``inclusive``)."""
    valid = f"a finite number of seconds {'>=' if inclusive else '>'} {minimum:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {valid}, got {text!r}") from None
        if not _in_range(value, minimum, inclusive):
            raise argparse.ArgumentTypeError(f"must be {valid}, got {text}")
        return value
    return parse


def _in_range(value: float, minimum: float, inclusive: bool) -> bool:
    return math.isfinite(value) and (value >= minimum if inclusive else value > minimum)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m impl.engine.load", description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=_count(1), default=1000)
    parser.add_argument("--cycles", type=_count(0), default=100)
    parser.add_argument("--mode", choices=MODES, default="in_place")
    parser.add_argument("--variant", choices=list(ENGINES), default="POST_FIX")
    parser.add_argument("--seed", type=_count(0, MAX_SEED), default=0)
    parser.add_argument("--max-tokens", type=_count(1), default=16)
    parser.add_argument("--abort-poll-interval", type=_seconds(0, inclusive=False),
                        default=0.001, help="seconds; a finite number >= 0 (default 0.001)")
    parser.add_argument("--stall-timeout", type=_seconds(0, inclusive=False), default=10.0,
                        help="seconds without progress before the run is stopped; a finite "
                             "number > 0 (default 10)")
    parser.add_argument("--torch-threads", type=_count(1), default=1,
                        help="torch intra-op threads (default 1: the model is tiny, more "
                             "threads only add wake-up latency to every forward pass)")
    args = parser.parse_args(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.torch_threads)
    try:
        report = run_load(args.requests, args.cycles, args.mode, args.variant, seed=args.seed,
                          max_tokens=args.max_tokens,
                          abort_poll_interval=args.abort_poll_interval,
                          stall_timeout=args.stall_timeout)
    finally:
        torch.set_num_threads(threads)
    print(report.line())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
