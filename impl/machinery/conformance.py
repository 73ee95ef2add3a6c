"""Two-way conformance: a Hypothesis state machine that drives the spec and the engine together.

The machine owns a spec state and a :class:`~impl.engine.harness.Harness` (an engine on the
controlled loop).  Its rules are synchronous (Hypothesis has no async rules; the machine
steps the loop): *start an operation* takes the first step of a client call not yet
started (generate, pause(mode), update(kind), continue, as the scenario allows), *advance*
steps any other runnable task to its next suspension point.  After every rule it checks:

* the spec has the transition with the same ``(process, label)`` and it leads to exactly
  ``abstraction(engine)`` (a mismatch prints both states side by side);
* the set of tasks the engine can run equals the set of processes the spec can move: no
  step the spec forbids, no spec step the code cannot take;
* the spec's ``always`` properties hold on the abstraction, and the engine's own monitor
  saw no mixed-version request;
* when nothing can move in the engine, nothing can move in the spec either, and a state
  the spec does not call done is one the controlled loop reports as a deadlock.

:func:`machine` builds the class for one variant and scenario; ``engine_factory`` plugs in
a modified engine (a planted bug), ``spec_variant`` checks an engine against another
variant's spec.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from spec import labels as L
from spec.protocol import VARIANTS, State


#: ``ci``: derandomized (every run explores the same examples; a failure reproduces
#: exactly) and bounded so the default suite stays fast.  ``long``: randomized, many more
#: and longer examples, for the ``slow`` tests or ``HYPOTHESIS_PROFILE=long``.
settings.register_profile(
    "ci", derandomize=True, max_examples=100, stateful_step_count=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    print_blob=True, database=None)
settings.register_profile(
    "long", max_examples=400, stateful_step_count=80, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    print_blob=True, database=None)


class ConformanceError(AssertionError):
    """The engine and the spec disagree; the message shows where."""


def side_by_side(spec: Any, expected: State, actual: State, title: str) -> str:
    """Both states, one variable a line, differing lines marked with ``!``."""
    want, have = spec.fields(expected), spec.fields(actual)
    width = max(len(k) for k in want)
    lines = [title, f"  {'variable':{width}}  {'spec':40}  engine"]
    for k in want:
        mark = "!" if want[k] != have.get(k) else " "
        lines.append(f"{mark} {k:{width}}  {str(want[k]):40}  {have.get(k)}")
    return "\n".join(lines)


class _Stats:
    """Counts shared by every run of one machine class (for reports and coverage)."""

    def __init__(self) -> None:
        self.examples = 0
        self.first_failure_at: int | None = None
        self.failing_steps: list[tuple[str, str]] = []
        self.edges: set[tuple[State, tuple[str, str]]] = set()


def machine(make: Callable[[], Any], spec_name: str, *, name: str = "",
            properties: tuple[str, ...] | None = None, **params: Any,
            ) -> type[RuleBasedStateMachine]:
    """The conformance machine of the subjects ``make()`` builds against ``spec_name``'s spec
    with ``params``.

    A *subject* runs code on the controlled loop and reads it into spec states:
    ``spec``, ``enabled()``, ``label(name)``, ``step(name)``, ``abstract()``,
    ``cancellable()``, ``cancel(name)``, ``close()``, and optionally ``mixed_requests()``
    (the code's own evidence of a mixed-version request).  ``properties`` names the
    ``always`` properties to check on the abstraction (default: all; ``()``: conformance
    only).  Whenever ``update_safety`` is checked, so is ``mixed_requests()``.
    """
    stats = _Stats()

    class Conformance(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            stats.examples += 1
            self.h = make()
            self.spec = self.h.spec
            self.props = [p for p in self.spec.properties() if p.kind == "always"
                          and (properties is None or p.name in properties)]
            self.monitor = any(p.name == "update_safety" for p in self.props)
            self.state = self.spec.init_states()[0]
            self.steps: list[tuple[str, str]] = []
            self._compare("the initial states differ")

        # -- rules: one per process (see _process_rule) -------------------------------
        @precondition(lambda self: not self.h.enabled())
        @rule()
        def quiescent(self) -> None:
            """Nothing can move in the engine; ``same_tasks_can_move`` checks the spec agrees
            (a state the spec does not call done is then a deadlock of both)."""

        def _step(self, name: str, cancel: bool = False) -> None:
            action = (name, L.CANCEL if cancel else self.h.label(name))
            before = self.state
            allowed = self.spec.actions(before)
            if action not in allowed:
                self._fail(
                    f"after {self.steps}: the engine can take {action}, the spec cannot; "
                    f"the spec allows {allowed}")
            self.steps.append(action)
            if cancel:
                self.h.cancel(name)
            else:
                self.h.step(name)
            self.state = self.spec.next_state(before, action)
            stats.edges.add((before, action))
            self._compare(f"step {len(self.steps)} {action[0]} {action[1]} diverged")

        def _compare(self, title: str) -> None:
            actual = self.h.abstract()
            if actual != self.state:
                self._fail(
                    f"after {self.steps}:\n" + side_by_side(self.spec, self.state, actual, title))

        # -- invariants ---------------------------------------------------------------
        @invariant()
        def same_tasks_can_move(self) -> None:
            engine = set(self.h.enabled())
            actions = self.spec.actions(self.state)
            spec = {name for name, label in actions if label != L.CANCEL}
            if engine != spec:
                self._fail(
                    f"after {self.steps}: the engine can run {sorted(engine)}, the spec can "
                    f"move {sorted(spec)}")
            engine = set(self.h.cancellable())
            spec = {name for name, label in actions if label == L.CANCEL}
            if engine != spec:
                self._fail(
                    f"after {self.steps}: the engine's calls that can be cancelled are "
                    f"{sorted(engine)}, the spec's {sorted(spec)}")

        @invariant()
        def properties_hold(self) -> None:
            mixed = getattr(self.h, "mixed_requests", list)()
            if self.monitor and mixed:  # the real code's own evidence
                self._fail(f"the code's monitor saw a mixed-version request {mixed} after "
                           f"{self.steps}")
            abstract = self.h.abstract()
            for p in self.props:
                if not p.predicate(abstract):
                    self._fail(f"property {p.name} is violated after {self.steps}")

        def _fail(self, message: str) -> None:
            if stats.first_failure_at is None:
                stats.first_failure_at = stats.examples
            stats.failing_steps = list(self.steps)
            raise ConformanceError(message)

        def teardown(self) -> None:
            self.h.close()

    spec = VARIANTS[spec_name](**params)
    for name in spec.names:
        setattr(Conformance, f"run_{name}", _process_rule(name))
    if spec.cancels:
        for name in spec.names[: spec.sched]:
            setattr(Conformance, f"cancel_{name}", _cancel_rule(name))
    Conformance.__name__ = Conformance.__qualname__ = f"Conformance_{name or 'code'}_vs_{spec_name}"
    Conformance.stats = stats  # type: ignore[attr-defined]
    return Conformance


def _process_rule(name: str) -> Any:
    """The rule "run process ``name`` to its next suspension point", enabled when it can run.

    For a client not yet started this starts its operation (generate, pause(mode),
    update(kind), continue, with the arguments of the spec's program).  One rule per process
    lets Hypothesis's swarm testing leave some processes out of a whole example: starving
    one task for a while is what opens check-then-act windows, so races are found without
    telling the search where they are.
    """

    def run(self: Any) -> None:
        self._step(name)

    run.__name__ = f"run_{name}"
    return precondition(lambda self: name in self.h.enabled())(rule()(run))


def _cancel_rule(name: str) -> Any:
    """The environment's rule "cancel client ``name``'s call in progress" (``task.cancel()``
    and the task's CancelledError path), enabled while the spec allows a cancel there."""

    def cancel(self: Any) -> None:
        self._step(name, cancel=True)

    cancel.__name__ = f"cancel_{name}"
    return precondition(lambda self: name in self.h.cancellable())(rule()(cancel))


def edge_coverage(cls: type[RuleBasedStateMachine], variant: str, **params: Any
                  ) -> tuple[int, int, int]:
    """Run the conformance machine ``cls`` (built for ``variant`` and ``params``) under the
    ``ci`` profile (the default test run); return (spec edges covered, spec edges,
    examples run)."""
    from model_check import check

    run_state_machine_as_test(cls, settings=settings.get_profile("ci"))
    result = check(VARIANTS[variant](**params), keep_graph=True, deadlock=False)
    assert result.edges is not None
    states = result.state_list
    total = {(states[i], a) for i, _, a in result.edges}
    covered = cls.stats.edges & total  # type: ignore[attr-defined]
    return len(covered), len(total), cls.stats.examples  # type: ignore[attr-defined]
