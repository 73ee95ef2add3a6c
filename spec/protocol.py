"""The pause / continue / weight-update / generate protocol as a state machine.

This is ``shared/PROTOCOL.md`` section 3, cut at await granularity: one action of the spec is
one *step* of one task, from the point where it resumes to the point where it next suspends
(or finishes).  Which task runs next is the only choice; every task is deterministic given
the state, so an action is just ``(process, label)``: the process and the code point it
resumes from (labels in :mod:`spec.labels`).

asyncio is modelled as PROTOCOL.md section 2 says, explicitly:

* ``asyncio.Lock`` (CL, and RL inside the RWLock): a free lock with no waiters is taken at
  once, with no suspension; otherwise the task queues FIFO and suspends.  ``release`` hands
  the lock to the first waiter (it becomes ready holding the lock): newcomers cannot barge.
* ``asyncio.Condition``: ``wait`` releases the lock and parks the task; ``notify_all``
  makes every parked task ready; a ready task then re-acquires the lock (fast path or queue).
* the writer-preferring RWLock: RL, its condition, and the counters ``nR``, ``wA``, ``wW``.
* ``asyncio.sleep(1.0)`` (abort-mode pause): virtual time; the sleeper can run only when no
  other task can.  This is a timing assumption, stated plainly: one 1 s poll outlasts
  everything else that can happen meanwhile, a request's whole generation included.  The
  controlled event loop makes the same assumption, so conformance cannot test it.

The scheduler (its FIFO queue ``Q``, pause state, running requests and weight version) and
the reply handler (FIFO ``RQ`` back to the tokenizer) are processes too.

The variants differ in ONE named definition, :attr:`ProtocolSpec.update_policy`:

=====================  ==========================================================
``PRE_FIX``            :data:`CHECK_THEN_ACT`: read P under CL, release CL, then act
``POST_FIX``           :data:`DECIDE_UNDER_LOCK`: #22304, update while still holding CL
``IPC_BEFORE_22290``   :data:`ALWAYS_WRITER`: no pause check, writer side every time
``DISK``               :data:`CHECK_THEN_ACT_SHARED_SLOT`: the pre-fix pattern plus one
                       shared result future for every caller (S3)
=====================  ==========================================================

Modelling choice, stated once: between the update's decision and its act there is a
suspension point in every variant (label ``upd.decided.*``).  Upstream may suspend there
(``async with`` on the lock context; the communicator queues a call while another is in
flight); making it a schedule point covers both cases, so safety proven here holds whether
or not the real code suspends.  In POST_FIX the paused branch keeps CL across it, which is
exactly what closes the window.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

from model_check import Parameter, Property, Spec, always, sometimes

from . import labels as L

NOBODY = -1


@dataclasses.dataclass(frozen=True)
class UpdatePolicy:
    """How an update decides between the paused branch and the writer side.

    ``checks_pause``: read P at all (False: the writer side every time).
    ``holds_cl_while_paused``: on the paused branch, keep CL until the reply (the fix).
    ``shared_result_slot``: every paused caller waits on one shared result future; the
    reply resolves whoever set it last (update_weights_from_disk).
    """

    name: str
    checks_pause: bool
    holds_cl_while_paused: bool
    shared_result_slot: bool = False


#: The flaw (#22304's "before"): the check and the act are separate steps, CL released between.
CHECK_THEN_ACT = UpdatePolicy("check_then_act", True, False)
#: The fix (#22304): decide and, when paused, update while still holding CL.
DECIDE_UNDER_LOCK = UpdatePolicy("decide_under_lock", True, True)
#: update_weights_from_ipc before #22290: the writer side every time (D1).
ALWAYS_WRITER = UpdatePolicy("always_writer", False, False)
#: update_weights_from_disk today: check-then-act, and one shared result future (S3).
CHECK_THEN_ACT_SHARED_SLOT = UpdatePolicy("check_then_act_shared_slot", True, False, True)


class State(NamedTuple):
    """One state of the protocol.  Processes are numbered: clients first, then requests,
    then the scheduler and the reply handler; ``pc[p]`` is process p's label and
    ``call[p]`` the index of its current call in its program."""

    P: bool                      # is_pause
    cl: int                      # CL holder, or NOBODY
    clq: tuple[int, ...]         # CL waiters, FIFO
    cw: tuple[int, ...]          # parked on the pause condition (sorted)
    rl: int                      # RL holder, or NOBODY
    rlq: tuple[int, ...]         # RL waiters, FIFO
    rcw: tuple[int, ...]         # parked on the RWLock condition (sorted)
    nR: int                      # readers holding the RWLock
    wA: bool                     # writer active
    wW: int                      # writers waiting
    pc: tuple[str, ...]
    call: tuple[int, ...]
    Q: tuple[tuple[Any, ...], ...]   # tokenizer -> scheduler, FIFO
    paused: bool                     # scheduler paused
    running: tuple[tuple[int, int, int], ...]    # (request, tokens made, version seen or -1)
    retracted: tuple[tuple[int, int, int], ...]  # retract-mode: back in the waiting queue
    version: int                                 # weight version
    RQ: tuple[tuple[Any, ...], ...]  # scheduler -> reply handler, FIFO
    slot: int                    # DISK: who the shared result future belongs to, or NOBODY
    mixed: bool                  # monitor: a request ran forward passes across a version change


class _Work:
    """A mutable copy of a State used while one step runs."""

    __slots__ = State._fields

    def __init__(self, state: State) -> None:
        for name, value in zip(State._fields, state):
            setattr(self, name, value)

    def freeze(self) -> State:
        return State(*(getattr(self, name) for name in State._fields))

    def set_pc(self, p: int, label: str) -> None:
        pc = self.pc
        self.pc = pc[:p] + (label,) + pc[p + 1:]


SCENARIOS = ("concurrent", "rl-loop")
MODES = ("in_place", "retract", "abort")


class ProtocolSpec(Spec):
    """The protocol, parametrised by scenario and sizes; subclasses pick the update policy.

    Parameters (``-D name=value``): ``scenario`` (``concurrent``: pause, continue and every
    update are independent clients; ``rl-loop``: one controller calls pause(mode), the
    updates, then continue), ``requests`` N, ``updates`` M, ``mode`` of every pause,
    ``tokens`` per request, and for ``concurrent`` how many times the pause and continue
    clients call.

    >>> spec = POST_FIX(requests=1, scenario="rl-loop")
    >>> spec.names
    ('ctl', 'gen0', 'sched', 'reply')
    >>> [spec.format_action(a) for a in spec.actions(spec.init_states()[0])]
    ['ctl pause.start', 'gen0 gen.start']
    """

    name = "PROTOCOL"
    update_policy: UpdatePolicy = DECIDE_UNDER_LOCK
    parameters = (
        Parameter("scenario", "concurrent", "client scenario", choices=SCENARIOS),
        Parameter("requests", 2, "generate requests N", minimum=0, maximum=8),
        Parameter("updates", 1, "weight updates M", minimum=1, maximum=4),
        Parameter("mode", "in_place", "pause mode", choices=MODES),
        Parameter("tokens", 2, "forward passes a request needs to finish", minimum=1, maximum=4),
        Parameter("pauses", 1, "concurrent: calls of the pause client", minimum=0, maximum=3),
        Parameter("continues", 1, "concurrent: calls of the continue client", minimum=0,
                  maximum=3),
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        p = self.params
        if p["scenario"] == "rl-loop":
            for name in ("pauses", "continues"):
                if p[name] != 1:
                    from model_check import ParameterError

                    raise ParameterError(
                        f"parameter {name} applies to scenario=concurrent only; "
                        "rl-loop calls pause and continue once each"
                    )
        n, m = p["requests"], p["updates"]
        # Clients first, then requests: among equally short counterexamples, the search
        # then reports the one where the clients act first.
        names: list[str] = []
        programs: list[tuple[str, ...]] = []
        if p["scenario"] == "rl-loop":
            names.append("ctl")
            programs.append(("pause",) + ("update",) * m + ("continue",))
        else:
            names += ["pauser", "continuer"] + [f"upd{j}" for j in range(m)]
            programs += [("pause",) * p["pauses"], ("continue",) * p["continues"]]
            programs += [("update",)] * m
        self.clients = range(len(names))
        self.requests = range(len(names), len(names) + n)
        names += [f"gen{i}" for i in range(n)]
        programs += [("generate",)] * n
        self.sched = len(names)
        self.reply = len(names) + 1
        self.names: tuple[str, ...] = tuple(names) + ("sched", "reply")
        self.programs: tuple[tuple[str, ...], ...] = tuple(programs) + ((), ())
        self.mode: str = p["mode"]
        self.tokens: int = p["tokens"]
        self._step = {
            L.GEN_START: self._gen_start,
            L.GEN_GATE_LOCKED: self._gen_gate_test,
            L.GEN_GATE_NOTIFIED: self._gen_start,
            L.GEN_READ_LOCKED: self._gen_read_test,
            L.GEN_READ_NOTIFIED: self._gen_read_acquire,
            L.GEN_FINISHED: self._gen_finished,
            L.GEN_RELEASE_LOCKED: self._gen_release,
            L.UPD_START: self._upd_start,
            L.UPD_CHECK_LOCKED: self._upd_check,
            L.UPD_DECIDED_PAUSED: self._upd_send_paused,
            L.UPD_DECIDED_UNPAUSED: self._upd_write_acquire,
            L.UPD_WRITE_LOCKED: self._upd_write_enter,
            L.UPD_WRITE_NOTIFIED: self._upd_write_reacquire,
            L.UPD_WRITE_RECHECK: self._upd_write_test,
            L.UPD_REPLIED_PAUSED: self._upd_replied_paused,
            L.UPD_REPLIED_WRITER: self._upd_replied_writer,
            L.UPD_RELEASE_LOCKED: self._upd_release,
            L.PAUSE_START: self._pause_start,
            L.PAUSE_LOCKED: self._pause_locked,
            L.PAUSE_PROBE_LOCKED: self._pause_probe,
            L.PAUSE_SLEEP: self._pause_round,
            L.CONT_START: self._cont_start,
            L.CONT_LOCKED: self._cont_locked,
            L.SCHED_LOOP: self._sched_step,
            L.REPLY_LOOP: self._reply_step,
        }

    # ---------------------------------------------------------------- the Spec interface
    def init_states(self) -> list[State]:
        pc = tuple(L.CALL_START[prog[0]] if prog else L.DONE for prog in self.programs[:-2])
        return [
            State(
                P=False, cl=NOBODY, clq=(), cw=(), rl=NOBODY, rlq=(), rcw=(), nR=0, wA=False,
                wW=0, pc=pc + (L.SCHED_LOOP, L.REPLY_LOOP), call=(0,) * len(self.names), Q=(),
                paused=False, running=(), retracted=(), version=0, RQ=(), slot=NOBODY,
                mixed=False,
            )
        ]

    def actions(self, state: State) -> list[tuple[str, str]]:
        names, pc = self.names, state.pc
        acts = [
            (names[p], pc[p])
            for p in range(self.sched)
            if pc[p] not in L.BLOCKED and pc[p] != L.PAUSE_SLEEP
        ]
        if state.Q or (state.running and not state.paused):
            acts.append((names[self.sched], L.SCHED_LOOP))
        if state.RQ:
            acts.append((names[self.reply], L.REPLY_LOOP))
        if not acts:  # virtual time: a sleeper wakes only when nothing else can run
            acts = [(names[p], L.PAUSE_SLEEP) for p in self.clients if pc[p] == L.PAUSE_SLEEP]
        return acts

    def next_state(self, state: State, action: tuple[str, str]) -> State:
        name, label = action
        p = self.names.index(name)
        if state.pc[p] != label:
            raise ValueError(f"{name} is at {state.pc[p]!r}, not {label!r}")
        w = _Work(state)
        self._step[label](w, p)
        return w.freeze()

    def is_done(self, state: State) -> bool:
        """Every client call returned, and each request either finished or rests paused
        (parked at the gate while P is True, or held in the paused scheduler): the server is
        idle until someone calls continue.  An update or pause that never returns is not
        done: that is a deadlock."""
        pc = state.pc
        if any(pc[c] != L.DONE for c in self.clients) or state.cl != NOBODY:
            return False
        for r in self.requests:
            if pc[r] == L.DONE:
                continue
            if pc[r] == L.GEN_GATE_WAIT and state.P:
                continue
            if pc[r] == L.GEN_RUN and state.paused:
                continue
            return False
        return True

    def properties(self) -> list[Property]:
        props = [
            always("type_ok", self.type_ok, "every variable in range; counters match the pcs"),
            always("update_safety", lambda s: not s.mixed,
                   "no request runs forward passes, unpaused, across a weight-version change"),
            always("apply_guarded", self.apply_guarded,
                   "PROTOCOL.md section 4 to the letter: when the scheduler applies an update, "
                   "it is paused or no request holds a reader"),
            always("rwlock_exclusion", self.rwlock_exclusion,
                   "never a writer together with readers; never two writers"),
        ]
        if self.update_policy.checks_pause:
            props.append(always(
                "paused_update_keeps_P", self.paused_update_keeps_p,
                "while an update is on the paused branch, P stays True"))
            props.append(sometimes(
                "update_applied_paused", lambda s: self._acked(s, "paused"),
                "the scheduler applies an update on the paused branch"))
        if self.params["scenario"] == "concurrent" or not self.update_policy.checks_pause:
            # rl-loop pauses before every update, so the writer branch is unreachable there.
            props.append(sometimes(
                "update_applied_writer", lambda s: self._acked(s, "writer"),
                "the scheduler applies an update taken under the writer side"))
        if (self.params["requests"] and self.tokens > 1 and self.mode != "abort"
                and self.update_policy.checks_pause):
            # the situation update_safety is about must be reachable: an update applied while
            # a request that has already made tokens waits in the (paused) scheduler
            props.append(sometimes(
                "update_applied_mid_request",
                lambda s: any(m[0] == "ack" for m in s.RQ)
                and any(t > 0 for _, t, _ in s.running + s.retracted),
                "an update is applied while a request is part-way through its tokens"))
        if self.params["requests"]:
            props.append(sometimes(
                "request_completes",
                lambda s: any(m[0] == "out" and m[2] for m in s.RQ),
                "a request finishes with all its tokens"))
        return props

    # ---------------------------------------------------------------- properties
    def type_ok(self, s: State) -> bool:
        procs = range(len(self.names))
        if not (isinstance(s.P, bool) and isinstance(s.wA, bool) and isinstance(s.paused, bool)):
            return False
        if s.cl != NOBODY and s.cl not in procs or s.rl != NOBODY and s.rl not in procs:
            return False
        for queue in (s.clq, s.rlq, s.cw, s.rcw):
            if len(set(queue)) != len(queue) or any(p not in procs for p in queue):
                return False
        if s.cl in s.clq or s.rl in s.rlq or tuple(sorted(s.cw)) != s.cw:
            return False
        if tuple(sorted(s.rcw)) != s.rcw or (s.cl == NOBODY and s.clq) or (s.rl == NOBODY and s.rlq):
            return False
        readers = sum(1 for r in self.requests if s.pc[r] in L.READER_HELD)
        waiting = sum(1 for c in self.clients if s.pc[c] in L.WRITER_WAITING)
        writing = any(s.pc[c] in L.WRITER_HELD for c in self.clients)
        return (s.nR == readers and s.wW == waiting and s.wA == writing and s.version >= 0
                and all(0 <= t < self.tokens for _, t, _ in s.running + s.retracted)
                and all(label in L.ALL_LABELS for label in s.pc))

    @staticmethod
    def apply_guarded(s: State) -> bool:
        """The scheduler applies the update at the head of Q in its next step, so this state
        is the moment of the apply: it must be paused, or no reader may be held.  (It replies
        in that same step, so "stays paused until the update has replied" holds by
        construction.)"""
        return not (s.Q and s.Q[0][0] == "update") or s.paused or s.nR == 0

    def rwlock_exclusion(self, s: State) -> bool:
        writers = sum(1 for c in self.clients if s.pc[c] in L.WRITER_HELD)
        readers = sum(1 for r in self.requests if s.pc[r] in L.READER_HELD)
        return writers <= 1 and not (writers and readers)

    def paused_update_keeps_p(self, s: State) -> bool:
        return s.P or not any(s.pc[c] in L.PAUSED_BRANCH for c in self.clients)

    @staticmethod
    def _acked(s: State, branch: str) -> bool:
        return any(m[0] == "ack" and m[2] == branch for m in s.RQ)

    # ---------------------------------------------------------------- printing
    def fields(self, s: State) -> dict[str, Any]:
        """Named variables, for counterexamples: lock holders and queues by process name."""
        n = self.names
        who = lambda p: n[p] if p != NOBODY else "-"  # noqa: E731
        out: dict[str, Any] = {
            "P": s.P, "CL": who(s.cl), "CL.queue": tuple(n[p] for p in s.clq),
            "pause_cond.waiters": tuple(n[p] for p in s.cw),
            "RL": who(s.rl), "RL.queue": tuple(n[p] for p in s.rlq),
            "rw_cond.waiters": tuple(n[p] for p in s.rcw),
            "nR": s.nR, "wA": s.wA, "wW": s.wW,
        }
        for p, name in enumerate(n[: self.sched]):
            call = s.call[p]
            prog = self.programs[p]
            out[f"pc.{name}"] = s.pc[p] if len(prog) <= 1 else f"{s.pc[p]} (call {call + 1}/{len(prog)})"
        out["Q"] = tuple(self._msg(m) for m in s.Q)
        out["sched.paused"] = s.paused
        out["sched.running"] = tuple(f"{n[r]}:{t}tok@v{v}" for r, t, v in s.running)
        out["sched.retracted"] = tuple(f"{n[r]}:{t}tok" for r, t, _ in s.retracted)
        out["version"] = s.version
        out["RQ"] = tuple(self._msg(m) for m in s.RQ)
        if self.update_policy.shared_result_slot:
            out["result_slot"] = who(s.slot)
        out["mixed"] = s.mixed
        return out

    def _msg(self, m: tuple[Any, ...]) -> str:
        kind = m[0]
        if kind == "generate":
            return f"generate({self.names[m[1]]})"
        if kind == "update":
            return f"update({self.names[m[1]]}, {m[2]})"
        if kind == "pause":
            return f"pause({m[1]})"
        if kind == "out":
            return f"out({self.names[m[1]]}, {'complete' if m[2] else 'aborted'})"
        if kind == "ack":
            return f"ack({self.names[m[1]]}, {m[2]})"
        return kind

    # ---------------------------------------------------------------- asyncio primitives
    @staticmethod
    def _lock(w: _Work, lock: str, p: int, blocked: str) -> bool:
        """``await lock.acquire()``: True if taken at once, else queue with label ``blocked``."""
        if getattr(w, lock) == NOBODY and not getattr(w, lock + "q"):
            setattr(w, lock, p)
            return True
        setattr(w, lock + "q", getattr(w, lock + "q") + (p,))
        w.set_pc(p, blocked)
        return False

    @staticmethod
    def _unlock(w: _Work, lock: str) -> None:
        """``lock.release()``: hand the lock to the first waiter, which becomes ready."""
        queue = getattr(w, lock + "q")
        if queue:
            first = queue[0]
            setattr(w, lock + "q", queue[1:])
            setattr(w, lock, first)
            w.set_pc(first, L.RESUME[w.pc[first]])
        else:
            setattr(w, lock, NOBODY)

    def _wait(self, w: _Work, lock: str, cond: str, p: int, parked: str) -> None:
        """``await cond.wait()``: release the lock, park until notified."""
        self._unlock(w, lock)
        setattr(w, cond, tuple(sorted(getattr(w, cond) + (p,))))
        w.set_pc(p, parked)

    @staticmethod
    def _notify_all(w: _Work, cond: str) -> None:
        for q in getattr(w, cond):
            w.set_pc(q, L.RESUME[w.pc[q]])
        setattr(w, cond, ())

    def _send(self, w: _Work, message: tuple[Any, ...]) -> None:
        w.Q = w.Q + (message,)

    def _return(self, w: _Work, p: int) -> None:
        """The current call returns: move to the next call of the program, or DONE."""
        nxt = w.call[p] + 1
        w.call = w.call[:p] + (nxt,) + w.call[p + 1:]
        prog = self.programs[p]
        w.set_pc(p, L.CALL_START[prog[nxt]] if nxt < len(prog) else L.DONE)

    # ---------------------------------------------------------------- GEN
    def _gen_start(self, w: _Work, p: int) -> None:
        # `async with is_pause_cond:` (also the re-acquire after a notify)
        if self._lock(w, "cl", p, L.GEN_GATE_ACQUIRE):
            self._gen_gate_test(w, p)

    def _gen_gate_test(self, w: _Work, p: int) -> None:
        # `await is_pause_cond.wait_for(lambda: not is_pause)`
        if w.P:
            self._wait(w, "cl", "cw", p, L.GEN_GATE_WAIT)
            return
        self._unlock(w, "cl")
        self._gen_read_acquire(w, p)

    def _gen_read_acquire(self, w: _Work, p: int) -> None:
        # reader side: `async with RL:`
        if self._lock(w, "rl", p, L.GEN_READ_ACQUIRE):
            self._gen_read_test(w, p)

    def _gen_read_test(self, w: _Work, p: int) -> None:
        # `while wA or wW > 0: await cond.wait()`; then nR += 1, release RL, send, await
        if w.wA or w.wW > 0:
            self._wait(w, "rl", "rcw", p, L.GEN_READ_WAIT)
            return
        w.nR += 1
        self._unlock(w, "rl")
        self._send(w, ("generate", p))
        w.set_pc(p, L.GEN_RUN)

    def _gen_finished(self, w: _Work, p: int) -> None:
        if self._lock(w, "rl", p, L.GEN_RELEASE_ACQUIRE):
            self._gen_release(w, p)

    def _gen_release(self, w: _Work, p: int) -> None:
        w.nR -= 1
        if w.nR == 0:
            self._notify_all(w, "rcw")
        self._unlock(w, "rl")
        self._return(w, p)

    # ---------------------------------------------------------------- UPDATE
    def _upd_start(self, w: _Work, p: int) -> None:
        if not self.update_policy.checks_pause:
            w.set_pc(p, L.UPD_DECIDED_UNPAUSED)
        elif self._lock(w, "cl", p, L.UPD_CHECK_ACQUIRE):
            self._upd_check(w, p)

    def _upd_check(self, w: _Work, p: int) -> None:
        # `paused = is_pause` under CL -- the check.
        if w.P and self.update_policy.holds_cl_while_paused:
            w.set_pc(p, L.UPD_DECIDED_PAUSED)   # CL stays held until the reply (#22304)
            return
        self._unlock(w, "cl")                   # pre-fix: CL released -- the window opens
        w.set_pc(p, L.UPD_DECIDED_PAUSED if w.P else L.UPD_DECIDED_UNPAUSED)

    def _send_update(self, w: _Work, p: int, waiting: str) -> None:
        # The message records the branch the update took (for the sometimes partners): with
        # a shared result slot the sender may have returned before its update is applied.
        self._send(w, ("update", p, "writer" if waiting == L.UPD_REPLY_WRITER else "paused"))
        if self.update_policy.shared_result_slot:
            w.slot = p          # `self.model_update_result = Future()` overwrites the slot
        w.set_pc(p, waiting)

    def _upd_send_paused(self, w: _Work, p: int) -> None:
        # the act on the paused branch: send the update, await the reply
        self._send_update(w, p, L.UPD_REPLY_PAUSED)

    def _upd_write_acquire(self, w: _Work, p: int) -> None:
        if self._lock(w, "rl", p, L.UPD_WRITE_ACQUIRE):
            self._upd_write_enter(w, p)

    def _upd_write_enter(self, w: _Work, p: int) -> None:
        w.wW += 1
        self._upd_write_test(w, p)

    def _upd_write_reacquire(self, w: _Work, p: int) -> None:
        if self._lock(w, "rl", p, L.UPD_WRITE_REACQUIRE):
            self._upd_write_test(w, p)

    def _upd_write_test(self, w: _Work, p: int) -> None:
        # `while wA or nR > 0: await cond.wait()`; then wA := True, wW -= 1, release RL
        if w.wA or w.nR > 0:
            self._wait(w, "rl", "rcw", p, L.UPD_WRITE_WAIT)
            return
        w.wA = True
        w.wW -= 1
        self._unlock(w, "rl")
        self._send_update(w, p, L.UPD_REPLY_WRITER)

    def _upd_replied_paused(self, w: _Work, p: int) -> None:
        if self.update_policy.holds_cl_while_paused:
            if w.cl != p:
                raise AssertionError(f"{self.names[p]} should hold CL until its reply")
            self._unlock(w, "cl")               # leaving `async with is_pause_cond`
        self._return(w, p)

    def _upd_replied_writer(self, w: _Work, p: int) -> None:
        if self._lock(w, "rl", p, L.UPD_RELEASE_ACQUIRE):
            self._upd_release(w, p)

    def _upd_release(self, w: _Work, p: int) -> None:
        w.wA = False
        self._notify_all(w, "rcw")
        self._unlock(w, "rl")
        self._return(w, p)

    # ---------------------------------------------------------------- PAUSE and CONT
    def _pause_start(self, w: _Work, p: int) -> None:
        if self._lock(w, "cl", p, L.PAUSE_ACQUIRE):
            self._pause_locked(w, p)

    def _pause_locked(self, w: _Work, p: int) -> None:
        w.P = True
        if self.mode != "abort":
            self._send(w, ("pause", self.mode))
            self._unlock(w, "cl")
            self._return(w, p)
        else:
            self._pause_round(w, p)

    def _pause_round(self, w: _Work, p: int) -> None:
        # abort mode, one round: send abort-all, then probe the RWLock under RL
        self._send(w, ("abort",))
        if self._lock(w, "rl", p, L.PAUSE_PROBE_ACQUIRE):
            self._pause_probe(w, p)

    def _pause_probe(self, w: _Work, p: int) -> None:
        locked = w.wA or w.nR > 0
        self._unlock(w, "rl")
        if locked:
            w.set_pc(p, L.PAUSE_SLEEP)         # sleep(1.0) while STILL holding CL
            return
        self._unlock(w, "cl")
        self._return(w, p)

    def _cont_start(self, w: _Work, p: int) -> None:
        if self._lock(w, "cl", p, L.CONT_ACQUIRE):
            self._cont_locked(w, p)

    def _cont_locked(self, w: _Work, p: int) -> None:
        w.P = False
        self._send(w, ("continue",))
        self._notify_all(w, "cw")
        self._unlock(w, "cl")
        self._return(w, p)

    # ---------------------------------------------------------------- scheduler, replies
    def _sched_step(self, w: _Work, p: int) -> None:
        if w.Q:
            message, w.Q = w.Q[0], w.Q[1:]
            self._handle(w, message)
        else:
            self._forward(w)

    def _handle(self, w: _Work, m: tuple[Any, ...]) -> None:
        kind = m[0]
        if kind == "generate":
            w.running = w.running + ((m[1], 0, -1),)
        elif kind == "pause":
            w.paused = True
            kept = tuple((r, t, -1) for r, t, _ in w.running)  # a pause separates versions
            if m[1] == "retract":
                w.running, w.retracted = (), w.retracted + kept
            else:
                w.running = kept
        elif kind == "continue":
            w.paused = False
            w.running, w.retracted = w.running + w.retracted, ()
        elif kind == "abort":
            w.RQ = w.RQ + tuple(("out", r, False) for r, _, _ in w.running + w.retracted)
            w.running, w.retracted = (), ()
        elif kind == "update":
            w.version += 1
            w.RQ = w.RQ + (("ack", m[1], m[2]),)
        else:  # pragma: no cover - the spec only sends the kinds above
            raise ValueError(f"unknown message {m!r}")

    def _forward(self, w: _Work) -> None:
        """One forward pass over every running request, at the current weight version."""
        still = []
        for r, t, seen in w.running:
            if seen not in (-1, w.version):
                w.mixed = True
            if t + 1 == self.tokens:
                w.RQ = w.RQ + (("out", r, True),)
            else:
                still.append((r, t + 1, w.version))
        w.running = tuple(still)

    def _reply_step(self, w: _Work, p: int) -> None:
        message, w.RQ = w.RQ[0], w.RQ[1:]
        if message[0] == "out":
            w.set_pc(message[1], L.RESUME[w.pc[message[1]]])
            return
        target = message[1]
        if self.update_policy.shared_result_slot:
            target = w.slot             # the reply resolves whoever set the slot last
            w.slot = NOBODY
            if target == NOBODY:        # already resolved: this reply is lost (S3)
                return
        w.set_pc(target, L.RESUME[w.pc[target]])


class PreFix(ProtocolSpec):
    """Before #22304: check P under CL, release CL, then act.  Flaw: R1, the TOCTOU."""

    name = "PRE_FIX"
    update_policy = CHECK_THEN_ACT


class PostFix(ProtocolSpec):
    """After #22304: decide under CL and, when paused, update while still holding it."""

    name = "POST_FIX"
    update_policy = DECIDE_UNDER_LOCK


class IpcBefore22290(ProtocolSpec):
    """update_weights_from_ipc before #22290: writer side every time.  Flaw: D1."""

    name = "IPC_BEFORE_22290"
    update_policy = ALWAYS_WRITER


class Disk(ProtocolSpec):
    """update_weights_from_disk today: the pre-fix pattern and one shared result future."""

    name = "DISK"
    update_policy = CHECK_THEN_ACT_SHARED_SLOT


PRE_FIX = PreFix
POST_FIX = PostFix
IPC_BEFORE_22290 = IpcBefore22290
DISK = Disk
VARIANTS = {cls.name: cls for cls in (PreFix, PostFix, IpcBefore22290, Disk)}
