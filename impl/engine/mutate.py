"""How good is the gate?  Plant lock-edit mutants in a copy of the engine and count the kills.

``python -m impl.engine.mutate`` copies the ``impl`` package into a temporary directory, applies ONE
mutant (a lock edit a reviewer could plausibly approve: a dropped ``notify_all``, a ``while``
turned into an ``if``, a read of ``is_pause`` outside its lock, ...) to ``engine/core.py`` or
``engine/rwlock.py`` there, and runs the gate on the mutated copy in a fresh process: the
exhaustive exploration of small scenarios, whose graph must equal the checker's graph of the
spec, then the replay of the pinned R1 counterexample.  The first check that fails kills the
mutant.  The repository is never touched.

The catalogue marks each mutant *harmful* (it changes what other tasks can observe: the
gate must kill it) or *equivalent* (it changes nothing observable: the reason says why; the
gate must NOT kill it, or the reason is wrong).  The command prints the kill table and exits
0 only if every harmful mutant was killed and no equivalent one was::

    python -m impl.engine.mutate                 # every mutant, both cores
    python -m impl.engine.mutate --only notify   # the mutants whose name contains "notify"
    python -m impl.engine.mutate --list          # the catalogue
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

IMPL = Path(__file__).resolve().parents[1]   # the impl package (this file: impl/engine/)
ROOT = IMPL.parent


@dataclasses.dataclass(frozen=True)
class Mutant:
    """One lock edit: replace ``old`` by ``new`` (each exactly once) in ``impl/<file>``."""

    name: str
    file: str
    old: str
    new: str
    what: str
    harmful: bool = True
    reason: str = ""   # for an equivalent mutant: why nothing observable changes


CATALOGUE: tuple[Mutant, ...] = (
    Mutant("fix_reverted", "engine/core.py",
           'update_policy = {"tensor": decide_under_lock, "distributed": decide_under_lock,\n'
           '                     "ipc": decide_under_lock, "disk": check_then_act}',
           'update_policy = {"tensor": check_then_act, "distributed": check_then_act,\n'
           '                     "ipc": check_then_act, "disk": check_then_act}',
           "POST_FIX releases CL before the paused update again (#22304 reverted)"),
    Mutant("check_outside_cl", "engine/core.py",
           "    async with engine.is_pause_cond:                                   # may queue on CL\n"
           "        paused = engine.is_pause                                       # the check\n",
           "    paused = engine.is_pause                                           # the check\n",
           "the pre-fix check reads is_pause without taking CL"),
    Mutant("continue_without_notify", "engine/core.py",
           "            self._send((\"continue\",))\n            self.is_pause_cond.notify_all()\n",
           "            self._send((\"continue\",))\n",
           "continue_generation forgets notify_all: requests parked at the gate sleep on"),
    Mutant("gate_tests_once", "engine/core.py",
           "            await self.is_pause_cond.wait_for(lambda: not self.is_pause)",
           "            if self.is_pause:\n                await self.is_pause_cond.wait()",
           "the pause gate waits once (if) instead of wait_for's loop"),
    Mutant("comm_never_queues", "engine/core.py",
           "        if self.result_event is not None or self.queue or (self.safe and self.in_flight):",
           "        if False:",
           "the communicator lets several calls of one kind in flight"),
    Mutant("comm_forgets_hand_off", "engine/core.py",
           "            ready.set()",
           "            pass",
           "the communicator drops the next caller instead of handing it the turn"),
    Mutant("await_after_check", "engine/core.py",
           "        if self.await_after_check:",
           "        if True:",
           "an await added between every update's check and its act"),
    Mutant("abort_probe_without_rl", "engine/core.py",
           "                async with self.rwlock.lock:                           # may queue on RL\n"
           "                    locked = self.rwlock.locked()\n",
           "                locked = self.rwlock.locked()\n",
           "the abort-mode pause probes the RWLock without taking RL",
           harmful=False,
           reason="RL is never held between steps in this protocol (every holder takes and "
                  "releases it within one step; tests/test_spec.py pins it), so a probe "
                  "with or without RL reads the same counters"),
    Mutant("readers_ignore_waiting_writers", "engine/rwlock.py",
           "            while self.writer_active or self.waiting_writers:",
           "            while self.writer_active:",
           "readers no longer give way to waiting writers"),
    Mutant("writer_tests_once", "engine/rwlock.py",
           "                while self.writer_active or self.readers > 0:",
           "                if self.writer_active or self.readers > 0:",
           "the writer waits once (if) instead of re-testing after a notify"),
    Mutant("release_writer_without_notify", "engine/rwlock.py",
           "            self.writer_active = False\n            self.cond.notify_all()\n",
           "            self.writer_active = False\n",
           "release_writer forgets notify_all: readers and writers sleep on"),
    Mutant("last_reader_without_notify", "engine/rwlock.py",
           "            if self.readers == 0:\n                self.cond.notify_all()\n",
           "",
           "the last reader's release forgets notify_all: a waiting writer sleeps on"),
    Mutant("continue_sends_after_clearing", "engine/core.py",
           "            self.is_pause = False\n            self._send((\"continue\",))\n",
           "            self._send((\"continue\",))\n            self.is_pause = False\n",
           "continue sends before it clears is_pause",
           harmful=False,
           reason="both statements run in one step under CL with no await between them: no "
                  "other task can see the order"),
    Mutant("locked_reads_in_other_order", "engine/rwlock.py",
           "        return self.writer_active or self.readers > 0",
           "        return self.readers > 0 or self.writer_active",
           "RWLock.locked() tests its two conditions in the other order",
           harmful=False,
           reason="a pure expression of two fields read in one step: same value either way"),
)

#: The gate, cheapest checks first: (name, variant, spec parameters) of a graph comparison,
#: or ("replay R1", ...) for the pinned counterexample's replay.
CHECKS: tuple[tuple[str, str, dict[str, object]], ...] = (
    ("graph POST_FIX concurrent N=1", "POST_FIX", {"scenario": "concurrent", "requests": 1}),
    ("graph PRE_FIX concurrent N=1", "PRE_FIX", {"scenario": "concurrent", "requests": 1}),
    ("graph PRE_FIX concurrent N=1 abort", "PRE_FIX",
     {"scenario": "concurrent", "requests": 1, "mode": "abort", "timer": "quiet"}),
    ("graph IPC_BEFORE_22290 rl-loop N=1", "IPC_BEFORE_22290",
     {"scenario": "rl-loop", "requests": 1}),
    ("graph POST_FIX rl-loop abort N=1", "POST_FIX",
     {"scenario": "rl-loop", "requests": 1, "mode": "abort", "timer": "quiet"}),
    ("graph POST_FIX concurrent N=0 M=2", "POST_FIX",
     {"scenario": "concurrent", "requests": 0, "updates": 2}),
    ("graph POST_FIX pauses=2 continues=2", "POST_FIX",
     {"scenario": "concurrent", "requests": 1, "updates": 0, "pauses": 2, "continues": 2}),
    ("graph POST_FIX three writers", "POST_FIX",
     {"scenario": "concurrent", "requests": 0, "updates": 3, "pauses": 0, "continues": 0}),
    ("graph POST_FIX concurrent N=2", "POST_FIX", {"scenario": "concurrent", "requests": 2}),
    ("graph POST_FIX abort N=1 M=2", "POST_FIX",
     {"scenario": "concurrent", "requests": 1, "updates": 2, "mode": "abort", "timer": "quiet"}),
    ("replay R1", "PRE_FIX", {"scenario": "concurrent", "requests": 1, "updates": 2}),
)


@dataclasses.dataclass
class Outcome:
    """What the gate did to one mutant."""

    mutant: Mutant
    killed_by: str | None      # the first failing check, or None (survived)
    detail: str
    seconds: float

    @property
    def as_expected(self) -> bool:
        return (self.killed_by is not None) == self.mutant.harmful


#: The unmutated engine, run through the same machinery first: it must pass every check, or
#: a kill would mean nothing (a broken tree would "kill" every mutant at import).
BASELINE = Mutant("baseline (no mutation)", "engine/core.py", "", "", "nothing", harmful=False,
                  reason="the engine as it is")


def mutated_copy(mutant: Mutant, into: Path) -> Path:
    """Copy the ``impl`` package into ``into/impl`` and apply ``mutant`` (nothing for
    :data:`BASELINE`); return the copy.

    Raises ValueError if the mutant's text is not found exactly once (the engine changed:
    the catalogue must follow it)."""
    target = into / "impl"
    shutil.copytree(IMPL, target, ignore=shutil.ignore_patterns("__pycache__"))
    if mutant is BASELINE:
        return target
    path = target / mutant.file
    text = path.read_text()
    if not mutant.old:
        raise ValueError(f"mutant {mutant.name}: no text to replace")
    count = text.count(mutant.old)
    if count != 1:
        raise ValueError(f"mutant {mutant.name}: its text occurs {count} times in "
                         f"impl/{mutant.file}, expected exactly once")
    path.write_text(text.replace(mutant.old, mutant.new))
    return target


def _gate() -> None:
    """Run in the mutated copy's process: print one JSON line {killed_by, detail}."""
    from impl.engine.explore import compare, describe, explore
    from model_check import check
    from model_check.report import to_json
    from spec.protocol import VARIANTS

    for name, variant, params in CHECKS:
        try:
            if name == "replay R1":
                from impl.engine.harness import Harness

                data = to_json(check(VARIANTS[variant](**params), deadlock=False,
                                     properties=["update_safety"]))
                with Harness(variant, **params) as h:
                    h.replay(data["trace"])
                    if not h.engine.monitor.mixed:
                        raise AssertionError("the replayed R1 mixed no weights")
                continue
            found = explore(variant, **params)
            comparison = compare(found, variant, **params)
            if not comparison.equal:
                text = describe(comparison, VARIANTS[variant](**params), limit=1)
                print(json.dumps({"killed_by": name, "detail": text.splitlines()[0][:300]}))
                return
        except Exception as exc:  # noqa: BLE001 - any failure of the gate kills the mutant
            print(json.dumps({"killed_by": name, "detail": f"{type(exc).__name__}: {exc}"[:300]}))
            return
    print(json.dumps({"killed_by": None, "detail": "every check passed"}))


def run_mutant(mutant: Mutant, timeout: float = 900.0) -> Outcome:
    """Apply ``mutant`` in a temporary copy and run the gate on it in a fresh process."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutant.name}-") as tmp:
        try:
            mutated_copy(mutant, Path(tmp))
        except ValueError as exc:
            return Outcome(mutant, None, f"NOT APPLIED: {exc}", time.perf_counter() - start)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([tmp, str(ROOT)]),
                   PYTHONDONTWRITEBYTECODE="1")
        try:
            proc = subprocess.run([sys.executable, "-c", "import impl.engine.mutate as m; m._gate()"],
                                  cwd=tmp, env=env, capture_output=True, text=True,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return Outcome(mutant, "timeout", f"the gate ran over {timeout:.0f} s",
                           time.perf_counter() - start)
    seconds = time.perf_counter() - start
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:  # the mutated package did not even import
        err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return Outcome(mutant, "import", err[:300], seconds)
    data = json.loads(lines[-1])
    return Outcome(mutant, data["killed_by"], data["detail"], seconds)


def table(outcomes: Sequence[Outcome]) -> str:
    """The kill table as Markdown, then the figure."""
    rows = ["| mutant | file | what it changes | kind | killed by | sec |",
            "|---|---|---|---|---|---|"]
    for o in outcomes:
        kind = "harmful" if o.mutant.harmful else f"equivalent: {o.mutant.reason}"
        killed = o.killed_by or "survived"
        mark = "" if o.as_expected else " **(unexpected)**"
        rows.append(f"| `{o.mutant.name}` | {o.mutant.file} | {o.mutant.what} | {kind} | "
                    f"{killed}{mark} | {o.seconds:.1f} |")
    harmful = [o for o in outcomes if o.mutant.harmful]
    killed = sum(1 for o in harmful if o.killed_by)
    equivalent = [o for o in outcomes if not o.mutant.harmful]
    rows.append("")
    rows.append(f"harmful mutants killed: {killed}/{len(harmful)}"
                + (f" ({100 * killed / len(harmful):.0f}%)" if harmful else "")
                + f"; equivalent mutants surviving: "
                  f"{sum(1 for o in equivalent if not o.killed_by)}/{len(equivalent)}")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m impl.engine.mutate",
        description="Apply each lock-edit mutant to a temporary copy of impl/ and run the "
                    "gate (graph equality with the spec, replay of R1) on it.")
    parser.add_argument("--only", metavar="TEXT", help="only the mutants whose name contains TEXT")
    parser.add_argument("--list", action="store_true", help="print the catalogue and exit")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="mutants run in parallel (default: the number of cores)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")
    chosen = [m for m in CATALOGUE if not args.only or args.only in m.name]
    if not chosen:
        parser.error(f"no mutant name contains {args.only!r}; mutants: "
                     f"{', '.join(m.name for m in CATALOGUE)}")
    if args.list:
        for m in chosen:
            kind = "harmful" if m.harmful else f"equivalent ({m.reason})"
            print(f"{m.name:32} impl/{m.file:10} {kind}: {m.what}")
        return 0
    baseline = run_mutant(BASELINE)
    if baseline.killed_by is not None:
        print(f"error: the unmutated engine fails the gate at {baseline.killed_by}: "
              f"{baseline.detail}; fix that first, no kill would mean anything",
              file=sys.stderr)
        return 2
    print(f"baseline: the unmutated engine passes every check ({baseline.seconds:.1f} s)",
          file=sys.stderr, flush=True)
    outcomes: list[Outcome] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for outcome in pool.map(run_mutant, chosen):
            print(f"{outcome.mutant.name}: {outcome.killed_by or 'survived'} "
                  f"({outcome.seconds:.1f} s)", file=sys.stderr, flush=True)
            outcomes.append(outcome)
    print(table(outcomes))
    return 0 if all(o.as_expected for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
