"""The one list of step labels: spec steps, implementation await points, conformance steps.

Every coroutine of ``spec/PROTOCOL.md`` section 3 is cut at its suspension points.  A label
names the code point where a task rests between two steps.  A label is *ready* when the task
can run from there (its next step is enabled), or *blocked* when it waits for something:
a lock hand-off (``*.acquire``), a condition notify (``*.wait``), a reply from the scheduler
(``*.reply``), or nothing at all (``done``).  ``spec.protocol`` uses exactly these labels as
process program counters, and the action that moves a process is ``(process, label)``; the
implementation in ``impl/`` names the same labels at its await points, so a trace from the
checker can be replayed on the code, step by step.

A blocked label is left only when another process hands something over; :data:`RESUME`
says which label the hand-over leads to.
"""

from __future__ import annotations

# --- GEN: generate_request -------------------------------------------------------------
GEN_START = "gen.start"                  # ready: not started; next: acquire CL
GEN_GATE_ACQUIRE = "gen.gate.acquire"    # blocked: queued on CL
GEN_GATE_LOCKED = "gen.gate.locked"      # ready: CL handed over; next: test P
GEN_GATE_WAIT = "gen.gate.wait"          # blocked: parked on the pause condition (P was True)
GEN_GATE_NOTIFIED = "gen.gate.notified"  # ready: notified; next: re-acquire CL, test P again
GEN_GATE_REACQUIRE = "gen.gate.reacquire"  # blocked: queued on CL inside the wait, after a notify
GEN_GATE_RELOCKED = "gen.gate.relocked"    # ready: CL handed over inside the wait; next: test P
GEN_READ_ACQUIRE = "gen.read.acquire"    # blocked: queued on RL (reader side)
GEN_READ_LOCKED = "gen.read.locked"      # ready: RL handed over; next: test wA / wW
GEN_READ_WAIT = "gen.read.wait"          # blocked: parked on the RWLock condition
GEN_READ_NOTIFIED = "gen.read.notified"  # ready: notified; next: re-acquire RL
GEN_READ_REACQUIRE = "gen.read.reacquire"  # blocked: queued on RL inside the wait, after a notify
GEN_READ_RELOCKED = "gen.read.relocked"    # ready: RL handed over inside the wait; next: test
GEN_TOKENIZE = "gen.tokenize"            # ready: reader held, awaited work (LoRA, tokenize);
                                         #   next: send the request to the scheduler
GEN_RUN = "gen.run"                      # blocked: reader held, request sent, awaits its end
GEN_FINISHED = "gen.finished"            # ready: the end arrived; next: release the reader
GEN_RELEASE_ACQUIRE = "gen.release.acquire"  # blocked: queued on RL to release the reader
GEN_RELEASE_LOCKED = "gen.release.locked"    # ready: RL handed over; next: nR -= 1

# Cancellation (``cancels`` > 0): a request cancelled out of a condition wait must re-acquire
# the condition's lock before the CancelledError leaves ``Condition.wait``.
GEN_CANCEL_GATE_ACQUIRE = "gen.cancel.gate.acquire"  # blocked: cancelled in the gate's wait,
                                                     #   queued on CL to leave it
GEN_CANCEL_GATE_LOCKED = "gen.cancel.gate.locked"    # ready: CL handed over; next: (3.13:
                                                     #   notify one), release CL, end the call
GEN_CANCEL_READ_ACQUIRE = "gen.cancel.read.acquire"  # blocked: cancelled in the reader's wait,
                                                     #   queued on RL to leave it
GEN_CANCEL_READ_LOCKED = "gen.cancel.read.locked"    # ready: RL handed over; next: (3.13:
                                                     #   notify one), release RL, end the call

# --- UPDATE: update_weights_from_{distributed,tensor,ipc,disk} --------------------------
UPD_START = "upd.start"                  # ready: not started; next: the pause check and, when
                                         #   nothing must wait, the act in the same step
UPD_CHECK_ACQUIRE = "upd.check.acquire"  # blocked: queued on CL for the check
UPD_CHECK_LOCKED = "upd.check.locked"    # ready: CL handed over; next: read P, decide
# The two decided labels exist only with await_after_check=1: an edit that adds an await
# between the check and the act.  Upstream has no suspension there (spec/PROTOCOL.md section 6).
UPD_DECIDED_PAUSED = "upd.decided.paused"      # ready: decided "paused" (an added await)
UPD_DECIDED_UNPAUSED = "upd.decided.unpaused"  # ready: decided "writer side" (an added await)
UPD_WRITE_ACQUIRE = "upd.write.acquire"        # blocked: queued on RL (first time)
UPD_WRITE_LOCKED = "upd.write.locked"          # ready: RL handed over; next: wW += 1, test
UPD_WRITE_WAIT = "upd.write.wait"              # blocked: parked on the RWLock condition
UPD_WRITE_NOTIFIED = "upd.write.notified"      # ready: notified; next: re-acquire RL
UPD_WRITE_REACQUIRE = "upd.write.reacquire"    # blocked: queued on RL after a notify
UPD_WRITE_RECHECK = "upd.write.recheck"        # ready: RL handed over; next: test again
UPD_CANCEL_WRITE_ACQUIRE = "upd.cancel.write.acquire"  # blocked: cancelled in the writer's
                                                       #   wait, queued on RL to leave it
UPD_CANCEL_WRITE_LOCKED = "upd.cancel.write.locked"    # ready: RL handed over; next: (3.13:
                                                       #   notify one), wW -= 1, release RL
# The per-kind communicator: one call of a kind in flight; later callers queue, FIFO.
UPD_QUEUED_PAUSED = "upd.queued.paused"  # blocked: paused branch, queued on the communicator
UPD_QUEUED_WRITER = "upd.queued.writer"  # blocked: writer held, queued on the communicator
UPD_TURN_PAUSED = "upd.turn.paused"      # ready: handed the turn; next: assert free, send
UPD_TURN_WRITER = "upd.turn.writer"      # ready: handed the turn; next: assert free, send
UPD_REPLY_PAUSED = "upd.reply.paused"    # blocked: update sent (paused branch), awaits reply
UPD_REPLY_WRITER = "upd.reply.writer"    # blocked: update sent under the writer side
UPD_REPLIED_PAUSED = "upd.replied.paused"  # ready: reply in; next: return (post-fix: free CL)
UPD_REPLIED_WRITER = "upd.replied.writer"  # ready: reply in; next: release the writer side
UPD_RELEASE_ACQUIRE = "upd.release.acquire"  # blocked: queued on RL to release the writer
UPD_RELEASE_LOCKED = "upd.release.locked"    # ready: RL handed over; next: wA := False

# --- PAUSE: pause_generation(mode) -------------------------------------------------------
PAUSE_START = "pause.start"              # ready: not started; next: acquire CL
PAUSE_ACQUIRE = "pause.acquire"          # blocked: queued on CL
PAUSE_LOCKED = "pause.locked"            # ready: CL handed over; next: P := True
PAUSE_PROBE_ACQUIRE = "pause.probe.acquire"  # blocked (abort mode): queued on RL to probe
PAUSE_PROBE_LOCKED = "pause.probe.locked"    # ready: RL handed over; next: is it locked?
PAUSE_SLEEP = "pause.sleep"              # sleep(1.0), CL held; its timer fires at any point
                                         #   (timer=any) or only when nothing else can run
                                         #   (timer=quiet)

# --- CONT: continue_generation ------------------------------------------------------------
CONT_START = "cont.start"                # ready: not started; next: acquire CL
CONT_ACQUIRE = "cont.acquire"            # blocked: queued on CL
CONT_LOCKED = "cont.locked"              # ready: CL handed over; next: P := False, notify

# --- daemons and the end --------------------------------------------------------------------
SCHED_LOOP = "sched.loop"    # scheduler: handle the next message from the tokenizer
BATCH_LOOP = "batch.loop"    # scheduler: one forward pass over the batch (when woken)
REPLY_LOOP = "reply.loop"    # reply handler: deliver the next output or update reply
DONE = "done"                # the process has finished every call of its program
CANCEL = "cancel"            # not a code point: the environment's action that cancels a task
                             #   (``task.cancel()``), after which the task runs its
                             #   CancelledError path up to its next suspension

#: blocked label -> the ready label a hand-over (lock, notify, reply) moves the process to.
RESUME: dict[str, str] = {
    GEN_GATE_ACQUIRE: GEN_GATE_LOCKED,
    GEN_GATE_WAIT: GEN_GATE_NOTIFIED,
    GEN_GATE_REACQUIRE: GEN_GATE_RELOCKED,
    GEN_CANCEL_GATE_ACQUIRE: GEN_CANCEL_GATE_LOCKED,
    GEN_READ_ACQUIRE: GEN_READ_LOCKED,
    GEN_READ_WAIT: GEN_READ_NOTIFIED,
    GEN_READ_REACQUIRE: GEN_READ_RELOCKED,
    GEN_CANCEL_READ_ACQUIRE: GEN_CANCEL_READ_LOCKED,
    GEN_RUN: GEN_FINISHED,
    GEN_RELEASE_ACQUIRE: GEN_RELEASE_LOCKED,
    UPD_CHECK_ACQUIRE: UPD_CHECK_LOCKED,
    UPD_WRITE_ACQUIRE: UPD_WRITE_LOCKED,
    UPD_WRITE_WAIT: UPD_WRITE_NOTIFIED,
    UPD_WRITE_REACQUIRE: UPD_WRITE_RECHECK,
    UPD_CANCEL_WRITE_ACQUIRE: UPD_CANCEL_WRITE_LOCKED,
    UPD_QUEUED_PAUSED: UPD_TURN_PAUSED,
    UPD_QUEUED_WRITER: UPD_TURN_WRITER,
    UPD_REPLY_PAUSED: UPD_REPLIED_PAUSED,
    UPD_REPLY_WRITER: UPD_REPLIED_WRITER,
    UPD_RELEASE_ACQUIRE: UPD_RELEASE_LOCKED,
    PAUSE_ACQUIRE: PAUSE_LOCKED,
    PAUSE_PROBE_ACQUIRE: PAUSE_PROBE_LOCKED,
    CONT_ACQUIRE: CONT_LOCKED,
}

BLOCKED: frozenset[str] = frozenset(RESUME) | {DONE}

#: Labels where an update waits on (or for) its kind's communicator: queued, or handed the turn.
COMM_QUEUED: frozenset[str] = frozenset({UPD_QUEUED_PAUSED, UPD_QUEUED_WRITER})

#: branch ("paused" or "writer") -> where an update waits, queued on its communicator
QUEUED_ON: dict[str, str] = {"paused": UPD_QUEUED_PAUSED, "writer": UPD_QUEUED_WRITER}
#: branch -> where an update waits for its reply once sent
REPLY_ON: dict[str, str] = {"paused": UPD_REPLY_PAUSED, "writer": UPD_REPLY_WRITER}

#: Labels where a process holds a reader of the RWLock.
READER_HELD: frozenset[str] = frozenset(
    {GEN_TOKENIZE, GEN_RUN, GEN_FINISHED, GEN_RELEASE_ACQUIRE, GEN_RELEASE_LOCKED}
)
#: Labels where an update is counted in ``wW`` (waiting for the writer side).
WRITER_WAITING: frozenset[str] = frozenset(
    {UPD_WRITE_WAIT, UPD_WRITE_NOTIFIED, UPD_WRITE_REACQUIRE, UPD_WRITE_RECHECK,
     UPD_CANCEL_WRITE_ACQUIRE, UPD_CANCEL_WRITE_LOCKED}
)
#: Labels where an update holds the writer side.
WRITER_HELD: frozenset[str] = frozenset(
    {UPD_QUEUED_WRITER, UPD_TURN_WRITER, UPD_REPLY_WRITER, UPD_REPLIED_WRITER,
     UPD_RELEASE_ACQUIRE, UPD_RELEASE_LOCKED}
)
#: Labels of an update on the paused branch, from its decision until it returns.
PAUSED_BRANCH: frozenset[str] = frozenset(
    {UPD_DECIDED_PAUSED, UPD_QUEUED_PAUSED, UPD_TURN_PAUSED, UPD_REPLY_PAUSED,
     UPD_REPLIED_PAUSED}
)

#: The first label of each client call.
CALL_START: dict[str, str] = {
    "generate": GEN_START,
    "pause": PAUSE_START,
    "update": UPD_START,
    "continue": CONT_START,
}

#: Every label, in the order of this file.
ALL_LABELS: tuple[str, ...] = tuple(
    value for name, value in list(globals().items())
    if name.isupper() and isinstance(value, str)
)
