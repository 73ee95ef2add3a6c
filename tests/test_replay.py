"""The checker's counterexamples, played on the real engine on the controlled loop.

Each replay checks, after every step, that the engine's abstract state equals the trace's,
and then shows the harm on the engine itself: tokens of one request made by two different
weight tensors (R1, A1, the await-after-check edit), a deadlock report saying who waits on
what (D1, R2), the reply handler failing (S3), an update reported as failed whose weights
changed (flush_cache), the communicator's assertion.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from impl.engine.harness import Harness, ReplayDiverged
from model_check import check
from model_check.report import to_json
from spec import IPC_BEFORE_22290, POST_FIX, PRE_FIX
from spec import labels as L

ROOT = Path(__file__).resolve().parents[1]
R1_PARAMS = {"scenario": "concurrent", "requests": 1, "updates": 2}


def trace_of(spec, prop: str, deadlock: bool = True) -> list[dict]:
    """The JSON trace of ``prop``'s shortest discovery, as ``--json`` prints it."""
    data = to_json(check(spec, deadlock=deadlock, all_discoveries=True))
    return next(d["trace"] for d in data["discoveries"] if d["property"] == prop)


@pytest.fixture(scope="module")
def r1() -> list[dict]:
    return trace_of(PRE_FIX(**R1_PARAMS), "update_safety", deadlock=False)


def mixed_request(h: Harness):
    """The request the engine's monitor saw mixing weights, with its tokens."""
    rid = h.engine.monitor.mixed[0]
    reqs = list(h.engine.running) + [m[1] for m in h.engine.replies if m[0] == "out"]
    return next(r for r in reqs if r.rid == rid)


def test_pre_fix_engine_mixes_versions_on_real_tensors(r1):
    with Harness("PRE_FIX", **R1_PARAMS) as h:
        h.replay(r1)  # every step taken, and the abstract state equals the trace's each time
        assert len(h.engine.monitor.mixed) == 1
        req = mixed_request(h)
        assert len({t.fingerprint for t in req.tokens}) == 2  # two weights in one request
        assert [t.version for t in req.tokens] == [1, 2]
        # The pinned schedule: the three daemons' boot steps, then the counterexample.
        assert h.loop.schedule == ["sched", "batch", "reply"] + [step["action"][0] for step in r1[1:]]


def test_post_fix_engine_blocks_the_continue_that_r1_needs(r1):
    with Harness("POST_FIX", **R1_PARAMS) as h:
        with pytest.raises(ReplayDiverged) as info:
            h.replay(r1, check_state=False)
        # the second update cannot even make its check: upd0 holds CL until its reply
        assert info.value.step == 3 and info.value.action == ("upd1", "upd.start")
        message = str(info.value)
        assert "the trace moves upd1 to upd.queued.paused, but here it is at upd.check.acquire" in message
        assert "'CL' (locked)" in message and "CL is held by upd0 at upd.reply.paused" in message
        assert h.engine.monitor.mixed == [] and h.engine.is_pause


def test_r1_replays_from_the_cli_json():
    out = subprocess.run(
        [sys.executable, "-m", "model_check", "spec:PRE_FIX", "-D", "scenario=concurrent",
         "-D", "requests=1", "-D", "updates=2", "--no-deadlock", "--property", "update_safety",
         "--json", "--quiet"],
        cwd=ROOT, capture_output=True, text=True, check=False)
    assert out.returncode == 1, out.stderr
    data = json.loads(out.stdout)
    with Harness("PRE_FIX", **data["parameters"]) as h:
        h.replay(data["trace"])
        assert h.engine.monitor.mixed


def test_an_await_after_the_check_reopens_r1_with_one_update():
    params = {"scenario": "concurrent", "requests": 1, "updates": 1, "await_after_check": 1}
    trace = trace_of(PRE_FIX(**params), "update_safety", deadlock=False)
    with Harness("PRE_FIX", **params) as h:
        h.replay(trace)
        assert h.engine.await_after_check and len(h.engine.monitor.mixed) == 1


def test_a1_abort_pause_returns_while_a_woken_request_holds_no_reader():
    params = {"scenario": "concurrent", "requests": 1, "updates": 2, "mode": "abort",
              "timer": "quiet"}
    trace = trace_of(POST_FIX(**params), "update_safety", deadlock=False)
    with Harness("POST_FIX", **params) as h:
        h.replay(trace)
        req = mixed_request(h)
        assert len({t.fingerprint for t in req.tokens}) == 2
        assert h.results["pauser"] == [None]  # the abort-mode pause had returned


def test_ipc_before_22290_d1_deadlock_is_reported_with_who_waits_on_what():
    params = {"scenario": "rl-loop", "mode": "in_place", "requests": 1}
    trace = trace_of(IPC_BEFORE_22290(**params), "deadlock")
    with Harness("IPC_BEFORE_22290", **params) as h:
        h.replay(trace)
        assert h.loop.runnable() == []
        report = h.deadlock()
        assert report is not None
        assert report["ctl"].startswith("upd.write.wait: waits on asyncio.Condition 'rw_cond'")
        assert report["gen0"] == "gen.run: waits for its reply from the scheduler"
        assert report["sched"].startswith("sched.loop: waits on asyncio.Event 'scheduler inbox'")
        assert h.engine.paused and h.engine.rwlock.readers == 1
        assert h.engine.rwlock.writers_waiting == 1


def test_post_fix_r2_deadlock_on_the_engine():
    params = {"scenario": "concurrent", "requests": 1, "updates": 1}
    trace = trace_of(POST_FIX(**params), "deadlock")
    with Harness("POST_FIX", **params) as h:
        h.replay(trace)
        report = h.deadlock()
        assert report is not None
        assert report["upd0"].startswith("upd.write.wait: waits on asyncio.Condition 'rw_cond'")
        assert report["gen0"] == "gen.run: waits for its reply from the scheduler"
        assert h.engine.paused and h.engine.is_pause


def test_disk_s3_kills_the_reply_handler():
    params = {"scenario": "concurrent", "requests": 0, "updates": 2, "kinds": "disk,disk"}
    trace = trace_of(POST_FIX(**params), "reply_handler_ok")
    with Harness("POST_FIX", **params) as h:
        h.replay(trace)
        assert h.engine.dead and h.enabled() == []
        reply = h.loop.task("reply")
        assert reply.done() and type(reply.exception()).__name__ == "InvalidStateError"
        # upd1's future holds upd0's reply (uid 0); upd0's future was overwritten
        assert h.engine.model_update_result.result().uid == 0
        assert h.label("upd1") == L.UPD_REPLIED_PAUSED
        assert h.label("upd0") == L.UPD_REPLY_PAUSED  # and will never be answered


def test_flush_cache_reports_failure_after_changing_the_weights():
    params = {"scenario": "rl-loop", "requests": 1, "flush": 1}
    trace = trace_of(POST_FIX(**params), "failed_update_unchanged")
    with Harness("POST_FIX", **params) as h:
        before = {k: t.clone() for k, t in h.engine.model.state_dict().items()}
        h.replay(trace)
        assert h.engine.version == 1 and h.engine.monitor.failed_but_applied
        after = h.engine.model.state_dict()
        assert any(not before[k].equal(after[k]) for k in before)  # the weights did change


def test_communicator_assertion_fails_on_the_engine():
    params = {"scenario": "concurrent", "requests": 0, "updates": 3}
    trace = trace_of(POST_FIX(**params), "communicator_turn_free", deadlock=False)
    with Harness("POST_FIX", **params) as h:
        h.replay(trace)
        turn = next(n for n in ("upd0", "upd1", "upd2") if h.label(n) == L.UPD_TURN_PAUSED)
        h.step(turn)
        exc = h.loop.task(turn).exception()
        assert isinstance(exc, AssertionError) and "another call is in flight" in str(exc)


def test_replay_rejects_a_step_the_engine_cannot_take(r1):
    with Harness("PRE_FIX", **R1_PARAMS) as h:
        bad = [r1[0], {"action": ["sched", "sched.loop"], "state": r1[0]["state"]}]
        with pytest.raises(ReplayDiverged, match=r"step 1 \(sched sched.loop\): sched cannot run"):
            h.replay(bad)


# ---------------------------------------------------------------------- cancellation
TWO_WRITERS = {"scenario": "concurrent", "pauses": 0, "continues": 0, "requests": 1,
               "updates": 2, "cancels": 1}


def test_s1_leaves_a_reader_asleep_on_a_free_lock():
    """S1 found from the spec (3.12 reading) and played on the engine (this interpreter's
    asyncio, before 3.13): the request sleeps on the RWLock's condition, nobody holds it."""
    params = dict(TWO_WRITERS, kinds="tensor,distributed")
    trace = trace_of(POST_FIX(**params, python="3.12"), "deadlock")
    with Harness("POST_FIX", **params) as h:
        h.replay(trace)
        report = h.deadlock()
        assert report is not None and set(report) == {"gen0", "sched", "batch", "reply"}
        assert report["gen0"].startswith("gen.read.wait: waits on asyncio.Condition 'rw_cond'")
        rw = h.engine.rwlock
        assert not rw.writer_active and rw.writers_waiting == 0 and not rw.lock.locked()


def test_c1_leaves_an_update_stuck_behind_a_dead_communicator():
    params = dict(TWO_WRITERS, kinds="tensor,tensor")
    trace = trace_of(POST_FIX(**params), "deadlock")
    with Harness("POST_FIX", **params) as h:
        h.replay(trace)
        assert h.deadlock() is not None
        comm = h.engine.communicators["tensor"]
        assert comm.in_flight is not None and comm.in_flight.owner.done()  # nobody clears it
        assert h.label("upd1") == L.UPD_QUEUED_WRITER            # queued for good
        assert isinstance(h.results["upd0"][0], asyncio.CancelledError)
        assert h.engine.version == 1   # the cancelled update was applied all the same


def test_a_cancelled_update_is_applied_all_the_same_on_the_engine():
    params = {"scenario": "concurrent", "pauses": 0, "continues": 0, "requests": 0,
              "updates": 1, "cancels": 1}
    with Harness("POST_FIX", **params) as h:
        h.step("upd0")                                 # sent under the writer side
        assert h.label("upd0") == L.UPD_REPLY_WRITER
        h.cancel("upd0")
        assert h.loop.task("upd0").done() and not h.engine.rwlock.writer_active
        while h.enabled():
            h.step(h.enabled()[0])
        assert h.engine.version == 1 and h.engine.monitor.applied   # applied nonetheless
        assert isinstance(h.results["upd0"][0], asyncio.CancelledError)  # the caller's view


def test_d2_abort_pause_never_returns_within_bounded_virtual_time():
    """D2's lasso from the checker, played on the engine: the stem, then the cycle fifty
    times; the abort-mode pause is still polling (holding CL) after fifty virtual seconds."""
    from model_check.report import to_json

    params = {"scenario": "concurrent", "requests": 1, "updates": 0, "pauses": 2,
              "modes": "in_place,abort", "timer": "quiet"}
    data = to_json(check(POST_FIX(**params), liveness=True, all_discoveries=True))
    lasso = next(d["lasso"] for d in data["discoveries"] if d["property"] == "pause_returns")
    with Harness("POST_FIX", **params) as h:
        h.replay(lasso["stem"])
        start = h.loop.time()
        for _ in range(50):
            h.replay([lasso["stem"][-1]] + lasso["cycle"])   # the same states, again
        assert not h.loop.task("pauser").done() and h.engine.is_pause_cond.locked()
        assert h.loop.time() - start >= 50 * h.engine.abort_poll_interval
        assert h.label("continuer") == L.CONT_ACQUIRE               # blocked on CL for good
