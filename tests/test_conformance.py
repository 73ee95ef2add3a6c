"""Two-way conformance between the spec and the engine, and its teeth.

* Stateful Hypothesis machines drive the spec and the engine through the same transitions
  and compare them after every step (``impl/machinery/conformance.py``), for every variant.
* The exhaustive exploration of the engine on the controlled loop reaches exactly the
  checker's state graph: same nodes, same labelled edges (``impl/machinery/explore.py``).
* Teeth: the machine finds R1 on the pre-fix engine by itself; it rejects the pre-fix engine
  against the post-fix spec; it catches planted lock-edit mutants.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from impl.engine.harness import machine
from impl.machinery.conformance import ConformanceError
from impl.engine import (ENGINES, Communicator, PostFixEngine, PreFixEngine, Request, always_writer,
                         check_then_act, perturbed)
from impl.engine.explore import compare, describe, explore
from impl.engine.rwlock import RWLock
from spec.protocol import VARIANTS

#: the variants with a reference engine (PROPOSED has none yet)
VARIANT_NAMES = sorted(v for v in VARIANTS if v in ENGINES)
ONE_KIND = {"scenario": "concurrent", "requests": 1, "updates": 2}
#: (variant, params, properties checked): where a variant breaks safety by design (R1, A1,
#: S3, flush_cache; pinned in spec/expected.json) the machine checks conformance only (());
#: the teeth tests below check that the machinery finds those.
GREEN = [
    (v, ONE_KIND, () if v == "PRE_FIX" else None) for v in VARIANT_NAMES
] + [
    (v, {"scenario": "rl-loop", "requests": 2}, None) for v in VARIANT_NAMES
] + [
    (v, {"scenario": "rl-loop", "requests": 1, "mode": "abort", "timer": "quiet"}, None)
    for v in VARIANT_NAMES
] + [
    # disk keeps the pre-fix pattern: paused_update_keeps_P fails there, harmlessly
    ("POST_FIX", {**ONE_KIND, "kinds": "tensor,disk"},
     ("type_ok", "update_safety", "apply_guarded", "rwlock_exclusion", "reply_handler_ok")),
    ("POST_FIX", {"scenario": "concurrent", "requests": 1, "pauses": 2, "continues": 2}, None),
    ("POST_FIX", {"scenario": "concurrent", "requests": 2, "mode": "retract"}, None),
    ("POST_FIX", {**ONE_KIND, "mode": "abort", "timer": "quiet"}, ()),            # A1
    ("POST_FIX", {"scenario": "concurrent", "requests": 0, "updates": 2,
                  "kinds": "disk,disk"}, ()),                                      # S3
    ("POST_FIX", {"scenario": "rl-loop", "requests": 1, "flush": 1}, ()),          # flush
    ("POST_FIX", {"scenario": "concurrent", "requests": 1, "updates": 0, "pauses": 2,
                  "modes": "in_place,abort", "timer": "quiet"}, None),             # D2 spins
    ("PRE_FIX", {**ONE_KIND, "updates": 1, "await_after_check": 1}, ()),
    ("PRE_FIX", {"scenario": "concurrent", "requests": 1, "pauses": 2, "continues": 2}, ()),
    # with the cancel rule: the environment cancels a call at one of its await points
    ("POST_FIX", {**ONE_KIND, "cancels": 2}, ()),
    ("PROPOSED", {**ONE_KIND, "cancels": 2}, None),
    ("PROPOSED", {"scenario": "rl-loop", "requests": 2, "cancels": 1}, None),
]


def run(cls, **overrides):
    run_state_machine_as_test(cls, settings=settings(settings(), **overrides))


def ident(case):
    variant, params, _ = case
    return variant + "-" + "-".join(f"{k}={v}" for k, v in params.items())


@pytest.mark.parametrize("case", GREEN, ids=[ident(c) for c in GREEN])
def test_engine_conforms_to_its_spec(case):
    variant, params, properties = case
    run(machine(variant, properties=properties, **params))


#: graph equality with cancellation on: the spec's cancel action is the harness's
#: ``task.cancel()`` plus the task's step, and every CancelledError path lands where the spec
#: says.  S1 and C1 (POST_FIX), a cancel anywhere in one request and one update (PRE_FIX,
#: POST_FIX, PROPOSED), the rl-loop, and PROPOSED's fixes under cancellation.
TWO_WRITERS = {"scenario": "concurrent", "pauses": 0, "continues": 0, "requests": 1,
               "updates": 2, "cancels": 1}
CANCEL_GRAPHS = [
    ("POST_FIX", dict(TWO_WRITERS, kinds="tensor,distributed")),
    ("POST_FIX", dict(TWO_WRITERS, kinds="tensor,tensor")),
    ("PROPOSED", dict(TWO_WRITERS, kinds="tensor,tensor")),
    ("PRE_FIX", {"scenario": "concurrent", "requests": 1, "updates": 1, "cancels": 1}),
    ("POST_FIX", {"scenario": "concurrent", "requests": 1, "updates": 1, "cancels": 1}),
    ("PROPOSED", {"scenario": "concurrent", "requests": 1, "updates": 1, "cancels": 1}),
    ("POST_FIX", {"scenario": "rl-loop", "requests": 1, "cancels": 1}),
    ("POST_FIX", {"scenario": "concurrent", "requests": 0, "updates": 1, "kinds": "disk",
                  "cancels": 1}),
    ("PROPOSED", {"scenario": "concurrent", "requests": 1, "updates": 0, "pauses": 2,
                  "modes": "in_place,abort", "timer": "quiet", "cancels": 1}),
    ("PROPOSED", {"scenario": "rl-loop", "requests": 1, "flush": 1, "cancels": 1}),
]


@pytest.mark.parametrize(("variant", "params"), CANCEL_GRAPHS,
                         ids=[ident((v, p, None)) for v, p in CANCEL_GRAPHS])
def test_engine_reaches_exactly_the_spec_state_graph_with_cancellation(variant, params):
    found = explore(variant, **params)
    comparison = compare(found, variant, **params)
    assert comparison.equal, describe(comparison, VARIANTS[variant](**params))
    assert any(action[1] == "cancel" for _, _, action in found.edges)


# Planted mutants on the cancellation paths: each changes the engine's graph.
class KeepsReaderWhenCancelled(PostFixEngine):
    """Mutant: a cancelled request keeps its reader (no release on the way out)."""

    async def generate(self, prompt=0, max_tokens=2):
        async with self.is_pause_cond:
            await self.is_pause_cond.wait_for(lambda: not self.is_pause)
        await self.rwlock.acquire_reader()
        req = Request(next(self._ids), max_tokens, prompt, self._loop().create_future(),
                      owner=asyncio.current_task())
        await asyncio.sleep(0)
        self._send(("generate", req))
        try:
            await req.finished.wait()
        except BaseException:
            req.cancelled = True
            raise                              # the reader is never released
        await self.rwlock.release_reader()
        return req.future.result()


class CancelledWriterStaysCounted(PostFixEngine):
    """Mutant: a writer cancelled while waiting stays counted in wW."""

    def __init__(self, **kw):
        super().__init__(**kw)
        rw = self.rwlock

        async def acquire_writer():
            me = asyncio.current_task()
            async with rw.lock:
                rw.waiting_writers.add(me)
                while rw.writer_active or rw.readers > 0:
                    await rw.cond.wait()       # a cancel leaves `me` in the waiting set
                rw.waiting_writers.discard(me)
                rw.writer_active = True
        rw.acquire_writer = acquire_writer


class CommunicatorWithoutCleanup(ENGINES["PROPOSED"]):
    """Mutant of PROPOSED: its communicator's clean-up after a cancelled caller skipped."""

    def __init__(self, **kw):
        super().__init__(**kw)
        for comm in self.communicators.values():
            comm.safe = False


class WriterReleaseNotifyDelayed(PostFixEngine):
    """Mutant: release_writer's notify_all comes one step late (RL is let go in between):
    nothing deadlocks and nothing unsafe happens, the readers are only delayed."""

    def __init__(self, **kw):
        super().__init__(**kw)
        rw = self.rwlock

        async def release_writer():
            async with rw.lock:
                rw.writer_active = False
            await asyncio.sleep(0)             # the notify, one step late
            async with rw.lock:
                rw.cond.notify_all()
        rw.release_writer = release_writer


CANCEL_MUTANTS = [
    (KeepsReaderWhenCancelled, "POST_FIX", {"scenario": "concurrent", "requests": 1,
                                            "updates": 1, "cancels": 1}),
    (CancelledWriterStaysCounted, "POST_FIX", dict(TWO_WRITERS, kinds="tensor,distributed")),
    (CommunicatorWithoutCleanup, "PROPOSED", dict(TWO_WRITERS, kinds="tensor,tensor")),
    (WriterReleaseNotifyDelayed, "POST_FIX", {"scenario": "concurrent", "requests": 1,
                                              "updates": 1, "pauses": 0, "continues": 0}),
]


@pytest.mark.parametrize(("mutant", "variant", "params"), CANCEL_MUTANTS,
                         ids=[m.__name__ for m, _, _ in CANCEL_MUTANTS])
def test_cancellation_and_liveness_mutants_are_caught(mutant, variant, params):
    """Caught: the engine's graph differs from the spec's, or the engine stops at a code
    point the spec has no label for (it cannot be placed: a conformance failure too)."""
    from impl.machinery.controlled import ControlError
    try:
        found = explore(variant, engine_factory=mutant, **params)
    except ControlError as exc:
        assert "no spec label" in str(exc) or "where no" in str(exc), exc
        return
    comparison = compare(found, variant, **params)
    assert not comparison.equal


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANT_NAMES)
@pytest.mark.parametrize("mode", ["in_place", "retract", "abort"])
def test_engine_conforms_to_its_spec_long(variant, mode):
    params = {"scenario": "concurrent", "requests": 2, "updates": 2, "tokens": 3, "mode": mode}
    if mode == "abort":
        params["timer"] = "quiet"
    run(machine(variant, properties=None if variant == "POST_FIX" else (), **params),
        **_long())


def _long():
    long = settings.get_profile("long")
    return {"max_examples": long.max_examples, "stateful_step_count": long.stateful_step_count,
            "derandomize": False}


# ---------------------------------------------------------------------------- teeth
def expect_failure(cls, match: str, **overrides) -> str:
    with pytest.raises(ConformanceError, match=match) as info:
        run(cls, **overrides)
    stats = cls.stats
    print(f"\n{cls.__name__}: first failure after {stats.first_failure_at} examples, "
          f"shrunk to {len(stats.failing_steps)} steps: {stats.failing_steps}")
    return "\n".join([str(info.value), *getattr(info.value, "__notes__", [])])


def test_teeth_lock_edit_race_found_unaided_on_the_real_code(capsys):
    """The lock-edit gate on real tensors: with an await added between the check and the
    act, the pre-fix engine's monitor sees a mixed-version request with one update, and
    Hypothesis shrinks the schedule to the checker's shortest length (12)."""
    cls = machine("PRE_FIX", properties=("update_safety",), scenario="concurrent", requests=1,
                  updates=1, await_after_check=1)
    with capsys.disabled():
        message = expect_failure(cls, "mixed-version request", max_examples=10_000)
    assert len(cls.stats.failing_steps) <= 12 + 3
    assert "Failing test case" in message or "state.run_" in message  # a runnable program


@pytest.mark.slow
def test_teeth_pre_fix_race_found_unaided_on_the_real_code(capsys):
    """R1 as it really happens (two same-kind updates) on real tensors: the engine's monitor
    sees a mixed-version request; Hypothesis shrinks the schedule to near the checker's
    shortest counterexample (16 steps).  About 14,000 examples (200 s): slow."""
    cls = machine("PRE_FIX", properties=("update_safety",), **ONE_KIND)
    with capsys.disabled():
        message = expect_failure(cls, "mixed-version request", max_examples=30_000)
    assert len(cls.stats.failing_steps) <= 16 + 4
    assert "Failing test case" in message or "state.run_" in message  # a runnable program


def test_teeth_pre_fix_engine_does_not_conform_to_post_fix_spec(capsys):
    cls = machine("PRE_FIX", spec_variant="POST_FIX", engine_factory=PreFixEngine,
                  properties=(), scenario="concurrent", requests=1)
    with capsys.disabled():
        message = expect_failure(cls, "diverged")
    assert "upd.start" in message and "! CL" in message  # the spec holds CL, the engine not


async def _release_cl_then_update(engine, update):
    # Mutant: "simplify" the fix by leaving the `async with` before the paused update.
    return await check_then_act(engine, update)


async def _check_outside_cl(engine, update):
    # Mutant: read P without taking CL ("a bool read is atomic anyway").
    paused = engine.is_pause
    if paused:
        return await engine.call(update, "paused")
    return await engine.update_under_writer(update)


async def _continue_without_notify(self):
    async with self.is_pause_cond:
        self.is_pause = False
        self._send(("continue",))
        # mutant: notify_all() dropped


async def _gate_tests_once(self, prompt=0, max_tokens=2):
    # Mutant: the pause gate waits once (`if`) instead of `wait_for` (a `while` loop): a
    # request woken by a continue passes even if another pause landed before it resumed.
    async with self.is_pause_cond:
        if self.is_pause:
            await self.is_pause_cond.wait()
    await self.rwlock.acquire_reader()
    req = Request(next(self._ids), max_tokens, prompt, self._loop().create_future(),
                  owner=asyncio.current_task())
    await asyncio.sleep(0)
    self._send(("generate", req))
    await req.future
    await self.rwlock.release_reader()
    return req.future.result()


class _ReadersIgnoreWaitingWriters(RWLock):
    async def acquire_reader(self):
        async with self.lock:
            while self.writer_active:  # mutant: `or self.waiting_writers` dropped
                await self.cond.wait()
            self.readers += 1


class _TwoCallsInFlight(Communicator):
    async def call(self, update, branch):
        # mutant: no queue -- every caller sends at once, several calls of a kind in flight
        self.engine._send(("update", update))
        event = asyncio.Event()
        self.result_event, self.in_flight = event, update
        await event.wait()
        reply = self.result
        self.result_event = self.result = self.in_flight = None
        return reply


def _every_kind(policy):
    return {kind: policy for kind in PostFixEngine.update_policy}


class ReleaseClBeforePausedUpdate(PostFixEngine):
    update_policy = _every_kind(_release_cl_then_update)


class CheckOutsideCl(PostFixEngine):
    update_policy = _every_kind(_check_outside_cl)


class ContinueWithoutNotify(PostFixEngine):
    continue_generation = _continue_without_notify


class GateTestsOnce(PostFixEngine):
    generate = _gate_tests_once


class ReadersIgnoreWaitingWriters(PostFixEngine):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.rwlock = _ReadersIgnoreWaitingWriters()


class WriterWithoutPauseCheck(PostFixEngine):
    update_policy = _every_kind(always_writer)


class TwoCallsInFlight(PostFixEngine):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.communicators = {k: _TwoCallsInFlight(self, k) for k in self.communicators}


MUTANTS = [
    (ReleaseClBeforePausedUpdate, {"requests": 1}),
    (CheckOutsideCl, {"requests": 0, "updates": 2}),
    (ContinueWithoutNotify, {"requests": 1}),
    (GateTestsOnce, {"requests": 1, "updates": 0, "pauses": 2, "continues": 2}),
    (ReadersIgnoreWaitingWriters, {"requests": 2}),
    (WriterWithoutPauseCheck, {"requests": 1}),
    (TwoCallsInFlight, {"requests": 0, "updates": 2}),
]


@pytest.mark.parametrize(("mutant", "params"), MUTANTS, ids=[m.__name__ for m, _ in MUTANTS])
def test_teeth_planted_lock_mutants_are_caught(mutant, params, capsys):
    cls = machine("POST_FIX", engine_factory=mutant, properties=(), scenario="concurrent",
                  **params)
    with capsys.disabled():
        expect_failure(cls, "diverged|the engine can|the spec can move", max_examples=1000)


@pytest.mark.parametrize(("mutant", "params"), MUTANTS, ids=[m.__name__ for m, _ in MUTANTS])
def test_teeth_planted_mutants_change_the_state_graph(mutant, params):
    """The exhaustive exploration sees every mutant too: its graph differs from the spec's."""
    params = {"scenario": "concurrent", **params}
    comparison = compare(explore("POST_FIX", engine_factory=mutant, **params), "POST_FIX",
                         **params)
    assert not comparison.equal


def test_mutants_are_real_asyncio_engines():
    # Each mutant still serves requests on the normal loop: the bugs are in the locking only.
    async def serve(engine):
        async with engine.serving():
            out = await engine.generate(prompt=1, max_tokens=2)
            await engine.update_weights_from_tensor(perturbed(engine.model, seed=3))
        return len(out.tokens), engine.version

    for mutant, _ in MUTANTS:
        assert asyncio.run(serve(mutant())) == (2, 1)


# ---------------------------------------------------------------------------- graphs
GRAPHS = [(v, {"scenario": "concurrent", "requests": 1}) for v in VARIANT_NAMES] + [
    (v, {"scenario": "rl-loop", "requests": 2}) for v in VARIANT_NAMES] + [
    ("PRE_FIX", ONE_KIND),                                  # the real R1's space
    ("POST_FIX", ONE_KIND),
    ("POST_FIX", {**ONE_KIND, "kinds": "tensor,distributed"}),
    ("POST_FIX", {"scenario": "concurrent", "requests": 0, "updates": 2, "kinds": "disk,disk"}),
    ("POST_FIX", {"scenario": "rl-loop", "requests": 1, "mode": "abort", "timer": "quiet"}),
    ("POST_FIX", {"scenario": "concurrent", "requests": 1, "pauses": 2, "continues": 2}),
]


@pytest.mark.parametrize(("variant", "params"), GRAPHS,
                         ids=[ident((v, p, None)) for v, p in GRAPHS])
def test_engine_reaches_exactly_the_spec_state_graph(variant, params, capsys):
    found = explore(variant, **params)
    comparison = compare(found, variant, **params)
    with capsys.disabled():
        print(f"\n{variant} {params}: schedules={found.schedules} states={len(found.states)} "
              f"edges={len(found.edges)} sec={found.seconds:.1f}")
    assert comparison.equal, describe(comparison, VARIANTS[variant](**params))


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANT_NAMES)
@pytest.mark.parametrize("mode", ["in_place", "retract", "abort"])
def test_engine_reaches_exactly_the_spec_state_graph_long(variant, mode):
    params = {"scenario": "concurrent", "requests": 2, "mode": mode}
    if mode == "abort":
        params["timer"] = "quiet"
    found = explore(variant, **params)
    comparison = compare(found, variant, **params)
    assert comparison.equal, describe(comparison, VARIANTS[variant](**params))


def test_graph_comparison_reports_a_planted_difference():
    params = {"scenario": "concurrent", "requests": 1}
    found = explore("POST_FIX", engine_factory=ContinueWithoutNotify, **params)
    comparison = compare(found, "POST_FIX", **params)
    assert not comparison.equal
    text = describe(comparison, VARIANTS["POST_FIX"](**params))
    assert "edges only the spec takes" in text


def test_default_machine_run_covers_part_of_the_spec_graph(capsys):
    from impl.engine.harness import edge_coverage

    covered, total, examples = edge_coverage("POST_FIX", scenario="concurrent", requests=1)
    with capsys.disabled():
        print(f"\nPOST_FIX concurrent N=1, ci profile: {examples} examples covered "
              f"{covered}/{total} spec edges ({100 * covered / total:.0f}%); the exhaustive "
              "exploration covers all of them")
    assert covered >= 0.15 * total  # a floor: the derandomized ci run covers 20% today
