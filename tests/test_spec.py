"""The protocol spec: pinned counterexamples, pinned results, and the shape of the variants."""

from __future__ import annotations

import pytest

from model_check import check
from spec import (IPC_BEFORE_22290, PAUSE_UPDATE_POST_FIX, PAUSE_UPDATE_PRE_FIX, POST_FIX, PRE_FIX,
                  PROPOSED)
from spec import expected
from spec import labels as L
from spec.protocol import ProtocolSpec

SCHED = ("sched", "sched.loop")
BATCH = ("batch", "batch.loop")
REPLY = ("reply", "reply.loop")

#: R1 as it really happens (spec/PROTOCOL.md section 6): two updates of one kind.  The first is
#: sent at once (its check and send are one step); the second checks P = True and queues on
#: the busy communicator; a continue runs; a request starts; when the first update's reply
#: comes, the queued one is sent with no lock while the request runs.
R1 = [
    ("pauser", "pause.start"),          # P := True, Pause sent
    ("upd0", "upd.start"),              # check P = True and send, one step: no window
    ("upd1", "upd.start"),              # the check: P = True; CL released; queued on comm
    ("continuer", "cont.start"),        # CL is free: P := False, Continue sent
    ("gen0", "gen.start"),              # admitted: gate open, reader taken
    ("gen0", "gen.tokenize"),           # tokenized, request sent
    SCHED, SCHED, SCHED, SCHED,         # Pause, update0 (paused), Continue, the request
    BATCH,                              # forward pass at version 1, unpaused
    REPLY,                              # update0's reply
    ("upd0", "upd.replied.paused"),     # comm free: the turn goes to upd1
    ("upd1", "upd.turn.paused"),        # the act: update1 sent with no lock
    SCHED,                              # applied: version 2
    BATCH,                              # forward pass at version 2: mixed
]

#: D1: ipc takes the writer side while paused with a reader held in the paused scheduler.
D1 = [
    ("gen0", "gen.start"),
    ("ctl", "pause.start"),
    ("ctl", "upd.start"),               # no pause check: waits for the writer side, nR = 1
    ("gen0", "gen.tokenize"),
    SCHED,                              # Pause
    SCHED,                              # the request waits in the paused scheduler: for good
]

#: S3: two paused disk updates share one result future; the second reply kills the server.
S3 = [
    ("pauser", "pause.start"),
    ("upd0", "upd.start"),              # sent; slot := upd0's future
    ("upd1", "upd.start"),              # sent; slot := upd1's future (overwrites upd0's)
    SCHED, SCHED, SCHED,                # Pause, update0, update1
    REPLY,                              # update0's reply resolves upd1's future
    REPLY,                              # update1's reply: set_result on a done future
]

#: R2 (still open after #22304): the update reads P = False and waits for the writer side;
#: a pause lands while the reader is held; nobody will continue.
R2 = [
    ("continuer", "cont.start"),        # the continue client has already called
    ("gen0", "gen.start"),              # a reader is held
    ("upd0", "upd.start"),              # P = False: waits for nR = 0
    ("pauser", "pause.start"),
    ("gen0", "gen.tokenize"),
    SCHED, SCHED, SCHED,                # Continue, Pause, the request waits in the paused scheduler
]


def actions(discovery):
    return [step.action for step in discovery.trace[1:]]


def discovery(result, name):
    return next(d for d in result.discoveries if d.property == name)


def test_pre_fix_r1_counterexample_is_pinned():
    result = check(PRE_FIX(scenario="concurrent", requests=1, updates=2), deadlock=False,
                   all_discoveries=True)
    assert result.verdict == "violation" and result.property == "update_safety"
    assert actions(discovery(result, "update_safety")) == R1


def test_r1_needs_two_updates_of_one_kind():
    safe = ["update_safety"]
    assert check(PRE_FIX(scenario="concurrent", requests=1, updates=1), deadlock=False,
                 properties=safe).verdict == "ok"
    assert check(PRE_FIX(scenario="concurrent", requests=1, updates=2, kinds="tensor,distributed"),
                 deadlock=False, properties=safe).verdict == "ok"
    # the lock-edit gate: one await between check and act reopens it with one update
    edited = check(PRE_FIX(scenario="concurrent", requests=1, updates=1, await_after_check=1),
                   deadlock=False, properties=safe)
    assert edited.verdict == "violation"
    assert ("upd0", "upd.decided.paused") in actions(edited.primary)
    assert check(POST_FIX(scenario="concurrent", requests=1, updates=1, await_after_check=1),
                 deadlock=False, properties=safe).verdict == "ok"


def test_ipc_before_22290_d1_deadlock_is_pinned():
    result = check(IPC_BEFORE_22290(scenario="rl-loop", mode="in_place", requests=1),
                   all_discoveries=True)
    assert result.verdict == "deadlock"
    assert actions(discovery(result, "deadlock")) == D1


def test_disk_s3_kills_the_reply_handler():
    spec = POST_FIX(scenario="concurrent", requests=0, updates=2, kinds="disk,disk")
    result = check(spec, all_discoveries=True)
    assert actions(discovery(result, "reply_handler_ok")) == S3
    last = discovery(result, "reply_handler_ok").trace[-1].state
    assert last.dead and spec.actions(last) == [] and spec.is_done(last)
    assert last.pc[2] == L.UPD_REPLY_PAUSED  # upd0 was never answered


def test_disk_is_free_of_r1():
    result = check(POST_FIX(scenario="concurrent", requests=1, updates=2, kinds="disk,disk"),
                   deadlock=False, properties=["update_safety", "reply_handler_ok"])
    assert [d.property for d in result.discoveries] == ["reply_handler_ok"]


def test_post_fix_r2_deadlock_is_a_finding():
    result = check(POST_FIX(scenario="concurrent", requests=1))
    assert result.verdict == "deadlock"
    assert [d.property for d in result.discoveries] == ["deadlock"]
    assert actions(discovery(result, "deadlock")) == R2
    assert check(POST_FIX(scenario="concurrent", requests=1), deadlock=False).verdict == "ok"


def test_post_fix_replays_none_of_r1():
    spec = POST_FIX(scenario="concurrent", requests=1, updates=2)
    state = spec.init_states()[0]
    for step in R1[:3]:
        state = spec.next_state(state, step)
    assert state.cl == spec.names.index("upd0")  # CL held by the paused-branch update
    state = spec.next_state(state, ("continuer", "cont.start"))
    assert state.pc[1] == L.CONT_ACQUIRE and state.P  # continue queues on CL instead


def test_flush_cache_failure_after_the_weights_changed():
    result = check(POST_FIX(scenario="rl-loop", requests=1, flush=1))
    assert result.property == "failed_update_unchanged"
    last = result.primary.trace[-1].state
    assert last.version == 1 and any(m[0] == "ack" and m[3] is False for m in last.RQ)


def test_communicator_turn_assertion():
    result = check(POST_FIX(scenario="concurrent", requests=0, updates=3), deadlock=False)
    assert result.property == "communicator_turn_free"


@pytest.mark.parametrize("spec", [
    POST_FIX(scenario="concurrent", requests=2, updates=2, mode="abort"),
    PRE_FIX(scenario="concurrent", requests=2, updates=2),
], ids=["post-fix-abort", "pre-fix"])
def test_rl_is_never_held_between_steps(spec):
    """Every holder takes and releases the RWLock's own lock within one step, so nobody
    ever queues on it: why a probe without RL is an equivalent mutant (impl.engine.mutate)."""
    result = check(spec, keep_graph=True, deadlock=False)
    assert result.complete and all(s.rl == -1 and not s.rlq for s in result.state_list)


def test_parameters_are_checked():
    from model_check import ParameterError

    with pytest.raises(ParameterError, match="valid kinds: tensor, distributed, ipc, disk"):
        POST_FIX(updates=1, kinds="floppy")
    with pytest.raises(ParameterError, match="2 kinds given for updates=1"):
        POST_FIX(updates=1, kinds="tensor,tensor")
    with pytest.raises(ParameterError, match="give one mode per pause call"):
        POST_FIX(pauses=2, modes="abort")
    with pytest.raises(ParameterError, match="'stop' is not a pause mode"):
        POST_FIX(modes="stop")
    spec = POST_FIX(pauses=2, modes="in_place,abort", updates=0)
    assert spec.programs[0] == (("pause", "in_place"), ("pause", "abort"))
    assert IPC_BEFORE_22290(updates=1).kinds == ("ipc",)


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
    for variant in (PRE_FIX, POST_FIX, IPC_BEFORE_22290):
        own = {k for k in vars(variant) if not k.startswith("__")}
        assert own == {"name", "update_policy"}, variant
    # PROPOSED differs by named definitions only: its policy and one flag per fix
    own = {k for k in vars(PROPOSED) if not k.startswith("__")}
    assert own == {"name", "update_policy", "reader_under_gate", "abort_drops_paused",
                   "writer_cancel_notifies", "disk_communicator", "safe_communicator",
                   "abort_sets_p_when_drained", "flush_checks_before_apply"}
    assert all(getattr(ProtocolSpec, k) is False for k in own - {"name", "update_policy"})
    assert "update_policy" in base


def test_labels_are_one_consistent_list():
    assert set(L.RESUME) <= set(L.ALL_LABELS)
    assert set(L.RESUME.values()) <= set(L.ALL_LABELS) - L.BLOCKED
    spec = POST_FIX()
    ready = set(L.ALL_LABELS) - L.BLOCKED - {L.DONE, L.CANCEL}
    assert set(spec._step) == ready  # every ready label is a step of the spec


def test_rl_loop_rejects_concurrent_only_parameters():
    from model_check import ParameterError

    with pytest.raises(ParameterError, match="applies to scenario=concurrent only"):
        POST_FIX(scenario="rl-loop", pauses=2)


ENTRIES = expected.load()


def _marks(entry):
    return [pytest.mark.slow] if entry.get("slow") else []


@pytest.mark.parametrize("entry", [pytest.param(e, marks=_marks(e)) for e in ENTRIES],
                         ids=[expected.entry_id(e) for e in ENTRIES])
def test_expected_results_match_exactly(entry):
    found = expected.run_entry(entry)
    assert expected.mismatches(entry, found) == []


def test_expected_entries_cover_the_issue():
    by_id = {expected.entry_id(e): e for e in ENTRIES}
    for n in (1, 2, 3):
        for m in (1, 2):
            e = by_id[f"POST_FIX scenario=concurrent requests={n} updates={m} no-deadlock"]
            assert e["verdict"] == "ok"
    for mode in ("in_place", "retract", "abort"):
        assert by_id[f"POST_FIX scenario=rl-loop mode={mode} requests=3"]["verdict"] == "ok"
    pre = "PRE_FIX scenario=concurrent requests=1"
    assert "update_safety" not in by_id[f"{pre} updates=1 no-deadlock"]["discoveries"]
    assert by_id[f"{pre} updates=2 no-deadlock"]["property"] == "update_safety"
    assert "update_safety" not in by_id[
        f"{pre} updates=2 kinds=tensor,distributed no-deadlock"]["discoveries"]
    assert by_id[f"{pre} updates=1 await_after_check=1 no-deadlock"]["property"] == "update_safety"
    disk = by_id["POST_FIX scenario=concurrent requests=1 updates=2 kinds=disk,disk no-deadlock"]
    assert "update_safety" not in disk["discoveries"] and "reply_handler_ok" in disk["discoveries"]


class _ReadersIgnoreActiveWriter(POST_FIX):
    """A planted spec bug: readers test only for waiting writers, not an active one."""

    def _gen_read_test(self, w, p):
        if w.wW > 0:
            self._wait(w, "rl", "rcw", p, L.GEN_READ_WAIT)
            return
        w.nR += 1
        self._unlock(w, "rl")
        w.set_pc(p, L.GEN_TOKENIZE)


class _ReleaseForgetsTheCount(POST_FIX):
    """A planted spec bug: releasing a reader forgets nR -= 1."""

    def _gen_release(self, w, p):
        self._unlock(w, "rl")
        self._return(w, p)


def test_rwlock_exclusion_and_type_ok_can_fail():
    bad = check(_ReadersIgnoreActiveWriter(scenario="concurrent", requests=1), all_discoveries=True)
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
