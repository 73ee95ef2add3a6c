"""The pause / continue / weight-update / generate protocol as a state machine.

This is the protocol of SGLang's tokenizer manager, cut at the real code's await
granularity: one action of the spec is one *step* of one task, from the point where it
resumes to the point where it next suspends (or finishes).  Which task runs next is the only
choice; every task is deterministic given the state, so an action is just
``(process, label)``: the process and the code point it resumes from (labels in
:mod:`spec.labels`).

What is atomic is what the released code makes atomic (``spec/PROTOCOL.md`` section 6):

* an update of a kind other than disk goes through that kind's *communicator*: one call in
  flight per kind; a caller that finds it free sends at once, with no suspension; one that
  finds it busy (a call in flight, or callers queued) queues FIFO and suspends until the call
  in flight has its reply, and only then sends;
* so "acquire a free CL, read P, release CL, skip the writer side, send" is ONE step when the
  communicator is free: there is no suspension between the check and the act.  The real R1
  needs a second update of the same kind, queued behind the first, while a continue runs;
* disk has no communicator: it sends at once and puts its reply future in ONE shared slot;
  a reply that finds the slot's future already done makes the reply handler fail, which
  kills the server (S3);
* a request takes the reader side, then does awaited work (tokenization) before it reaches
  the scheduler;
* the scheduler puts a new request in its waiting queue; a forward pass (never while paused)
  first moves the waiting requests into its batch;
* an abort-mode pause sends only abort-all and never pauses the scheduler; the scheduler drops
  waiting requests and marks running ones to finish after one more forward pass.

asyncio is modelled explicitly: ``asyncio.Lock`` (free-lock fast path, FIFO hand-off, no
barging), ``asyncio.Condition`` (wait releases and parks in FIFO order; ``notify_all`` makes
every parked task ready; a ready task re-acquires the lock), and the writer-preferring RWLock
(RL, its condition, ``nR``, ``wA``, ``wW``).  The abort-mode pause's ``sleep(1.0)`` is the one
timer: with ``timer=any`` (default, sound) it may expire at any point; with ``timer=quiet`` it
fires only when nothing else can run (the reading under which A1 cannot happen).

The scheduler is two processes, as it is two activities of one loop upstream whose order the
tokenizer cannot see: ``sched`` takes the next message from its FIFO queue ``Q``, and
``batch`` runs a forward pass over the batch (never while paused) whenever it has been woken
(``bw``) -- so a forward pass may run while messages wait in ``Q``, and weak fairness per
task means a batch that stays runnable does run.  The reply handler (FIFO ``RQ`` back to the
tokenizer) is a process too.

A variant is the lock code of ALL update entry points at one point of upstream history, as
ONE named definition, :attr:`ProtocolSpec.update_policy` (kind -> policy):

=====================  ==================================================================
``IPC_BEFORE_22290``   ipc: :data:`ALWAYS_WRITER` (D1); tensor, distributed, disk:
                       :data:`CHECK_THEN_ACT`
``PRE_FIX``            every kind :data:`CHECK_THEN_ACT`: read P under CL, release CL, act
``POST_FIX``           tensor, distributed, ipc: :data:`DECIDE_UNDER_LOCK` (#22304); disk:
                       :data:`CHECK_THEN_ACT` (never fixed upstream)
=====================  ==================================================================

``await_after_check=1`` adds the suspension point an edit could add between the check and the
act (labels ``upd.decided.*``): the lock-edit gate.  Under it POST_FIX stays safe and the
pre-fix pattern breaks with a single update.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, NamedTuple

from model_check import (Parameter, ParameterError, Property, Spec, always, eventually, leads_to,
                         sometimes)
from model_check.memo import Steps
from model_check.record import mutable_record

from . import labels as L

NOBODY = -1
#: In a communicator: a cancelled caller's entry (its in-flight call, or its event in the
#: queue), which no task will ever clear when the communicator does no clean-up (C1).
GHOST = -2

#: Every update entry point.  All but disk go through a per-kind communicator.
KINDS = ("tensor", "distributed", "ipc", "disk")


@dataclasses.dataclass(frozen=True)
class UpdatePolicy:
    """How an update entry point decides between the paused branch and the writer side.

    ``checks_pause``: read P at all (False: the writer side every time).
    ``holds_cl_while_paused``: on the paused branch, keep CL until the reply (the fix).
    """

    name: str
    checks_pause: bool
    holds_cl_while_paused: bool
    #: on the writer branch, keep CL until the writer side is held (PROPOSED's R2 fix)
    holds_cl_until_writer: bool = False


#: The flaw (#22304's "before"): read P under CL, release CL, then act on the answer.
CHECK_THEN_ACT = UpdatePolicy("check_then_act", True, False)
#: The fix (#22304): decide and, when paused, update while still holding CL.
DECIDE_UNDER_LOCK = UpdatePolicy("decide_under_lock", True, True)
#: update_weights_from_ipc before #22290: the writer side every time (D1).
ALWAYS_WRITER = UpdatePolicy("always_writer", False, False)
#: PROPOSED (closes R2): decide under CL and keep it on both branches until the update is
#: safe -- to the reply when paused, until the writer side is held when not.  A pause can
#: then never land between the check and the writer side.
DECIDE_AND_LOCK_UNDER_CL = UpdatePolicy("decide_and_lock_under_cl", True, True, True)


class State(NamedTuple):
    """One state of the protocol.  Processes are numbered: clients first, then requests,
    then the scheduler and the reply handler; ``pc[p]`` is process p's label and
    ``call[p]`` the index of its current call in its program."""

    P: bool                      # is_pause
    cl: int                      # CL holder, or NOBODY
    clq: tuple[int, ...]         # CL waiters, FIFO
    cw: tuple[int, ...]          # parked on the pause condition, FIFO
    rl: int                      # RL holder, or NOBODY
    rlq: tuple[int, ...]         # RL waiters, FIFO
    rcw: tuple[int, ...]         # parked on the RWLock condition, FIFO
    nR: int                      # readers holding the RWLock
    wA: bool                     # writer active
    wW: int                      # writers waiting
    ci: tuple[int, ...]          # per communicator: the caller whose call is in flight
    cq: tuple[tuple[int, ...], ...]  # per communicator: queued callers, FIFO
    pc: tuple[str, ...]
    call: tuple[int, ...]
    Q: tuple[tuple[Any, ...], ...]   # tokenizer -> scheduler, FIFO
    paused: bool                     # scheduler paused
    bw: bool                         # the batch runner is woken (it has a step to take)
    running: tuple[tuple[int, int, int], ...]    # (request, tokens made, version seen or -1)
    waiting: tuple[tuple[int, int, int], ...]  # waiting queue: new and retracted requests
    doomed: tuple[int, ...]      # running requests abort-all marked to leave at the next pass
    version: int                 # weight version
    RQ: tuple[tuple[Any, ...], ...]  # scheduler -> reply handler, FIFO
    slot: int                    # disk: whose future is in the shared slot, or NOBODY
    slot_done: bool              # disk: that future already has its result
    dead: bool                   # the reply handler failed: the server process died
    mixed: bool                  # monitor: a request ran forward passes across a version change
    lied: bool                   # monitor: an update reported as failed had changed weights
    cancelled: int               # cancels the environment has made so far


class _Work(mutable_record(State)):  # type: ignore[misc]
    """A mutable copy of a State used while one step runs (``_Work(state)``, then
    ``freeze()``; generated from ``State._fields``)."""

    __slots__ = ()

    def set_pc(self, p: int, label: str) -> None:
        self.set_item("pc", p, label)


SCENARIOS = ("concurrent", "rl-loop")
MODES = ("in_place", "retract", "abort")
TIMERS = ("any", "quiet")
PYTHONS = ("3.11", "3.12", "3.13")


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",")) if text.strip() else ()


class ProtocolSpec(Spec):
    """The protocol, parametrised by scenario and sizes; subclasses pick the update policy.

    Parameters (``-D name=value``): ``scenario`` (``concurrent``: pause, continue and every
    update are independent clients; ``rl-loop``: one controller calls pause, the updates,
    then continue), ``requests`` N, ``updates`` M, ``kinds`` (comma-separated update kinds,
    one per update; default: every update of the variant's first kind), ``mode`` / ``modes``
    (pause mode of every pause call / comma-separated, one per pause call), ``tokens`` per
    request, ``pauses`` and ``continues`` (calls of those clients, concurrent only),
    ``await_after_check`` (1: an await between the check and the act), ``timer``, ``flush``
    (1: every update asks for ``flush_cache``).

    >>> spec = POST_FIX(requests=1, scenario="rl-loop")
    >>> spec.names
    ('ctl', 'gen0', 'sched', 'batch', 'reply')
    >>> spec.programs[0]
    (('pause', 'in_place'), ('update', 'tensor'), ('continue', ''))
    >>> [spec.format_action(a) for a in spec.actions(spec.init_states()[0])]
    ['ctl pause.start', 'gen0 gen.start']
    """

    name = "PROTOCOL"
    update_policy: Mapping[str, UpdatePolicy] = {}
    parameters = (
        Parameter("scenario", "concurrent", "client scenario", choices=SCENARIOS),
        Parameter("requests", 2, "generate requests N", minimum=0, maximum=8),
        Parameter("updates", 1, "weight updates M", minimum=0, maximum=4),
        Parameter("kinds", "", "update kinds, one per update, comma-separated (tensor, "
                  "distributed, ipc, disk); default: every update of the variant's first kind"),
        Parameter("mode", "in_place", "pause mode of every pause call", choices=MODES),
        Parameter("modes", "", "pause modes, one per pause call, comma-separated; "
                  "default: mode for every call"),
        Parameter("tokens", 2, "forward passes a request needs to finish", minimum=1, maximum=4),
        Parameter("pauses", 1, "concurrent: calls of the pause client", minimum=0, maximum=3),
        Parameter("continues", 1, "concurrent: calls of the continue client", minimum=0,
                  maximum=3),
        Parameter("await_after_check", 0, "1: an edit adds an await between the update's "
                  "check of P and its act", minimum=0, maximum=1),
        Parameter("timer", "any", "the abort-mode pause's 1 s timer: any (may expire at any "
                  "point, sound) or quiet (only when nothing else can run)", choices=TIMERS),
        Parameter("flush", 0, "1: every update asks the scheduler for flush_cache",
                  minimum=0, maximum=1),
        Parameter("cancels", 0, "how many times the environment may cancel a client call "
                  "(request, update, pause, continue) at one of its await points",
                  minimum=0, maximum=4),
        Parameter("python", "3.12", "CPython's asyncio: from 3.13 a task cancelled out of "
                  "Condition.wait notifies one other waiter; 3.11 and 3.12 do not",
                  choices=PYTHONS),
    )

    # The PROPOSED variant's fixes, each ONE named definition (False: upstream's behaviour).
    #: A1: a request takes its reader side before it leaves the pause gate (CL held), so a
    #: pause that holds CL never misses a request between the gate and its reader.
    reader_under_gate: bool = False
    #: D2: abort-all reaching a paused scheduler ends its running requests at once (a paused
    #: scheduler runs no forward pass, so "leave at the next pass" would never come).
    abort_drops_paused: bool = False
    #: S1: a writer cancelled while waiting notifies all waiters when it leaves the count.
    writer_cancel_notifies: bool = False
    #: S3: disk goes through a communicator of its own, like every other kind.
    disk_communicator: bool = False
    #: C1 (and the communicator's assertion): the communicator hands its turn over as
    #: ownership (the caller handed the turn counts as in flight, so no newcomer can slip in),
    #: and cleans up after a cancelled caller (leaves the queue, passes a turn on, frees
    #: itself when a cancelled call's reply arrives).
    safe_communicator: bool = False
    #: An abort-mode pause sets P only once the drain succeeded (it holds CL all along, so
    #: the gate is shut anyway): a pause cancelled mid-drain leaves P as it was, not True
    #: over requests still running in an unpaused scheduler.
    abort_sets_p_when_drained: bool = False
    #: flush_cache: the scheduler checks it is idle BEFORE it loads the weights, and a
    #: refused update changes nothing.
    flush_checks_before_apply: bool = False

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        p = self.params
        rl_loop = p["scenario"] == "rl-loop"
        if rl_loop:
            for name in ("pauses", "continues"):
                if p[name] != 1:
                    raise ParameterError(
                        f"parameter {name} applies to scenario=concurrent only; "
                        "rl-loop calls pause and continue once each"
                    )
        n, m = p["requests"], p["updates"]
        kinds = _split(p["kinds"]) or (next(iter(self.update_policy), "tensor"),) * m
        bad = [k for k in kinds if k not in self.update_policy]
        if bad:
            raise ParameterError(f"parameter kinds: {bad[0]!r} is not an update kind; "
                                 f"valid kinds: {', '.join(self.update_policy) or KINDS}")
        if len(kinds) != m:
            raise ParameterError(f"parameter kinds: {len(kinds)} kinds given for updates={m}; "
                                 "give one kind per update")
        pause_calls = 1 if rl_loop else p["pauses"]
        modes = _split(p["modes"]) or (p["mode"],) * pause_calls
        bad = [x for x in modes if x not in MODES]
        if bad:
            raise ParameterError(f"parameter modes: {bad[0]!r} is not a pause mode; "
                                 f"valid modes: {', '.join(MODES)}")
        if len(modes) != pause_calls:
            raise ParameterError(f"parameter modes: {len(modes)} modes given for "
                                 f"{pause_calls} pause calls; give one mode per pause call")
        self.kinds: tuple[str, ...] = kinds
        self.modes: tuple[str, ...] = modes
        #: the communicators this scenario uses (every kind but disk), in order of first use
        self.comms: tuple[str, ...] = tuple(dict.fromkeys(
            k for k in kinds if k != "disk" or self.disk_communicator))
        # Clients first, then requests: among equally short counterexamples, the search
        # then reports the one where the clients act first.
        names: list[str] = []
        programs: list[tuple[tuple[str, str], ...]] = []
        if rl_loop:
            names.append("ctl")
            programs.append((("pause", modes[0]),) + tuple(("update", k) for k in kinds)
                            + (("continue", ""),))
        else:
            names += ["pauser", "continuer"] + [f"upd{j}" for j in range(m)]
            programs += [tuple(("pause", x) for x in modes),
                         (("continue", ""),) * p["continues"]]
            programs += [(("update", k),) for k in kinds]
        self.clients = range(len(names))
        self.requests = range(len(names), len(names) + n)
        names += [f"gen{i}" for i in range(n)]
        programs += [(("generate", ""),)] * n
        self.sched = len(names)
        self.batch = len(names) + 1
        self.reply = len(names) + 2
        self.names: tuple[str, ...] = tuple(names) + ("sched", "batch", "reply")
        self._process = {name: p for p, name in enumerate(self.names)}
        self.programs: tuple[tuple[tuple[str, str], ...], ...] = tuple(programs) + ((),) * 3
        self.tokens: int = p["tokens"]
        self.await_after_check: bool = bool(p["await_after_check"])
        self.quiet_timer: bool = p["timer"] == "quiet"
        self.flush: bool = bool(p["flush"])
        self.cancels: int = p["cancels"]
        self.passes_notify: bool = p["python"] >= "3.13"
        self._step = {
            L.GEN_START: self._gen_start,
            L.GEN_GATE_LOCKED: self._gen_gate_test,
            L.GEN_GATE_NOTIFIED: self._gen_gate_reacquire,
            L.GEN_GATE_RELOCKED: self._gen_gate_test,
            L.GEN_READ_LOCKED: self._gen_read_test,
            L.GEN_READ_NOTIFIED: self._gen_read_reacquire,
            L.GEN_READ_RELOCKED: self._gen_read_test,
            L.GEN_CANCEL_GATE_LOCKED: self._cancel_left_gate,
            L.GEN_CANCEL_READ_LOCKED: self._cancel_left_read,
            L.UPD_CANCEL_WRITE_LOCKED: self._cancel_left_write,
            L.GEN_TOKENIZE: self._gen_send,
            L.GEN_FINISHED: self._gen_finished,
            L.GEN_RELEASE_LOCKED: self._gen_release,
            L.UPD_START: self._upd_start,
            L.UPD_CHECK_LOCKED: self._upd_check,
            L.UPD_DECIDED_PAUSED: self._upd_act_paused,
            L.UPD_DECIDED_UNPAUSED: self._upd_write_acquire,
            L.UPD_WRITE_LOCKED: self._upd_write_enter,
            L.UPD_WRITE_NOTIFIED: self._upd_write_reacquire,
            L.UPD_WRITE_RECHECK: self._upd_write_test,
            L.UPD_TURN_PAUSED: self._upd_turn,
            L.UPD_TURN_WRITER: self._upd_turn,
            L.UPD_REPLIED_PAUSED: self._upd_replied,
            L.UPD_REPLIED_WRITER: self._upd_replied,
            L.UPD_RELEASE_LOCKED: self._upd_release,
            L.PAUSE_START: self._pause_start,
            L.PAUSE_LOCKED: self._pause_locked,
            L.PAUSE_PROBE_LOCKED: self._pause_probe,
            L.PAUSE_SLEEP: self._pause_round,
            L.CONT_START: self._cont_start,
            L.CONT_LOCKED: self._cont_locked,
            L.SCHED_LOOP: self._sched_step,
            L.BATCH_LOOP: self._batch_step,
            L.REPLY_LOOP: self._reply_step,
        }
        # bits per packed value (memo_steps()): each field may take up to 2**bits distinct values
        self._bits = dict.fromkeys(("P", "wA", "paused", "bw", "slot_done", "dead", "mixed",
                                    "lied"), 1)
        self._bits.update(dict.fromkeys(("cl", "rl", "slot", "nR", "wW", "version", "cancelled",
                                         "pc", "call"), 8))
        self._enabled = (self._tasks_enabled, self._loops_enabled, self._timer_enabled,
                         self._cancel_enabled)

    # ---------------------------------------------------------------- the Spec interface
    def init_states(self) -> list[State]:
        pc = tuple(L.CALL_START[prog[0][0]] if prog else L.DONE for prog in self.programs[:-3])
        return [
            State(
                P=False, cl=NOBODY, clq=(), cw=(), rl=NOBODY, rlq=(), rcw=(), nR=0, wA=False,
                wW=0, ci=(NOBODY,) * len(self.comms), cq=((),) * len(self.comms),
                pc=pc + (L.SCHED_LOOP, L.BATCH_LOOP, L.REPLY_LOOP), call=(0,) * len(self.names),
                Q=(), paused=False, bw=False, running=(), waiting=(), doomed=(), version=0, RQ=(),
                slot=NOBODY, slot_done=False, dead=False, mixed=False, lied=False,
                cancelled=0,
            )
        ]

    def actions(self, state: State) -> list[tuple[str, str]]:
        acts: list[tuple[str, str]] = []
        for part in self._enabled:
            acts += part(state)
        return acts

    # actions() in parts that each read few fields (by attribute, so they run on a State or a
    # record): the memo path (memo_steps()) memoizes each part on the fields it reads.
    def _tasks_enabled(self, s: State | _Work) -> list[tuple[str, str]]:
        if s.dead:  # the server process died: nothing runs any more
            return []
        names, pc = self.names, s.pc
        quiet = self.quiet_timer
        return [(names[p], pc[p]) for p in range(self.sched)
                if pc[p] not in L.BLOCKED and not (quiet and pc[p] == L.PAUSE_SLEEP)]

    def _loops_enabled(self, s: State | _Work) -> list[tuple[str, str]]:
        # the scheduler, the batch runner and the reply handler
        if s.dead:
            return []
        acts = []
        if s.Q:
            acts.append((self.names[self.sched], L.SCHED_LOOP))
        if s.bw:
            acts.append((self.names[self.batch], L.BATCH_LOOP))
        if s.RQ:
            acts.append((self.names[self.reply], L.REPLY_LOOP))
        return acts

    def _timer_enabled(self, s: State | _Work) -> list[tuple[str, str]]:
        # virtual time: a sleeper wakes only when nothing else can run
        if not self.quiet_timer or s.dead or self._tasks_enabled(s) or s.Q or s.bw or s.RQ:
            return []
        return [(self.names[p], L.PAUSE_SLEEP) for p in self.clients
                if s.pc[p] == L.PAUSE_SLEEP]

    def _cancel_enabled(self, s: State | _Work) -> list[tuple[str, str]]:
        # the environment may cancel a call in progress
        if self.cancels == 0 or s.dead or s.cancelled >= self.cancels:
            return []
        return [(self.names[p], L.CANCEL) for p in range(self.sched)
                if s.pc[p] in _CANCELLABLE]

    def memo_steps(self) -> Steps:
        """The steps on a :class:`_Work` record, for the memo path (model_check.memo)."""
        n = len(self.names)
        return Steps(_Work, self._apply, self._enabled, bits=self._bits,
                     split={"pc": n, "call": n})

    def task(self, action: tuple[str, str]) -> str | None:
        """A cancel is the environment's choice, never forced by fairness."""
        return None if action[1] == L.CANCEL else action[0]

    def next_state(self, state: State, action: tuple[str, str]) -> State:
        name, label = action
        p = self._process.get(name)
        if p is None:
            raise ValueError(f"{name!r} is not a process of {self.title}")
        if label == L.CANCEL:
            if state.pc[p] not in _CANCELLABLE or state.cancelled >= self.cancels:
                raise ValueError(f"{name} cannot be cancelled at {state.pc[p]!r}")
        elif state.pc[p] != label:
            raise ValueError(f"{name} is at {state.pc[p]!r}, not {label!r}")
        w = _Work(state)
        self._apply(w, action)
        return w.freeze()

    def _apply(self, w: _Work, action: tuple[str, str]) -> None:
        """One step of an enabled ``action`` on the record ``w`` (next_state checks that it
        is enabled; the memo path takes actions only from the enabled parts)."""
        name, label = action
        p = self._process[name]
        if label == L.CANCEL:
            w.cancelled += 1
            self._cancel(w, p)
        else:
            self._step[label](w, p)

    def _continue_left(self, s: State) -> bool:
        """A continue call has yet to run (started or not)."""
        return any(call[0] == "continue" for c in self.clients
                   for call in self.programs[c][s.call[c]:])

    def _rests(self, s: State, r: int) -> bool:
        """Request r rests paused for good: P is set, no continue call is left, and r is
        parked at the gate or held in the paused scheduler."""
        return (s.P and not self._continue_left(s)
                and (s.pc[r] == L.GEN_GATE_WAIT
                     or s.pc[r] == L.GEN_RUN and s.paused))

    def is_done(self, state: State) -> bool:
        """Every client call returned, and each request either finished or rests paused
        (parked at the gate while P is True, or held in the paused scheduler): the server is
        idle until someone calls continue.  A server whose reply handler failed has ended
        too (``reply_handler_ok`` reports it).  An update or pause that never returns is not
        done: that is a deadlock."""
        if state.dead:
            return True
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
        policies = [self.update_policy[k] for k in self.kinds]
        checks = any(pol.checks_pause for pol in policies)
        props = [
            always("type_ok", self.type_ok, "every variable in range; counters match the pcs"),
            always("update_safety", lambda s: not s.mixed,
                   "no request runs forward passes, unpaused, across a weight-version change"),
            always("apply_guarded", self.apply_guarded,
                   "the update-safety rule to the letter (spec/PROTOCOL.md section 4): when the "
                   "scheduler applies an update, it is paused or no request it has holds a "
                   "reader"),
            always("rwlock_exclusion", self.rwlock_exclusion,
                   "never a writer together with readers; never two writers"),
            always("reply_handler_ok", lambda s: not s.dead,
                   "the reply handler never fails (a second reply to the disk slot's done "
                   "future kills the server: S3)"),
            always("failed_update_unchanged", lambda s: not s.lied,
                   "an update reported as failed changed no weights (flush_cache)"),
            always("communicator_turn_free", self.communicator_turn_free,
                   "a caller handed the communicator's turn finds no call in flight (else "
                   "its assertion fails)"),
        ]
        if checks:
            props.append(always(
                "paused_update_keeps_P", self.paused_update_keeps_p,
                "while an update is on the paused branch, P stays True"))
            if self.modes:
                props.append(sometimes(
                    "update_applied_paused", lambda s: self._acked(s, "paused"),
                    "the scheduler applies an update on the paused branch"))
        if self.kinds and (self.params["scenario"] == "concurrent" or not checks):
            # rl-loop pauses before every update, so the writer branch is unreachable there.
            props.append(sometimes(
                "update_applied_writer", lambda s: self._acked(s, "writer"),
                "the scheduler applies an update taken under the writer side"))
        if (self.params["requests"] and self.tokens > 1 and checks and self.modes
                and "in_place" in self.modes):
            # the situation update_safety is about must be reachable: an update applied while
            # a request that has already made tokens waits in the (paused) scheduler
            props.append(sometimes(
                "update_applied_mid_request",
                lambda s: any(m[0] == "ack" for m in s.RQ)
                and any(t > 0 for _, t, _ in s.running + s.waiting),
                "an update is applied while a request is part-way through its tokens"))
        props += self._liveness()
        if self.params["requests"]:
            props.append(sometimes(
                "request_completes",
                lambda s: any(m[0] == "out" and m[2] for m in s.RQ),
                "a request finishes with all its tokens"))
        return props

    def _calls(self, name: str) -> list[tuple[int, int]]:
        """Every ``(process, call index)`` of a call named ``name`` in the programs."""
        return [(c, k) for c in self.clients
                for k, call in enumerate(self.programs[c]) if call[0] == name]

    def _liveness(self) -> list[Property]:
        """Liveness under weak fairness per task (checked with ``--liveness`` or when named):
        every call that starts returns, and in ``rl-loop`` every request finishes."""
        def started(s: State, ck: tuple[int, int]) -> bool:
            c, k = ck
            return s.call[c] == k and s.pc[c] != L.CALL_START[self.programs[c][k][0]]

        def returned(s: State, ck: tuple[int, int]) -> bool:
            c, k = ck
            return s.call[c] > k

        props = []
        for name, prop in (("pause", "pause_returns"), ("update", "update_returns"),
                           ("continue", "continue_returns")):
            calls = self._calls(name)
            if calls:
                props.append(leads_to(prop, started, returned,
                                      f"every {name} call that has started returns",
                                      each=calls))
        if self.params["scenario"] == "rl-loop" and self.params["requests"]:
            props.append(eventually(
                "request_finishes", lambda s, r: s.pc[r] == L.DONE or self._rests(s, r),
                "every request finishes (rl-loop calls continue last), unless a cancelled "
                "continue left the server paused for good", each=tuple(self.requests)))
        return props

    # ---------------------------------------------------------------- properties
    def type_ok(self, s: State) -> bool:
        procs = range(len(self.names))
        if not all(isinstance(v, bool) for v in (s.P, s.wA, s.paused, s.slot_done, s.dead,
                                                  s.mixed, s.lied)):
            return False
        if s.cl != NOBODY and s.cl not in procs or s.rl != NOBODY and s.rl not in procs:
            return False
        for queue in (s.clq, s.rlq, s.cw, s.rcw) + tuple(
                tuple(c for c in q if c != GHOST) for q in s.cq):
            if len(set(queue)) != len(queue) or any(p not in procs for p in queue):
                return False
        if s.cancelled > self.cancels or any(c not in procs and c not in (NOBODY, GHOST)
                                             for c in s.ci):
            return False
        if s.cl in s.clq or s.rl in s.rlq or (s.cl == NOBODY and s.clq) or (s.rl == NOBODY and s.rlq):
            return False
        readers = sum(1 for r in self.requests if s.pc[r] in L.READER_HELD)
        waiting = sum(1 for c in self.clients if s.pc[c] in L.WRITER_WAITING)
        writing = any(s.pc[c] in L.WRITER_HELD for c in self.clients)
        queued = {c for c in self.clients if s.pc[c] in L.COMM_QUEUED}
        # A cancel while queued to release a side leaks it: then nR (or wA) is larger.
        leaks = s.cancelled > 0
        return ((s.nR == readers or leaks and s.nR > readers) and s.wW == waiting
                and (s.wA == writing or leaks and s.wA and not writing) and s.version >= 0
                and queued == {c for q in s.cq for c in q if c != GHOST}
                and all(0 <= t < self.tokens for _, t, _ in s.running + s.waiting)
                and set(s.doomed) <= {r for r, _, _ in s.running}
                and all(label in L.ALL_LABELS for label in s.pc))

    @staticmethod
    def apply_guarded(s: State) -> bool:
        """The scheduler applies the update at the head of Q in its next step, so this state
        is the moment of the apply: it must be paused, or no request it has (running or
        waiting) may hold a reader.  (It replies in that same step, so "stays paused until
        the update has replied" holds by construction.)

        A request whose reader is held but whose generate message is still behind the update
        (in Q, or not sent) is not counted: Q is FIFO, so it runs wholly at the new weights.
        That happens when a writer side is released before its update is applied: a
        cancelled update (its message is applied all the same), or disk's shared slot (S3).
        """
        if not (s.Q and s.Q[0][0] == "update") or s.paused:
            return True
        return not any(s.pc[r] == L.GEN_RUN for r, _, _ in s.running + s.waiting)

    def rwlock_exclusion(self, s: State) -> bool:
        writers = sum(1 for c in self.clients if s.pc[c] in L.WRITER_HELD)
        readers = sum(1 for r in self.requests if s.pc[r] in L.READER_HELD)
        return writers <= 1 and not (writers and readers)

    def paused_update_keeps_p(self, s: State) -> bool:
        return s.P or not any(s.pc[c] in L.PAUSED_BRANCH for c in self.clients)

    def communicator_turn_free(self, s: State) -> bool:
        for c in self.clients:
            if s.pc[c] in (L.UPD_TURN_PAUSED, L.UPD_TURN_WRITER):
                if s.ci[self.comms.index(self._kind(s, c))] not in (NOBODY, c):
                    return False
        return True

    @staticmethod
    def _acked(s: State, branch: str) -> bool:
        return any(m[0] == "ack" and m[2] == branch for m in s.RQ)

    # ---------------------------------------------------------------- printing
    def fields(self, s: State) -> dict[str, Any]:
        """Named variables, for counterexamples: lock holders and queues by process name."""
        n = self.names
        who = lambda p: n[p] if p >= 0 else "-" if p == NOBODY else "(cancelled)"  # noqa: E731
        out: dict[str, Any] = {
            "P": s.P, "CL": who(s.cl), "CL.queue": tuple(n[p] for p in s.clq),
            "pause_cond.waiters": tuple(n[p] for p in s.cw),
            "RL": who(s.rl), "RL.queue": tuple(n[p] for p in s.rlq),
            "rw_cond.waiters": tuple(n[p] for p in s.rcw),
            "nR": s.nR, "wA": s.wA, "wW": s.wW,
        }
        for k, kind in enumerate(self.comms):
            out[f"comm.{kind}.in_flight"] = who(s.ci[k])
            out[f"comm.{kind}.queue"] = tuple(who(p) for p in s.cq[k])
        for p, name in enumerate(n[: self.sched]):
            call = s.call[p]
            prog = self.programs[p]
            out[f"pc.{name}"] = s.pc[p] if len(prog) <= 1 else f"{s.pc[p]} (call {call + 1}/{len(prog)})"
        out["Q"] = tuple(self._msg(m) for m in s.Q)
        out["sched.paused"] = s.paused
        out["batch.woken"] = s.bw
        out["sched.running"] = tuple(
            f"{n[r]}:{t}tok@v{v}" + ("!abort" if r in s.doomed else "") for r, t, v in s.running)
        out["sched.waiting"] = tuple(f"{n[r]}:{t}tok" for r, t, _ in s.waiting)
        out["version"] = s.version
        out["RQ"] = tuple(self._msg(m) for m in s.RQ)
        if "disk" in self.kinds:
            out["disk_slot"] = who(s.slot) + (" (done)" if s.slot_done else "")
        out["server_dead"] = s.dead
        out["mixed"] = s.mixed
        if self.flush:
            out["failed_but_applied"] = s.lied
        if self.cancels:
            out["cancels_used"] = s.cancelled
        return out

    def legend(self) -> dict[str, str]:
        """Every abbreviation :meth:`fields` and the actions print, and what it means."""
        return {
            "P": "is_pause, the pause flag guarded by CL",
            "CL": "the lock of the pause condition is_pause_cond: who holds it ('-': free)",
            "CL.queue": "tasks queued to acquire CL, in FIFO order",
            "pause_cond.waiters": "tasks parked in is_pause_cond.wait() (the request gate), FIFO",
            "RL": "the RWLock's internal lock: who holds it",
            "RL.queue": "tasks queued to acquire RL, FIFO",
            "rw_cond.waiters": "tasks parked on the RWLock's condition (readers or writers), FIFO",
            "nR": "readers holding the RWLock (requests between their reader and its release)",
            "wA": "a writer holds the RWLock",
            "wW": "writers waiting for the RWLock",
            "comm.KIND.in_flight": "the update whose call of that kind awaits its reply",
            "comm.KIND.queue": "updates queued on that kind's communicator, FIFO",
            "pc.TASK": "the code point (label, spec/labels.py) where the task rests; "
                       "'(call i/n)' for a client with several calls",
            "Q": "messages from the tokenizer to the scheduler, FIFO",
            "update(U, B, K)": "update of task U on branch B (paused: no writer side; writer: "
                               "under the writer side) through entry point K",
            "sched.paused": "the scheduler runs no forward pass",
            "batch.woken": "the scheduler's batch runner has a step to take",
            "sched.running": "the batch: 'gen0:1tok@v1' = request gen0 made 1 token, last at "
                             "weight version 1 (v-1: none since the last pause); '!abort': "
                             "leaves at the next forward pass",
            "sched.waiting": "the scheduler's waiting queue (new or retracted requests)",
            "version": "the weight version the scheduler runs",
            "RQ": "replies from the scheduler to the reply handler, FIFO: out(request, "
                  "complete|aborted), ack(update, branch, kind, ok|failed)",
            "disk_slot": "whose future is in disk's one shared reply slot; '(done)': it has "
                         "its result",
            "server_dead": "the reply handler failed: the server process died",
            "mixed": "a request ran forward passes across a weight-version change, unpaused",
            "failed_but_applied": "an update was reported failed after its weights changed",
            "TASK LABEL": "an action: task TASK runs from code point LABEL to its next await",
            "TASK cancel": "the environment cancels TASK's call (task.cancel()); TASK runs its "
                           "CancelledError path to its next await",
            "(cancelled)": "in a communicator: a cancelled caller's in-flight call or queued "
                           "event, which upstream's communicator never clears",
            "cancels_used": "cancels the environment has made (at most the cancels parameter)",
        }

    def explain(self, state: State) -> list[str]:
        """Who waits on what, and who holds it: one line per task that cannot move."""
        n, s = self.names, state
        who = lambda p: (f"{n[p]} (at {s.pc[p]})" if p >= 0 else  # noqa: E731
                         "nobody" if p == NOBODY else "a cancelled call nobody clears")
        readers = [n[r] for r in self.requests if s.pc[r] in L.READER_HELD]
        writer = [n[c] for c in self.clients if s.pc[c] in L.WRITER_HELD]
        lines = []
        if s.dead:
            lines.append("the reply handler failed (a reply to a done future): the server died")
        for p in range(self.sched):
            label = s.pc[p]
            if label not in L.BLOCKED or label == L.DONE:
                continue
            if p in s.clq:
                what = f"queued on CL, held by {who(s.cl)}"
            elif p in s.rlq:
                what = f"queued on RL, held by {who(s.rl)}"
            elif p in s.cw:
                what = "parked at the pause gate until a continue sets P = False and notifies"
            elif p in s.rcw and label == L.UPD_WRITE_WAIT:
                what = (f"waits for the writer side: readers {readers or 'none'}, "
                        f"writer {writer or 'none'}; woken only by a notify on rw_cond")
            elif p in s.rcw:
                what = (f"waits for the reader side: writer active {writer or 'none'}, "
                        f"{s.wW} writer(s) waiting; woken only by a notify on rw_cond")
                if not s.wA and s.wW == 0:
                    what += "; the lock is free for readers, yet nothing will notify"
            elif label in L.COMM_QUEUED:
                k = self.comms.index(self._kind(s, p))
                holder, ahead = s.ci[k], s.cq[k][:s.cq[k].index(p)]
                if holder == GHOST:
                    what = (f"queued on the {self.comms[k]} communicator, whose call in "
                            "flight was cancelled and is never cleared")
                elif holder != NOBODY:
                    what = (f"queued on the {self.comms[k]} communicator behind "
                            f"{who(holder)}'s call in flight")
                else:
                    what = (f"queued on the {self.comms[k]} communicator with no call in "
                            f"flight: the turn was lost (ahead: "
                            f"{', '.join(who(q) for q in ahead) or 'nobody'})")
            elif label in (L.UPD_REPLY_PAUSED, L.UPD_REPLY_WRITER):
                what = "waits for its update's reply from the scheduler"
            elif label == L.GEN_RUN:
                where = ("in the paused scheduler" if s.paused
                         and any(r == p for r, _, _ in s.running + s.waiting) else
                         "in the scheduler" if any(r == p for r, _, _ in s.running + s.waiting)
                         else "not yet in the scheduler")
                what = f"waits for its outputs; the request is {where}"
            else:
                what = "blocked"
            lines.append(f"{n[p]} at {label}: {what}")
        if s.P and not self._continue_left(s):
            lines.append("P is True and no continue call is left to clear it")
        return lines

    def lanes(self, action: tuple[str, str], before: State, after: State
              ) -> list[tuple[str, str, str]]:
        """The lock and message events of one step, as sequence-diagram arrows."""
        n = self.names
        actor = action[0]
        arrows: list[tuple[str, str, str]] = []
        if action[1] == L.CANCEL:
            arrows.append(("env", actor, "cancel"))
        for lock, name in (("cl", "CL"), ("rl", "RL")):
            b, a = getattr(before, lock), getattr(after, lock)
            bq, aq = getattr(before, lock + "q"), getattr(after, lock + "q")
            if b != a:
                if b != NOBODY:
                    arrows.append((n[b], name, "release"))
                if a != NOBODY:
                    arrows.append((name, n[a], "acquire" if a not in bq else "hand over"))
            for p in aq:
                if p not in bq:
                    arrows.append((n[p], name, "queue"))
        for cond, name in (("cw", "pause_cond"), ("rcw", "rw_cond")):
            bw, aw = getattr(before, cond), getattr(after, cond)
            for p in aw:
                if p not in bw:
                    arrows.append((n[p], name, "wait"))
            woken = [p for p in bw if p not in aw]
            if woken:
                arrows.append((actor, name, "notify_all"))
                arrows += [(name, n[p], "wake") for p in woken]
        for k, kind in enumerate(self.comms):
            for p in after.cq[k]:
                if p not in before.cq[k]:
                    arrows.append((n[p], f"comm.{kind}", "queue"))
            if before.cq[k][:1] and before.cq[k][:1] != after.cq[k][:1]:
                arrows.append((f"comm.{kind}", n[before.cq[k][0]], "your turn"))
        if before.cl == after.cl == NOBODY and action[1] in _TAKES_CL and (
                action[1] != L.UPD_START or self._policy(before, n.index(actor)).checks_pause):
            arrows.insert(0, (actor, "CL", "taken and released in this step"))
        if after.nR > before.nR:
            arrows.append((actor, "RWLock", "reader acquired"))
        elif after.nR < before.nR:
            arrows.append((actor, "RWLock", "reader released"))
        if after.wA != before.wA:
            arrows.append((actor, "RWLock", "writer acquired" if after.wA else "writer released"))
        if action[1] not in (L.SCHED_LOOP, L.BATCH_LOOP):  # only sched takes from Q
            arrows += [(actor, "sched", self._msg(m)) for m in after.Q[len(before.Q):]]
        if action[1] == L.SCHED_LOOP:
            arrows.append(("sched", "sched", f"handle {self._msg(before.Q[0])}"))
        if action[1] == L.BATCH_LOOP:
            ran = _has_batch(before)
            arrows.append(("batch", "batch", f"forward pass at v{after.version}" if ran
                           else "nothing to run"))
        if action[1] == L.REPLY_LOOP and before.RQ:
            m = before.RQ[0]
            target = n[m[1]] if m[0] == "out" or m[4] != "disk" else (
                n[before.slot] if before.slot != NOBODY else "?")
            arrows.append(("reply", target, self._msg(m)))
        return arrows or [(actor, actor, action[1])]

    def _msg(self, m: tuple[Any, ...]) -> str:
        kind = m[0]
        if kind == "generate":
            return f"generate({self.names[m[1]]})"
        if kind == "update":
            return f"update({self.names[m[1]]}, {m[2]}, {m[3]})"
        if kind == "pause":
            return f"pause({m[1]})"
        if kind == "out":
            return f"out({self.names[m[1]]}, {'complete' if m[2] else 'aborted'})"
        if kind == "ack":
            return f"ack({self.names[m[1]]}, {m[2]}, {m[4]}, {'ok' if m[3] else 'failed'})"
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
            w.set_pc(first, L.RESUME[w.item("pc", first)])
        else:
            setattr(w, lock, NOBODY)

    def _wait(self, w: _Work, lock: str, cond: str, p: int, parked: str) -> None:
        """``await cond.wait()``: release the lock, park (FIFO) until notified."""
        self._unlock(w, lock)
        setattr(w, cond, getattr(w, cond) + (p,))
        w.set_pc(p, parked)

    @staticmethod
    def _notify_all(w: _Work, cond: str) -> None:
        for q in getattr(w, cond):
            w.set_pc(q, L.RESUME[w.item("pc", q)])
        setattr(w, cond, ())

    def _send(self, w: _Work, message: tuple[Any, ...]) -> None:
        w.Q = w.Q + (message,)

    def _return(self, w: _Work, p: int) -> None:
        """The current call returns: move to the next call of the program, or DONE."""
        nxt = w.item("call", p) + 1
        w.set_item("call", p, nxt)
        prog = self.programs[p]
        w.set_pc(p, L.CALL_START[prog[nxt][0]] if nxt < len(prog) else L.DONE)

    def _arg(self, s: State | _Work, p: int) -> str:
        """The argument of process p's current call: an update's kind, a pause's mode."""
        call = s.item("call", p) if isinstance(s, _Work) else s.call[p]
        return self.programs[p][call][1]

    _kind = _arg

    # ---------------------------------------------------------------- GEN
    def _gen_start(self, w: _Work, p: int) -> None:
        # `async with is_pause_cond:` (also the re-acquire after a notify)
        if self._lock(w, "cl", p, L.GEN_GATE_ACQUIRE):
            self._gen_gate_test(w, p)

    def _gen_gate_reacquire(self, w: _Work, p: int) -> None:
        # notified: `Condition.wait` re-acquires CL before it returns
        if self._lock(w, "cl", p, L.GEN_GATE_REACQUIRE):
            self._gen_gate_test(w, p)

    def _gen_gate_test(self, w: _Work, p: int) -> None:
        # `await is_pause_cond.wait_for(lambda: not is_pause)`
        if w.P:
            self._wait(w, "cl", "cw", p, L.GEN_GATE_WAIT)
            return
        if not self.reader_under_gate:
            self._unlock(w, "cl")
        self._gen_read_acquire(w, p)

    def _gen_read_acquire(self, w: _Work, p: int) -> None:
        # reader side: `async with RL:`
        if self._lock(w, "rl", p, L.GEN_READ_ACQUIRE):
            self._gen_read_test(w, p)

    def _gen_read_reacquire(self, w: _Work, p: int) -> None:
        if self._lock(w, "rl", p, L.GEN_READ_REACQUIRE):
            self._gen_read_test(w, p)

    def _gen_read_test(self, w: _Work, p: int) -> None:
        # `while wA or wW > 0: await cond.wait()`; then nR += 1, release RL
        if w.wA or w.wW > 0:
            self._wait(w, "rl", "rcw", p, L.GEN_READ_WAIT)
            return
        w.nR += 1
        self._unlock(w, "rl")
        if w.cl == p:                  # reader_under_gate: leave the gate only now
            self._unlock(w, "cl")
        w.set_pc(p, L.GEN_TOKENIZE)   # awaited work (LoRA, tokenization) holding the reader

    def _gen_send(self, w: _Work, p: int) -> None:
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
    def _policy(self, w: _Work | State, p: int) -> UpdatePolicy:
        return self.update_policy[self._kind(w, p)]

    def _upd_start(self, w: _Work, p: int) -> None:
        if not self._policy(w, p).checks_pause:
            self._upd_write_acquire(w, p)
        elif self._lock(w, "cl", p, L.UPD_CHECK_ACQUIRE):
            self._upd_check(w, p)

    def _upd_check(self, w: _Work, p: int) -> None:
        # `async with is_pause_cond: is_paused = is_pause` -- the check.  With no await
        # after it, the act follows in this same step.
        paused = w.P
        policy = self._policy(w, p)
        if not (policy.holds_cl_while_paused if paused else policy.holds_cl_until_writer):
            self._unlock(w, "cl")          # pre-fix (or not paused): CL released
        if self.await_after_check:         # an edit's extra await: the window, opened
            w.set_pc(p, L.UPD_DECIDED_PAUSED if paused else L.UPD_DECIDED_UNPAUSED)
        elif paused:
            self._upd_act_paused(w, p)     # the act, atomic with the check
        else:
            self._upd_write_acquire(w, p)

    def _upd_act_paused(self, w: _Work, p: int) -> None:
        self._call(w, p, "paused")

    def _call(self, w: _Work, p: int, branch: str) -> None:
        """The update's call: disk sends at once into the shared slot; every other kind goes
        through its communicator (send at once if free, else queue)."""
        kind = self._kind(w, p)
        if kind not in self.comms:         # disk, with no communicator of its own
            self._send_update(w, p, branch)
            w.slot, w.slot_done = p, False   # `self.model_update_result = Future()`
            return
        k = self.comms.index(kind)
        if w.ci[k] != NOBODY or w.cq[k]:
            w.cq = w.cq[:k] + (w.cq[k] + (p,),) + w.cq[k + 1:]
            w.set_pc(p, L.QUEUED_ON[branch])
            return
        w.ci = w.ci[:k] + (p,) + w.ci[k + 1:]
        self._send_update(w, p, branch)

    def _send_update(self, w: _Work, p: int, branch: str) -> None:
        # The message records the branch (for the sometimes partners) and the kind: with the
        # disk slot the sender may have returned before its update is applied.
        self._send(w, ("update", p, branch, self._kind(w, p)))
        w.set_pc(p, L.REPLY_ON[branch])

    def _upd_turn(self, w: _Work, p: int) -> None:
        # handed the turn: `assert self._result_event is None`, then send
        k = self.comms.index(self._kind(w, p))
        branch = "paused" if w.item("pc", p) == L.UPD_TURN_PAUSED else "writer"
        if w.ci[k] not in (NOBODY, p):  # a newcomer took the free communicator first: the
            self._upd_leave(w, p, branch)   # assertion fails and the call raises
            return
        w.ci = w.ci[:k] + (p,) + w.ci[k + 1:]
        self._send_update(w, p, branch)

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
        if w.cl == p:                  # holds_cl_until_writer: the writer side is held now
            self._unlock(w, "cl")
        self._call(w, p, "writer")

    def _upd_replied(self, w: _Work, p: int) -> None:
        # the reply is in: the communicator is free again and hands the turn on, FIFO
        kind = self._kind(w, p)
        if kind in self.comms:
            k = self.comms.index(kind)
            w.ci = w.ci[:k] + (NOBODY,) + w.ci[k + 1:]
            self._hand_turn(w, k)
        self._upd_leave(w, p, "paused" if w.item("pc", p) == L.UPD_REPLIED_PAUSED else "writer")

    def _hand_turn(self, w: _Work, k: int) -> None:
        """``ready_queue.popleft().set()``: the first queued caller gets the turn; a cancelled
        caller's event (GHOST) takes it and nobody moves (the turn is lost).  With
        :attr:`safe_communicator` the turn is handed as ownership: the caller counts as in
        flight from now on."""
        if w.cq[k]:
            first = w.cq[k][0]
            w.cq = w.cq[:k] + (w.cq[k][1:],) + w.cq[k + 1:]
            if first != GHOST:
                w.set_pc(first, L.RESUME[w.item("pc", first)])
                if self.safe_communicator:
                    w.ci = w.ci[:k] + (first,) + w.ci[k + 1:]

    def _upd_leave(self, w: _Work, p: int, branch: str) -> None:
        """Leave the lock context: paused branch (post-fix: release CL), or the writer side."""
        if branch == "writer":
            if self._lock(w, "rl", p, L.UPD_RELEASE_ACQUIRE):
                self._upd_release(w, p)
            return
        if self._policy(w, p).holds_cl_while_paused:
            if w.cl != p:
                raise AssertionError(f"{self.names[p]} should hold CL until its reply")
            self._unlock(w, "cl")               # leaving `async with is_pause_cond`
        self._return(w, p)

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
        mode = self._arg(w, p)
        if mode != "abort" or not self.abort_sets_p_when_drained:
            w.P = True
        if mode != "abort":
            self._send(w, ("pause", mode))
            self._unlock(w, "cl")
            self._return(w, p)
        else:
            self._pause_round(w, p)

    def _pause_round(self, w: _Work, p: int) -> None:
        # abort mode, one round: send abort-all, then probe the RWLock under RL.  An abort-all
        # right behind another one in Q is not queued again: the scheduler takes adjacent
        # messages in consecutive steps with no forward pass between them, and a second
        # abort-all then finds nothing new to abort (it is a stutter step).  This keeps Q
        # finite when the timer may fire at any point (timer=any).
        if not (w.Q and w.Q[-1] == ("abort",)):
            self._send(w, ("abort",))
        if self._lock(w, "rl", p, L.PAUSE_PROBE_ACQUIRE):
            self._pause_probe(w, p)

    def _pause_probe(self, w: _Work, p: int) -> None:
        locked = w.wA or w.nR > 0
        self._unlock(w, "rl")
        if locked:
            w.set_pc(p, L.PAUSE_SLEEP)         # sleep(1.0) while STILL holding CL
            return
        w.P = True                             # (already set, unless set only when drained)
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

    # ---------------------------------------------------------------- cancellation
    def _cancel(self, w: _Work, p: int) -> None:
        """``task.cancel()`` on a task at an await point, and the task's CancelledError path
        up to its next suspension.  (Between the two, the cancelled task's future is done but
        still queued, and asyncio's primitives skip a done future: running the path at once
        reaches the same states.)  What the path does depends on where the task is:

        * queued on a lock (first acquire): it leaves the queue; handed a lock it had not yet
          resumed from: the lock goes on to the next waiter (``Lock.acquire``'s clean-up);
        * in ``Condition.wait`` (parked or notified): it must re-acquire the lock first
          (queueing if need be), and from 3.13 it then notifies one other waiter;
        * re-acquiring inside ``Condition.wait``: the retry loop queues it again, at the end;
        * then every enclosing ``async with`` exits: CL is released, a held reader or writer
          side is released (``release_reader`` / ``release_writer``), and the call ends.  A
          cancel while queued to release a side leaks that side (never reached upstream: RL
          is never held across an await).
        """
        label = w.item("pc", p)
        lock = _FIRST_ACQUIRE.get(label)
        if lock is not None:                                    # queued, first acquire
            setattr(w, lock + "q", tuple(q for q in getattr(w, lock + "q") if q != p))
            self._unwind(w, p, label)
        elif label in _FIRST_HANDED:                            # handed, not yet resumed
            self._unlock(w, _FIRST_HANDED[label])
            self._unwind(w, p, label)
        elif label in _IN_WAIT:                                 # in Condition.wait
            lock, cond, again = _IN_WAIT[label]
            setattr(w, cond, tuple(q for q in getattr(w, cond) if q != p))
            if self._lock(w, lock, p, again):
                self._step[L.RESUME[again]](w, p)
        elif label in _REACQUIRING:                             # queued inside the wait
            lock, again = _REACQUIRING[label]
            setattr(w, lock + "q", tuple(q for q in getattr(w, lock + "q") if q != p))
            if self._lock(w, lock, p, again):
                self._step[L.RESUME[again]](w, p)
        elif label in _REACQUIRED:                              # handed inside the wait
            lock, again = _REACQUIRED[label]
            self._unlock(w, lock)
            if self._lock(w, lock, p, again):
                self._step[L.RESUME[again]](w, p)
        else:
            if label in _COMMUNICATING:
                self._cancel_call(w, p, label)
            self._unwind(w, p, label)

    def _cancel_call(self, w: _Work, p: int, label: str) -> None:
        """A cancelled update's call: the message, once sent, is applied all the same."""
        kind = self._kind(w, p)
        if kind not in self.comms:              # disk's future in the shared slot
            if label in (L.UPD_REPLY_PAUSED, L.UPD_REPLY_WRITER) and w.slot == p:
                w.slot_done = True              # cancelled: done, yet still in the slot
            return
        k = self.comms.index(kind)
        if label in L.COMM_QUEUED:              # its event stays queued, or leaves (the fix)
            mark = () if self.safe_communicator else (GHOST,)
            w.cq = w.cq[:k] + (tuple(x for q in w.cq[k] for x in ((q,) if q != p else mark)),) \
                + w.cq[k + 1:]
        elif label in (L.UPD_TURN_PAUSED, L.UPD_TURN_WRITER):
            if self.safe_communicator:       # the turn goes on; upstream: lost
                w.ci = w.ci[:k] + (NOBODY,) + w.ci[k + 1:]
                self._hand_turn(w, k)
        elif label in (L.UPD_REPLY_PAUSED, L.UPD_REPLY_WRITER):
            w.ci = w.ci[:k] + (GHOST,) + w.ci[k + 1:]   # in flight until its reply (forever
            #                                             upstream: nobody resets it)
        elif label in (L.UPD_REPLIED_PAUSED, L.UPD_REPLIED_WRITER):
            if self.safe_communicator:
                w.ci = w.ci[:k] + (NOBODY,) + w.ci[k + 1:]
                self._hand_turn(w, k)
            else:
                w.ci = w.ci[:k] + (GHOST,) + w.ci[k + 1:]

    def _unwind(self, w: _Work, p: int, label: str) -> None:
        """Leave every enclosing ``async with`` after a cancel, then end the call."""
        if w.cl == p:
            self._unlock(w, "cl")
        if label in _RELEASES_READER:
            self._gen_finished(w, p)            # release_reader, then the call ends
        elif label in _RELEASES_WRITER:
            if self._lock(w, "rl", p, L.UPD_RELEASE_ACQUIRE):
                self._upd_release(w, p)         # release_writer, then the call ends
        else:
            self._return(w, p)

    def _notify_one(self, w: _Work, cond: str) -> None:
        """From 3.13, a task cancelled out of ``Condition.wait`` notifies one other waiter."""
        waiters = getattr(w, cond)
        if self.passes_notify and waiters:
            w.set_pc(waiters[0], L.RESUME[w.item("pc", waiters[0])])
            setattr(w, cond, waiters[1:])

    def _cancel_left_gate(self, w: _Work, p: int) -> None:
        self._notify_one(w, "cw")
        self._unlock(w, "cl")       # leaving `async with is_pause_cond`
        self._return(w, p)

    def _cancel_left_read(self, w: _Work, p: int) -> None:
        self._notify_one(w, "rcw")
        self._unlock(w, "rl")       # leaving acquire_reader's `async with self._lock`
        self._unwind(w, p, L.GEN_CANCEL_READ_LOCKED)   # reader_under_gate: CL too

    def _cancel_left_write(self, w: _Work, p: int) -> None:
        self._notify_one(w, "rcw")
        w.wW -= 1                   # acquire_writer's `finally`
        if self.writer_cancel_notifies:
            self._notify_all(w, "rcw")
        self._unlock(w, "rl")
        self._unwind(w, p, L.UPD_CANCEL_WRITE_LOCKED)  # holds_cl_until_writer: CL too

    # ---------------------------------------------------------------- scheduler, replies
    def _sched_step(self, w: _Work, p: int) -> None:
        # take the next message; wake the batch runner if there is a batch to run
        message, w.Q = w.Q[0], w.Q[1:]
        self._handle(w, message)
        if _has_batch(w):
            w.bw = True

    def _batch_step(self, w: _Work, p: int) -> None:
        # one forward pass, unless a pause landed since it was woken; stay woken while
        # there is more to run
        if _has_batch(w):
            self._forward(w)
        w.bw = _has_batch(w)

    def _handle(self, w: _Work, m: tuple[Any, ...]) -> None:
        kind = m[0]
        if kind == "generate":      # a new request joins the waiting queue
            w.waiting = w.waiting + ((m[1], 0, -1),)
        elif kind == "pause":
            w.paused = True
            kept = tuple((r, t, -1) for r, t, _ in w.running)  # a pause separates versions
            if m[1] == "retract":
                w.running, w.waiting = (), w.waiting + kept
                w.doomed = ()
            else:
                w.running = kept
        elif kind == "continue":
            w.paused = False
            w.running, w.waiting = w.running + w.waiting, ()
        elif kind == "abort":
            # waiting requests leave at once; running ones at the next forward pass
            w.RQ = w.RQ + tuple(("out", r, False) for r, _, _ in w.waiting)
            w.waiting = ()
            if w.paused and self.abort_drops_paused:  # no forward pass will come: end them now
                w.RQ = w.RQ + tuple(("out", r, False) for r, _, _ in w.running)
                w.running = ()
            w.doomed = tuple(r for r, _, _ in w.running)
        elif kind == "update":
            ok = not (self.flush and (w.running or w.waiting))  # flush_cache needs idle
            if ok or not self.flush_checks_before_apply:
                w.version += 1
            if not ok and not self.flush_checks_before_apply:
                w.lied = True          # weights changed, yet the caller is told it failed
            w.RQ = w.RQ + (("ack", m[1], m[2], ok, m[3]),)
        else:  # pragma: no cover - the spec only sends the kinds above
            raise ValueError(f"unknown message {m!r}")

    def _forward(self, w: _Work) -> None:
        """One forward pass: the waiting requests join the batch, then every running request
        makes a token at the current weight version; requests marked by abort-all leave."""
        w.running, w.waiting = w.running + w.waiting, ()
        still = []
        for r, t, seen in w.running:
            if r in w.doomed:
                w.RQ = w.RQ + (("out", r, False),)
                continue
            if seen not in (-1, w.version) and w.item("pc", r) == L.GEN_RUN:
                w.mixed = True   # (a cancelled request's work runs on, its output unread)
            if t + 1 == self.tokens:
                w.RQ = w.RQ + (("out", r, True),)
            else:
                still.append((r, t + 1, w.version))
        w.running = tuple(still)
        w.doomed = ()

    def _reply_step(self, w: _Work, p: int) -> None:
        message, w.RQ = w.RQ[0], w.RQ[1:]
        if message[0] == "out":
            if w.item("pc", message[1]) == L.GEN_RUN:   # else its caller was cancelled: unread
                w.set_pc(message[1], L.RESUME[w.item("pc", message[1])])
            return
        target = message[1]
        if message[4] in self.comms:            # `handle_recv`: set the call's event
            k = self.comms.index(message[4])
            if w.ci[k] == GHOST:                # its caller was cancelled: nobody wakes
                if self.safe_communicator:   # the fix: free it, hand the turn on
                    w.ci = w.ci[:k] + (NOBODY,) + w.ci[k + 1:]
                    self._hand_turn(w, k)
                return
        elif message[4] == "disk":
            if w.slot_done:        # set_result on a done future: InvalidStateError (S3);
                w.dead = True      # the reply handler ends and the server process dies
                w.set_pc(p, L.DONE)
                return
            target, w.slot_done = w.slot, True   # resolves whoever set the slot last
        w.set_pc(target, L.RESUME[w.item("pc", target)])


#: Steps that may take a free CL and release it again within the step.
_TAKES_CL = frozenset({L.GEN_START, L.GEN_GATE_NOTIFIED, L.UPD_START, L.CONT_START,
                       L.PAUSE_START})


#: cancel while queued on a lock's first acquire: label -> the lock
_FIRST_ACQUIRE = {
    L.GEN_GATE_ACQUIRE: "cl", L.GEN_READ_ACQUIRE: "rl", L.GEN_RELEASE_ACQUIRE: "rl",
    L.UPD_CHECK_ACQUIRE: "cl", L.UPD_WRITE_ACQUIRE: "rl", L.UPD_RELEASE_ACQUIRE: "rl",
    L.PAUSE_ACQUIRE: "cl", L.PAUSE_PROBE_ACQUIRE: "rl", L.CONT_ACQUIRE: "cl",
}
#: cancel once handed a lock (first acquire), before resuming: label -> the lock
_FIRST_HANDED = {
    L.GEN_GATE_LOCKED: "cl", L.GEN_READ_LOCKED: "rl", L.GEN_RELEASE_LOCKED: "rl",
    L.UPD_CHECK_LOCKED: "cl", L.UPD_WRITE_LOCKED: "rl", L.UPD_RELEASE_LOCKED: "rl",
    L.PAUSE_LOCKED: "cl", L.PAUSE_PROBE_LOCKED: "rl", L.CONT_LOCKED: "cl",
}
#: cancel in Condition.wait (parked or notified): label -> (lock, condition, queued label)
_IN_WAIT = {
    L.GEN_GATE_WAIT: ("cl", "cw", L.GEN_CANCEL_GATE_ACQUIRE),
    L.GEN_GATE_NOTIFIED: ("cl", "cw", L.GEN_CANCEL_GATE_ACQUIRE),
    L.GEN_READ_WAIT: ("rl", "rcw", L.GEN_CANCEL_READ_ACQUIRE),
    L.GEN_READ_NOTIFIED: ("rl", "rcw", L.GEN_CANCEL_READ_ACQUIRE),
    L.UPD_WRITE_WAIT: ("rl", "rcw", L.UPD_CANCEL_WRITE_ACQUIRE),
    L.UPD_WRITE_NOTIFIED: ("rl", "rcw", L.UPD_CANCEL_WRITE_ACQUIRE),
}
#: cancel while queued to re-acquire inside Condition.wait: label -> (lock, queued label)
_REACQUIRING = {
    L.GEN_GATE_REACQUIRE: ("cl", L.GEN_CANCEL_GATE_ACQUIRE),
    L.GEN_CANCEL_GATE_ACQUIRE: ("cl", L.GEN_CANCEL_GATE_ACQUIRE),
    L.GEN_READ_REACQUIRE: ("rl", L.GEN_CANCEL_READ_ACQUIRE),
    L.GEN_CANCEL_READ_ACQUIRE: ("rl", L.GEN_CANCEL_READ_ACQUIRE),
    L.UPD_WRITE_REACQUIRE: ("rl", L.UPD_CANCEL_WRITE_ACQUIRE),
    L.UPD_CANCEL_WRITE_ACQUIRE: ("rl", L.UPD_CANCEL_WRITE_ACQUIRE),
}
#: cancel once handed the lock inside Condition.wait: label -> (lock, queued label)
_REACQUIRED = {
    L.GEN_GATE_RELOCKED: ("cl", L.GEN_CANCEL_GATE_ACQUIRE),
    L.GEN_CANCEL_GATE_LOCKED: ("cl", L.GEN_CANCEL_GATE_ACQUIRE),
    L.GEN_READ_RELOCKED: ("rl", L.GEN_CANCEL_READ_ACQUIRE),
    L.GEN_CANCEL_READ_LOCKED: ("rl", L.GEN_CANCEL_READ_ACQUIRE),
    L.UPD_WRITE_RECHECK: ("rl", L.UPD_CANCEL_WRITE_ACQUIRE),
    L.UPD_CANCEL_WRITE_LOCKED: ("rl", L.UPD_CANCEL_WRITE_ACQUIRE),
}
#: an update's labels around its call (communicator or disk slot)
_COMMUNICATING = frozenset(L.COMM_QUEUED | {
    L.UPD_TURN_PAUSED, L.UPD_TURN_WRITER, L.UPD_REPLY_PAUSED, L.UPD_REPLY_WRITER,
    L.UPD_REPLIED_PAUSED, L.UPD_REPLIED_WRITER})
#: labels whose unwinding releases the reader side / the writer side
_RELEASES_READER = frozenset({L.GEN_TOKENIZE, L.GEN_RUN, L.GEN_FINISHED})
_RELEASES_WRITER = frozenset({L.UPD_QUEUED_WRITER, L.UPD_TURN_WRITER, L.UPD_REPLY_WRITER,
                              L.UPD_REPLIED_WRITER})
#: every label where a client call in progress may be cancelled (not before it starts)
CANCELLABLE = _CANCELLABLE = frozenset(
    set(_FIRST_ACQUIRE) | set(_FIRST_HANDED) | set(_IN_WAIT) | set(_REACQUIRING)
    | set(_REACQUIRED) | _COMMUNICATING | _RELEASES_READER
    | {L.UPD_DECIDED_PAUSED, L.UPD_DECIDED_UNPAUSED, L.PAUSE_SLEEP})


def _has_batch(s: State | _Work) -> bool:
    """The scheduler has a batch to run: requests running or waiting, and not paused."""
    return bool(s.running or s.waiting) and not s.paused


class PreFix(ProtocolSpec):
    """Before #22304 (after #22290): every kind checks P under CL, releases CL, then acts.
    Flaw: R1, the TOCTOU, with two updates of one kind."""

    name = "PRE_FIX"
    update_policy = dict(tensor=CHECK_THEN_ACT, distributed=CHECK_THEN_ACT,
                              ipc=CHECK_THEN_ACT, disk=CHECK_THEN_ACT)


class PostFix(ProtocolSpec):
    """After #22304: tensor, distributed and ipc decide under CL and, when paused, update
    while still holding it; disk keeps the old pattern (every release to date)."""

    name = "POST_FIX"
    update_policy = dict(tensor=DECIDE_UNDER_LOCK, distributed=DECIDE_UNDER_LOCK,
                              ipc=DECIDE_UNDER_LOCK, disk=CHECK_THEN_ACT)


class IpcBefore22290(ProtocolSpec):
    """Before #22290: ipc takes the writer side every time (D1); the others check-then-act."""

    name = "IPC_BEFORE_22290"
    update_policy = dict(ipc=ALWAYS_WRITER, tensor=CHECK_THEN_ACT,
                              distributed=CHECK_THEN_ACT, disk=CHECK_THEN_ACT)


class Proposed(ProtocolSpec):
    """A candidate fix for every hazard still open upstream, each one named definition:

    * R2 (and R1 on disk): :data:`DECIDE_AND_LOCK_UNDER_CL` for every kind;
    * A1: :attr:`~ProtocolSpec.reader_under_gate`;
    * D2: :attr:`~ProtocolSpec.abort_drops_paused` (in the scheduler);
    * S1: :attr:`~ProtocolSpec.writer_cancel_notifies` (in the RWLock);
    * S3: :attr:`~ProtocolSpec.disk_communicator`;
    * C1 and the communicator's assertion: :attr:`~ProtocolSpec.safe_communicator`;
    * a pause cancelled mid-drain: :attr:`~ProtocolSpec.abort_sets_p_when_drained`;
    * flush_cache's failure after the weights changed:
      :attr:`~ProtocolSpec.flush_checks_before_apply`.
    """

    name = "PROPOSED"
    update_policy = dict(tensor=DECIDE_AND_LOCK_UNDER_CL, distributed=DECIDE_AND_LOCK_UNDER_CL,
                         ipc=DECIDE_AND_LOCK_UNDER_CL, disk=DECIDE_AND_LOCK_UNDER_CL)
    reader_under_gate = True
    abort_drops_paused = True
    writer_cancel_notifies = True
    disk_communicator = True
    safe_communicator = True
    abort_sets_p_when_drained = True
    flush_checks_before_apply = True


PRE_FIX = PreFix
POST_FIX = PostFix
IPC_BEFORE_22290 = IpcBefore22290
PROPOSED = Proposed
VARIANTS = {cls.name: cls for cls in (PreFix, PostFix, IpcBefore22290, Proposed)}
