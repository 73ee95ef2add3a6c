"""The protocol spec: pinned counterexamples, pinned results, and the shape of the variants."""

from __future__ import annotations

import pytest

from model_check import check
from spec import DISK, IPC_BEFORE_22290, PAUSE_UPDATE_POST_FIX, PAUSE_UPDATE_PRE_FIX, POST_FIX, PRE_FIX
from spec import expected
from spec import labels as L
from spec.protocol import ProtocolSpec

SCHED = ("sched", "sched.loop")
REPLY = ("reply", "reply.loop")

#: R1: the update reads P = True and releases CL; continue runs; a request is admitted and
#: runs a forward pass unpaused; the update is applied; the request's next pass mixes versions.
R1 = [
    ("pauser", "pause.start"),          # P := True, Pause sent
    ("upd0", "upd.start"),              # the check: paused = True, CL released
    ("continuer", "cont.start"),        # slips into the window: P := False, Continue sent
    ("gen0", "gen.start"),              # admitted: gate open, reader taken, request sent
    SCHED,                              # Pause
    SCHED,                              # Continue
    SCHED,                              # the request joins the batch
    SCHED,                              # forward pass at version 0, unpaused
    ("upd0", "upd.decided.paused"),     # the act: the update is sent with no lock
    SCHED,                              # applied: version 1
    SCHED,                              # forward pass at version 1: mixed
]

#: D1: ipc takes the writer side while paused with a reader held in the paused scheduler.
D1 = [
    ("gen0", "gen.start"),
    ("ctl", "pause.start"),
    ("ctl", "upd.start"),
    ("ctl", "upd.decided.unpaused"),    # waits for the writer side: nR = 1
    SCHED,                              # the request joins the batch
    SCHED,                              # Pause: it will never finish, nor the update
]

#: S3: two disk updates share one result future; the first caller never gets a reply.
S3 = [
    ("pauser", "pause.start"),
    ("upd0", "upd.start"),
    ("continuer", "cont.start"),
    ("upd0", "upd.decided.paused"),     # slot := upd0
    ("upd1", "upd.start"),
    ("upd1", "upd.decided.unpaused"),   # slot := upd1 (overwrites upd0's future)
    SCHED, SCHED, SCHED, SCHED,         # Pause, Continue, update0, update1
    REPLY,                              # upd0's reply resolves upd1's future
    ("upd1", "upd.replied.writer"),
    REPLY,                              # upd1's reply finds the slot resolved: lost
]

#: R2 (still open after #22304): the update reads P = False and waits for the writer side;
#: a pause lands while the reader is held; nobody will continue.
R2 = [
    ("continuer", "cont.start"),        # the continue client has already called
    ("upd0", "upd.start"),              # paused = False
    ("gen0", "gen.start"),              # a reader is held
    ("pauser", "pause.start"),
    ("upd0", "upd.decided.unpaused"),   # waits for nR = 0
    SCHED, SCHED, SCHED,                # Continue, generate, Pause
]


def actions(discovery):
    return [step.action for step in discovery.trace[1:]]


def discovery(result, name):
    return next(d for d in result.discoveries if d.property == name)


def test_pre_fix_r1_counterexample_is_pinned():
    result = check(PRE_FIX(scenario="concurrent", requests=1), all_discoveries=True)
    assert result.verdict == "violation" and result.property == "update_safety"
    assert actions(discovery(result, "update_safety")) == R1
    # The same flaw seen as a state property: continue runs while the update is on the
    # paused branch, three steps in.
    assert actions(discovery(result, "paused_update_keeps_P")) == R1[:3]


def test_ipc_before_22290_d1_deadlock_is_pinned():
    result = check(IPC_BEFORE_22290(scenario="rl-loop", mode="in_place", requests=1))
    assert result.verdict == "deadlock"
    assert actions(discovery(result, "deadlock")) == D1


def test_disk_s3_lost_reply_is_pinned():
    result = check(DISK(scenario="concurrent", requests=0, updates=2), all_discoveries=True)
    assert actions(discovery(result, "deadlock")) == S3
    last = discovery(result, "deadlock").trace[-1].state
    assert last.pc[2] == L.UPD_REPLY_PAUSED  # upd0 waits forever


def test_post_fix_r2_deadlock_is_a_finding():
    result = check(POST_FIX(scenario="concurrent", requests=1))
    assert result.verdict == "deadlock"
    assert [d.property for d in result.discoveries] == ["deadlock"]
    assert sorted(actions(discovery(result, "deadlock"))) == sorted(R2)
    assert check(POST_FIX(scenario="concurrent", requests=1), deadlock=False).verdict == "ok"


def test_post_fix_replays_none_of_r1():
    spec = POST_FIX(scenario="concurrent", requests=1)
    state = spec.init_states()[0]
    for step in R1[:2]:
        state = spec.next_state(state, step)
    assert ("continuer", "cont.start") in spec.actions(state)
    state = spec.next_state(state, ("continuer", "cont.start"))
    assert state.pc[1] == L.CONT_ACQUIRE and state.P  # continue queues on CL instead


def test_bench_pre_fix_six_step_counterexample():
    result = check(PAUSE_UPDATE_PRE_FIX(clients=2))
    assert actions(result.primary) == [
        "ctl1_pause", "ctl1_drain", "ctl1_update_begin", "ctl2_resume", "gate[0]",
        "read_acquire[0]"]
    assert check(PAUSE_UPDATE_POST_FIX(clients=2)).verdict == "ok"


@pytest.mark.parametrize("mode", ["in_place", "retract", "abort"])
def test_post_fix_rl_loop_holds_everything(mode):
    result = check(POST_FIX(scenario="rl-loop", mode=mode, requests=2))
    assert result.verdict == "ok" and result.complete
    assert all(result.hits.values()) and result.hits


def test_variants_differ_in_one_named_definition():
    base = set(vars(ProtocolSpec))
    for variant in (PRE_FIX, POST_FIX, IPC_BEFORE_22290, DISK):
        own = {k for k in vars(variant) if not k.startswith("__")}
        assert own == {"name", "update_policy"}, variant
        assert "update_policy" in base


def test_labels_are_one_consistent_list():
    assert set(L.RESUME) <= set(L.ALL_LABELS)
    assert set(L.RESUME.values()) <= set(L.ALL_LABELS) - L.BLOCKED
    spec = POST_FIX()
    ready = set(L.ALL_LABELS) - L.BLOCKED - {L.DONE}
    assert set(spec._step) == ready  # every ready label is a step of the spec


def test_rl_loop_rejects_concurrent_only_parameters():
    from model_check import ParameterError

    with pytest.raises(ParameterError, match="applies to scenario=concurrent only"):
        POST_FIX(scenario="rl-loop", pauses=2)


ENTRIES = expected.load()


@pytest.mark.parametrize("entry", ENTRIES, ids=[expected.entry_id(e) for e in ENTRIES])
def test_expected_results_match_exactly(entry):
    found = expected.run_entry(entry)
    assert expected.mismatches(entry, found) == []


def test_expected_entries_cover_the_issue():
    ids = {expected.entry_id(e) for e in ENTRIES}
    for n in (1, 2, 3):
        for m in (1, 2):
            assert f"POST_FIX scenario=concurrent requests={n} updates={m} no-deadlock" in ids
    for mode in ("in_place", "retract", "abort"):
        assert f"POST_FIX scenario=rl-loop mode={mode} requests=3" in ids
    by_id = {expected.entry_id(e): e for e in ENTRIES}
    for n in (1, 2, 3):
        for m in (1, 2):
            e = by_id[f"POST_FIX scenario=concurrent requests={n} updates={m} no-deadlock"]
            assert e["verdict"] == "ok"
            e = by_id[f"PRE_FIX scenario=concurrent requests={n} updates={m}"]
            assert e["property"] == "update_safety"


class _ReadersIgnoreActiveWriter(POST_FIX):
    """A planted spec bug: readers test only for waiting writers, not an active one."""

    def _gen_read_test(self, w, p):
        if w.wW > 0:
            self._wait(w, "rl", "rcw", p, L.GEN_READ_WAIT)
            return
        w.nR += 1
        self._unlock(w, "rl")
        self._send(w, ("generate", p))
        w.set_pc(p, L.GEN_RUN)


class _ReleaseForgetsTheCount(POST_FIX):
    """A planted spec bug: releasing a reader forgets nR -= 1."""

    def _gen_release(self, w, p):
        self._unlock(w, "rl")
        self._return(w, p)


def test_rwlock_exclusion_and_type_ok_can_fail():
    bad = check(_ReadersIgnoreActiveWriter(scenario="concurrent", requests=1))
    assert "rwlock_exclusion" in [d.property for d in bad.discoveries]
    bad = check(_ReleaseForgetsTheCount(scenario="rl-loop", requests=1))
    assert bad.property == "type_ok"


def test_symmetry_traces_are_real_paths():
    spec = PAUSE_UPDATE_PRE_FIX(clients=3)
    result = check(spec, symmetry=True)
    assert result.primary.length == 6
    state = result.primary.trace[0].state
    for step in result.primary.trace[1:]:
        assert step.action in spec.actions(state)
        state = spec.next_state(state, step.action)
        assert state == step.state
    assert not spec.properties()[0].predicate(state)


def test_symmetry_needs_canonical_and_no_graph():
    from model_check import ModelCheckError, SpecError

    with pytest.raises(SpecError, match="needs the spec to define canonical"):
        check(POST_FIX(), symmetry=True)
    with pytest.raises(ModelCheckError, match="cannot be combined with a state graph"):
        check(PAUSE_UPDATE_POST_FIX(clients=2), symmetry=True, keep_graph=True)
