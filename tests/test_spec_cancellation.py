"""Cancellation in the spec: where a cancel may land, what it leaves behind, and the hazards
it opens (S1 per Python version, C1), found from the spec alone; PROPOSED closes them."""

from __future__ import annotations

import pytest

from model_check import ParameterError, check
from spec import POST_FIX, PRE_FIX, PROPOSED
from spec import labels as L
from spec.protocol import GHOST, NOBODY

TWO_WRITERS = dict(scenario="concurrent", pauses=0, continues=0, requests=1, updates=2)


def test_no_cancel_without_the_parameter():
    spec = POST_FIX(**TWO_WRITERS)
    s = spec.init_states()[0]
    s = spec.next_state(s, ("upd0", L.UPD_START))
    assert not [a for a in spec.actions(s) if a[1] == L.CANCEL]
    with pytest.raises(ValueError, match="cannot be cancelled"):
        spec.next_state(s, ("upd0", L.CANCEL))


def test_cancel_lands_only_on_a_call_in_progress_and_within_the_bound():
    spec = POST_FIX(**TWO_WRITERS, cancels=1)
    s = spec.init_states()[0]
    assert not [a for a in spec.actions(s) if a[1] == L.CANCEL]   # nothing has started
    s = spec.next_state(s, ("upd0", L.UPD_START))                  # sent, awaits its reply
    assert ("upd0", L.CANCEL) in spec.actions(s)
    s = spec.next_state(s, ("upd0", L.CANCEL))
    assert s.cancelled == 1 and not [a for a in spec.actions(s) if a[1] == L.CANCEL]
    assert spec.task(("upd0", L.CANCEL)) is None                   # never forced by fairness


def test_a_cancelled_update_is_still_applied_and_its_communicator_stays_busy():
    spec = POST_FIX(**TWO_WRITERS, kinds="tensor,tensor", cancels=1)
    s = spec.init_states()[0]
    s = spec.next_state(s, ("upd0", L.UPD_START))
    s = spec.next_state(s, ("upd0", L.CANCEL))
    assert s.pc[spec.names.index("upd0")] == L.DONE and not s.wA   # the caller is gone ...
    assert s.Q[0][0] == "update" and s.ci == (GHOST,)             # ... its update is not
    s = spec.next_state(s, ("sched", L.SCHED_LOOP))
    assert s.version == 1                                          # applied all the same
    s = spec.next_state(s, ("reply", L.REPLY_LOOP))
    assert s.ci == (GHOST,)                                        # upstream never clears it
    s = spec.next_state(s, ("upd1", L.UPD_START))
    assert s.pc[spec.names.index("upd1")] == L.UPD_QUEUED_WRITER   # C1: queued for good
    fixed = PROPOSED(**TWO_WRITERS, kinds="tensor,tensor", cancels=1)
    f = fixed.init_states()[0]
    for action in (("upd0", L.UPD_START), ("upd0", L.CANCEL), ("sched", L.SCHED_LOOP),
                   ("reply", L.REPLY_LOOP)):
        f = fixed.next_state(f, action)
    assert f.version == 1 and f.ci == (NOBODY,)                    # the fix frees it on reply


@pytest.mark.parametrize("python, verdict", [("3.11", "deadlock"), ("3.12", "deadlock"),
                                             ("3.13", "ok")])
def test_s1_depends_on_the_python_version(python, verdict):
    spec = POST_FIX(**TWO_WRITERS, kinds="tensor,distributed", cancels=1, python=python)
    result = check(spec)
    assert result.verdict == verdict
    if verdict == "deadlock":
        trace = result.primary.trace
        last = trace[-1].state
        gen0 = spec.names.index("gen0")
        assert last.pc[gen0] == L.GEN_READ_WAIT and not last.wA and last.wW == 0
        assert trace[-1].action[1] == L.CANCEL
        assert any("free for readers" in line for line in spec.explain(last))


@pytest.mark.parametrize("python", ["3.12", "3.13"])
def test_c1_is_found_on_either_version(python):
    spec = POST_FIX(**TWO_WRITERS, kinds="tensor,tensor", cancels=1, python=python)
    result = check(spec)
    assert result.verdict == "deadlock"
    assert any("cancelled and is never cleared" in line
               for line in spec.explain(result.primary.trace[-1].state))


@pytest.mark.parametrize("variant", [PRE_FIX, POST_FIX])
def test_the_writer_cancel_notify_is_the_s1_fix(variant):
    class Fixed(variant):
        writer_cancel_notifies = True
    params = dict(TWO_WRITERS, kinds="tensor,distributed", cancels=1, python="3.12")
    assert check(variant(**params)).verdict == "deadlock"
    assert check(Fixed(**params)).verdict == "ok"


@pytest.mark.parametrize("params", [
    dict(TWO_WRITERS, kinds="tensor,distributed", cancels=1),
    dict(TWO_WRITERS, kinds="tensor,tensor", cancels=1, python="3.13"),
    dict(scenario="concurrent", requests=1, updates=0, pauses=2, modes="in_place,abort",
         cancels=1),
    dict(scenario="concurrent", requests=1, updates=2, mode="abort", cancels=1),
    dict(scenario="rl-loop", requests=1, flush=1, cancels=1),
])
def test_proposed_holds_safety_deadlock_freedom_and_liveness(params):
    result = check(PROPOSED(**params), liveness=True, all_discoveries=True)
    assert result.verdict == "ok" and result.complete, result.summary()


def test_a_cancelled_abort_pause_leaves_p_set_over_running_requests_upstream():
    """Found while building PROPOSED: an abort-mode pause cancelled mid-drain leaves P True
    over requests still running in an unpaused scheduler; a paused-branch update then lands
    on them.  PROPOSED sets P only once the drain succeeded."""
    params = dict(scenario="concurrent", requests=1, updates=2, mode="abort", cancels=1)

    class Undrained(PROPOSED):
        abort_sets_p_when_drained = False
    result = check(Undrained(**params))
    assert result.verdict == "violation" and result.property == "apply_guarded"
    assert [s.action for s in result.primary.trace][-2:] == [("pauser", L.CANCEL),
                                                             ("upd0", L.UPD_START)]
    assert check(PROPOSED(**params)).verdict == "ok"


def test_bad_cancellation_parameters_are_refused():
    with pytest.raises(ParameterError, match="cancels"):
        POST_FIX(cancels=9)
    with pytest.raises(ParameterError, match="python"):
        POST_FIX(python="3.10")


@pytest.mark.parametrize("flag, params, fails", [
    ("reader_under_gate", dict(scenario="concurrent", requests=1, updates=2, mode="abort"),
     "apply_guarded"),                                                      # A1
    ("abort_drops_paused", dict(scenario="concurrent", requests=1, updates=0, pauses=2,
                                modes="in_place,abort"), "pause_returns"),   # D2
    ("disk_communicator", dict(scenario="concurrent", requests=1, updates=2,
                               kinds="disk,disk"), "reply_handler_ok"),     # S3
    ("safe_communicator", dict(TWO_WRITERS, kinds="tensor,tensor", cancels=1),
     "update_returns"),                                                     # C1
    ("abort_sets_p_when_drained", dict(scenario="concurrent", requests=1, updates=2,
                                       mode="abort", cancels=1), "apply_guarded"),
    ("flush_checks_before_apply", dict(scenario="rl-loop", requests=1, flush=1),
     "failed_update_unchanged"),
])
def test_each_proposed_fix_is_needed(flag, params, fails):
    """PROPOSED with one fix taken back fails where that fix is needed.  (S1's fix is not in
    this table: with the R2 and A1 fixes, a request can no longer park behind a waiting
    writer, so S1 cannot arise in PROPOSED even without it; it is shown needed on the
    upstream variants above.)"""
    without = type("Without", (PROPOSED,), {flag: False})
    result = check(without(**params), liveness=True)
    assert result.property == fails
    assert check(PROPOSED(**params), liveness=True).verdict == "ok"


def test_the_r2_fix_is_the_policy():
    from spec.protocol import DECIDE_UNDER_LOCK
    post_fix_policy = type("PostFixPolicy", (PROPOSED,), {
        "update_policy": dict(PROPOSED.update_policy, tensor=DECIDE_UNDER_LOCK)})
    result = check(post_fix_policy(scenario="concurrent", requests=1, updates=1),
                   liveness=True)
    assert result.property == "update_returns"                              # R2
