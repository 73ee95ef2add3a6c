"""A task's spec label read from its coroutine stack: the engine names none itself.

The re-acquire of a lock inside ``Condition.wait`` after a notify has labels of its own
(``*_REACQUIRE`` / ``*_RELOCKED``), distinct from the first acquire, and the cancelled
re-acquire others again (``*_CANCEL_*``); the harness folds the re-acquire onto the first
acquire only for a spec that has no step for it.
"""

from __future__ import annotations

import asyncio
import inspect

import pytest

import impl.engine
from impl.machinery.controlled import ControlledLoop
from impl.engine import PostFixEngine
from impl.machinery.positions import PositionError, engine_label
from impl.engine.harness import FOLD, Harness
from spec import labels as L


async def _hold(lock: asyncio.Lock, release: asyncio.Event) -> None:
    async with lock:
        await release.wait()


def _boot(engine: PostFixEngine, loop: ControlledLoop) -> None:
    for name, coro in (("sched", engine.scheduler_loop()), ("batch", engine.batch_loop()),
                       ("reply", engine.reply_loop())):
        loop.spawn(coro, name)
        loop.step(name)


def _parked_request(cancel: bool) -> list[str]:
    """Park a request at the gate, let a continue notify it while another task takes CL,
    (cancel it,) and return the labels it shows along the way."""
    engine = PostFixEngine(seed=1)
    seen = []
    with ControlledLoop() as loop:
        _boot(engine, loop)
        loop.spawn(engine.pause_generation("in_place"), "pause")
        loop.step("pause")
        gen = loop.spawn(engine.generate(prompt=1, max_tokens=1), "gen")
        loop.step("gen")
        seen.append(engine_label(engine, gen, "generate"))          # parked on CW
        release = asyncio.Event()
        if not cancel:
            loop.spawn(engine.continue_generation(), "cont")
            loop.step("cont")                                        # notify_all
            seen.append(engine_label(engine, gen, "generate"))
        loop.spawn(_hold(engine.is_pause_cond._lock, release), "holder")
        loop.step("holder")                                          # CL taken meanwhile
        if cancel:
            gen.cancel()
        loop.step("gen")                                             # back into the wait:
        seen.append(engine_label(engine, gen, "generate"))          # queued on CL again
        release.set()
        loop.step("holder")                                          # CL handed to gen
        seen.append(engine_label(engine, gen, "generate"))
    return seen


def test_the_reacquire_inside_condition_wait_has_its_own_labels() -> None:
    assert _parked_request(cancel=False) == [
        L.GEN_GATE_WAIT, L.GEN_GATE_NOTIFIED, L.GEN_GATE_REACQUIRE, L.GEN_GATE_RELOCKED]


def test_a_cancelled_reacquire_is_the_cancel_label() -> None:
    assert _parked_request(cancel=True) == [
        L.GEN_GATE_WAIT, L.GEN_CANCEL_GATE_ACQUIRE, L.GEN_CANCEL_GATE_LOCKED]


def test_the_harness_folds_the_reacquire_only_for_a_spec_without_its_step() -> None:
    with Harness("POST_FIX", scenario="concurrent", requests=1, updates=1) as h:
        assert h.fold(L.UPD_WRITE_REACQUIRE) == L.UPD_WRITE_REACQUIRE   # never folded
        for split, first in FOLD.items():
            has_step = L.RESUME.get(split, split) in h.spec._step
            assert h.fold(split) == (split if has_step else first)
        h.spec._step[L.GEN_GATE_RELOCKED] = h.spec._step[L.GEN_GATE_LOCKED]  # a split spec
        assert h.fold(L.GEN_GATE_REACQUIRE) == L.GEN_GATE_REACQUIRE
        assert h.fold(L.GEN_GATE_RELOCKED) == L.GEN_GATE_RELOCKED


def test_the_engine_names_no_label() -> None:
    source = inspect.getsource(impl.engine)
    assert "set_label" not in source and "spec.labels" not in source
    assert "from spec import labels" not in source


def test_a_finished_task_has_no_position() -> None:
    engine = PostFixEngine(seed=1)
    with ControlledLoop() as loop:
        _boot(engine, loop)
        pause = loop.spawn(engine.pause_generation("in_place"), "pause")
        loop.step("pause")
        with pytest.raises(PositionError, match="task 'pause' has finished"):
            engine_label(engine, pause, "pause")
