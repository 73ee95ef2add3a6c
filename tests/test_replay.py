"""The checker's counterexamples, played on the real engine on the controlled loop."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from impl.harness import Harness, ReplayDiverged
from model_check import check
from model_check.report import to_json
from spec import DISK, IPC_BEFORE_22290, PRE_FIX
from spec import labels as L

ROOT = Path(__file__).resolve().parents[1]
R1_PARAMS = {"scenario": "concurrent", "requests": 1}


def trace_of(spec, prop: str) -> list[dict]:
    """The JSON trace of ``prop``'s shortest discovery, as ``--json`` prints it."""
    data = to_json(check(spec, all_discoveries=True))
    return next(d["trace"] for d in data["discoveries"] if d["property"] == prop)


@pytest.fixture(scope="module")
def r1() -> list[dict]:
    return trace_of(PRE_FIX(**R1_PARAMS), "update_safety")


def test_pre_fix_engine_mixes_versions_on_real_tensors(r1):
    with Harness("PRE_FIX", **R1_PARAMS) as h:
        h.replay(r1)  # every step taken, and the abstract state equals the trace's each time
        assert len(h.engine.monitor.mixed) == 1
        req = h.engine.running or h.engine.replies[-1][1]
        fingerprints = {t.fingerprint for t in req.tokens}
        assert len(fingerprints) == 2  # two different weights inside one request, unpaused
        assert [t.version for t in req.tokens] == [0, 1]
        # The pinned schedule: the two daemons' boot steps, then the counterexample.
        assert h.loop.schedule == ["sched", "reply"] + [step["action"][0] for step in r1[1:]]


def test_post_fix_engine_blocks_the_continue_that_r1_needs(r1):
    with Harness("POST_FIX", **R1_PARAMS) as h:
        with pytest.raises(ReplayDiverged) as info:
            h.replay(r1, check_state=False)
        assert info.value.step == 3 and info.value.action == ("continuer", "cont.start")
        message = str(info.value)
        assert "the trace moves continuer to done, but here it is at cont.acquire" in message
        assert "'CL' (locked)" in message and "CL is held by upd0 at upd.decided.paused" in message
        assert h.engine.monitor.mixed == [] and h.engine.is_pause


def test_post_fix_engine_differs_from_the_r1_trace_at_the_check(r1):
    with Harness("POST_FIX", **R1_PARAMS) as h:
        with pytest.raises(ReplayDiverged, match=r"step 2 .*CL: trace '-', engine 'upd0'"):
            h.replay(r1)


def test_r1_replays_from_the_cli_json(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "model_check", "spec:PRE_FIX", "-D", "scenario=concurrent",
         "-D", "requests=1", "--property", "update_safety", "--json", "--quiet",
         "--all-discoveries"],
        cwd=ROOT, capture_output=True, text=True, check=False)
    assert out.returncode == 1, out.stderr
    data = json.loads(out.stdout)
    with Harness("PRE_FIX", **data["parameters"]) as h:
        h.replay(data["trace"])
        assert h.engine.monitor.mixed


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


def test_disk_s3_first_caller_never_gets_its_reply():
    params = {"scenario": "concurrent", "requests": 0, "updates": 2}
    trace = trace_of(DISK(**params), "deadlock")
    with Harness("DISK", **params) as h:
        h.replay(trace)
        report = h.deadlock()
        assert report is not None and list(report) == ["upd0", "sched", "reply"]
        assert report["upd0"] == f"{L.UPD_REPLY_PAUSED}: waits for its reply from the scheduler"
        assert h.results["upd1"][0].uid == 0  # upd1 returned with upd0's reply
        assert h.engine.version == 2


def test_replay_rejects_a_step_the_engine_cannot_take(r1):
    with Harness("PRE_FIX", **R1_PARAMS) as h:
        bad = [r1[0], {"action": ["sched", "sched.loop"], "state": r1[0]["state"]}]
        with pytest.raises(ReplayDiverged, match=r"step 1 \(sched sched.loop\): sched cannot run"):
            h.replay(bad)
