"""What a spec is, for the checker: states, actions, next states, properties, parameters.

A spec is a subclass of :class:`Spec` that answers four questions, like a stateright
``Model`` or a TLA+ module:

* :meth:`Spec.init_states`: the initial states;
* :meth:`Spec.actions`: the actions enabled in a state, in a deterministic order;
* :meth:`Spec.next_state`: the state an action leads to;
* :meth:`Spec.properties`: named :func:`always` (invariant) and :func:`sometimes`
  (must be reachable) properties; and liveness properties, :func:`eventually` and
  :func:`leads_to`, checked under weak fairness per task (:meth:`Spec.task`,
  :meth:`Spec.fair_tasks`) only on request (:mod:`model_check.liveness`).

States must be hashable and immutable (tuples, named tuples, frozen dataclasses); actions
should be small hashable values such as ``("gen0", "gen.start")``.  Specs take parameters
(like TLC constants) declared as :class:`Parameter` objects with defaults, so the same spec
can be checked at several sizes: ``Counter(workers=3)``.

The spec only offers choices; who chooses (the breadth-first checker, a random run, a
Hypothesis state machine) lives elsewhere.  This module never imports a spec.

Examples
--------
>>> from typing import NamedTuple
>>> class Count(Spec):
...     name = "Count"
...     parameters = (Parameter("limit", 2, "how far to count"),)
...     def init_states(self):
...         return [0]
...     def actions(self, state):
...         return ["inc"] if state < self.params["limit"] else []
...     def next_state(self, state, action):
...         return state + 1
...     def properties(self):
...         return [always("small", lambda s: s <= 2), sometimes("two", lambda s: s == 2)]
...     def is_done(self, state):
...         return state == self.params["limit"]
>>> Count(limit=1).params
{'limit': 1}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Literal

State = Hashable
Action = Hashable
Predicate = Callable[[Any], bool]


class ModelCheckError(Exception):
    """Base class of every error this package raises on purpose."""


class SpecError(ModelCheckError):
    """The spec is malformed: the message says what was wrong and where."""


class ParameterError(ModelCheckError):
    """A parameter was unknown or had a value outside its valid range."""


@dataclasses.dataclass(frozen=True)
class Property:
    """A named property of a spec.

    ``kind`` is ``"always"`` (``predicate`` holds in every reachable state; a state where it
    does not is a counterexample) or ``"sometimes"`` (``predicate`` holds in at least one
    reachable state; a hit proves the interesting state is reachable, so a spec cannot pass
    vacuously).

    Liveness kinds (checked only on request, by :mod:`model_check.liveness`):
    ``"eventually"`` (every fair run from an initial state reaches a state where ``target``
    holds) and ``"leads_to"`` (in every fair run, a state where ``predicate`` holds is
    followed, then or later, by one where ``target`` holds).  With ``each``, the property
    is a family: ``predicate(state, x)`` / ``target(state, x)`` for every ``x`` in ``each``
    (e.g. every pause call returns: one ``x`` per pause client).
    """

    name: str
    kind: Literal["always", "sometimes", "eventually", "leads_to"]
    predicate: Predicate
    doc: str = ""
    target: Callable[..., bool] | None = None
    each: tuple[Hashable, ...] = ()


def always(name: str, predicate: Predicate, doc: str = "") -> Property:
    """An invariant: ``predicate(state)`` must be true in every reachable state.

    >>> always("nonnegative", lambda s: s >= 0).kind
    'always'
    """
    return Property(name, "always", predicate, doc)


def sometimes(name: str, predicate: Predicate, doc: str = "") -> Property:
    """A reachability goal: ``predicate(state)`` must be true in some reachable state.

    >>> sometimes("reaches_two", lambda s: s == 2).kind
    'sometimes'
    """
    return Property(name, "sometimes", predicate, doc)


#: The property kinds the safety search checks, and those only a liveness check does.
SAFETY_KINDS = ("always", "sometimes")
LIVENESS_KINDS = ("eventually", "leads_to")


def eventually(
    name: str, predicate: Callable[..., bool], doc: str = "", *, each: Iterable[Hashable] = ()
) -> Property:
    """A liveness goal ``<>P``: every fair run from every initial state reaches a state
    where ``predicate(state)`` holds (with ``each``: ``predicate(state, x)``, for every x).

    A counterexample is a lasso (a stem from an initial state, then a cycle repeated
    forever, or a state with no enabled action) on which ``predicate`` never holds.

    >>> p = eventually("finishes", lambda s: s == "done")
    >>> p.kind, p.target("done")
    ('eventually', True)
    """
    return Property(name, "eventually", _always_true, doc, predicate, tuple(each))


def leads_to(
    name: str,
    p: Callable[..., bool],
    q: Callable[..., bool],
    doc: str = "",
    *,
    each: Iterable[Hashable] = (),
) -> Property:
    """``p ~> q`` (``[](p => <>q)``): in every fair run, whenever ``p(state)`` holds,
    ``q`` holds then or later.  With ``each``, ``p(state, x) ~> q(state, x)`` for every x.

    A counterexample is a lasso whose stem reaches a state where p holds and q does not, and
    on whose rest (the stem's tail and the cycle) q never holds.

    >>> calls = leads_to("pause_returns", lambda s, c: s[c] == "in_pause",
    ...                  lambda s, c: s[c] == "returned", each=range(2))
    >>> calls.kind, calls.each, calls.predicate(("in_pause", "idle"), 0)
    ('leads_to', (0, 1), True)
    """
    return Property(name, "leads_to", p, doc, q, tuple(each))


def _always_true(*args: Any) -> bool:
    return True


@dataclasses.dataclass(frozen=True)
class Parameter:
    """A spec parameter with a default, like a TLC constant.

    The value's type is the default's type (int, bool or str).  ``choices`` restricts a
    value to a set; ``minimum``/``maximum`` bound an int.

    >>> Parameter("requests", 2, minimum=1).parse("3")
    3
    >>> Parameter("mode", "in_place", choices=("in_place", "abort")).parse("pause")
    Traceback (most recent call last):
    ...
    model_check.spec.ParameterError: parameter mode: 'pause' is not valid; valid values: in_place, abort
    """

    name: str
    default: Any
    doc: str = ""
    choices: tuple[Any, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None

    def parse(self, text: str) -> Any:
        """Turn the text of ``-D name=text`` into a value, or raise :class:`ParameterError`."""
        kind = type(self.default)
        if kind is bool:
            lowered = text.strip().lower()
            if lowered not in ("true", "false", "1", "0"):
                raise ParameterError(
                    f"parameter {self.name}: {text!r} is not a bool; valid values: true, false, 1, 0"
                )
            return self.check(lowered in ("true", "1"))
        if kind is int:
            try:
                value = int(text)
            except ValueError:
                raise ParameterError(
                    f"parameter {self.name}: {text!r} is not an integer{self._range()}"
                ) from None
            return self.check(value)
        return self.check(text)

    def check(self, value: Any) -> Any:
        """Return ``value`` if valid for this parameter, else raise :class:`ParameterError`."""
        kind = type(self.default)
        if type(value) is not kind:
            raise ParameterError(
                f"parameter {self.name}: {value!r} is of type {type(value).__name__}, "
                f"expected {kind.__name__}"
            )
        if self.choices is not None and value not in self.choices:
            valid = ", ".join(str(c) for c in self.choices)
            raise ParameterError(
                f"parameter {self.name}: {value!r} is not valid; valid values: {valid}"
            )
        if (self.minimum is not None and value < self.minimum) or (
            self.maximum is not None and value > self.maximum
        ):
            raise ParameterError(f"parameter {self.name}: {value!r} is out of range{self._range()}")
        return value

    def _range(self) -> str:
        if self.minimum is None and self.maximum is None:
            return ""
        low = "" if self.minimum is None else f"{self.minimum} <= "
        high = "" if self.maximum is None else f" <= {self.maximum}"
        return f"; valid: {low}{self.name}{high}"


def resolve_parameters(
    declared: Sequence[Parameter], given: Mapping[str, Any]
) -> dict[str, Any]:
    """Defaults overridden by ``given``; unknown names raise, listing the valid ones.

    >>> resolve_parameters([Parameter("n", 1)], {"m": 2})
    Traceback (most recent call last):
    ...
    model_check.spec.ParameterError: unknown parameter 'm'; valid parameters: n=1
    """
    by_name = {p.name: p for p in declared}
    unknown = [name for name in given if name not in by_name]
    if unknown:
        valid = ", ".join(f"{p.name}={p.default}" for p in declared) or "(none)"
        raise ParameterError(f"unknown parameter {unknown[0]!r}; valid parameters: {valid}")
    values = {p.name: p.default for p in declared}
    for name, value in given.items():
        values[name] = by_name[name].check(value)
    return values


class Spec:
    """Base class of specs.  Subclass it and override the four methods.

    Contract: states are hashable; ``actions`` and ``next_state`` are pure functions of
    their arguments (same input, same output, in the same order); ``next_state`` is only
    called with an action ``actions`` returned for that state.  ``is_done`` marks the
    states where the system may legitimately stop; any other state with no enabled action
    is a deadlock.  ``successors`` may be overridden as a fast path; the checker verifies
    that it agrees with ``actions``/``next_state`` on the states it validates.
    """

    name: ClassVar[str] = ""
    parameters: ClassVar[tuple[Parameter, ...]] = ()

    def __init__(self, **params: Any) -> None:
        self.params: dict[str, Any] = resolve_parameters(type(self).parameters, params)

    @property
    def title(self) -> str:
        """The spec's name followed by its parameters, e.g. ``POST_FIX(requests=2)``."""
        args = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.name or type(self).__name__}({args})"

    def init_states(self) -> Iterable[State]:
        raise NotImplementedError

    def actions(self, state: State) -> Sequence[Action]:
        raise NotImplementedError

    def next_state(self, state: State, action: Action) -> State:
        raise NotImplementedError

    def properties(self) -> Sequence[Property]:
        return ()

    def is_done(self, state: State) -> bool:
        """True where a state with no enabled action is a legitimate end, not a deadlock."""
        return False

    def successors(self, state: State) -> list[tuple[Action, State]]:
        """Every ``(action, next_state)`` pair, in the order of :meth:`actions`."""
        return [(a, self.next_state(state, a)) for a in self.actions(state)]

    def canonical(self, state: State) -> State:
        """Symmetry reduction (optional): a representative of ``state``'s class, e.g. with
        interchangeable processes sorted.  Used only by ``check(..., symmetry=True)``."""
        return state

    def fast_model(self) -> Any:
        """Opt in to the fast path (optional): a :class:`model_check.fast.FastModel`
        declaring each variable's domain, the actions as guarded commands over codes and a
        vectorised form of each property; None (the default) keeps the plain path.

        The checker validates the declaration against this spec on the first states
        (``check(validate=N)``): a value outside its declared domain, or a command that
        disagrees with :meth:`successors`, is a :class:`SpecError`.

        >>> from model_check.fast import FastModel, Var, Command
        >>> class Flip(Spec):
        ...     def init_states(self): return [(False,)]
        ...     def actions(self, s): return ["flip"]
        ...     def next_state(self, s, a): return (not s[0],)
        ...     def fast_model(self):
        ...         return FastModel([Var("up", (False, True))],
        ...                          [Command("flip", None, lambda v: {"up": 1 - v.up})])
        >>> from model_check import check
        >>> r = check(Flip())
        >>> r.fast, r.states, r.transitions
        (True, 2, 2)
        """
        return None

    def memo_steps(self) -> Any:
        """Opt in to the memo path (optional): a :class:`model_check.memo.Steps` declaring
        that :meth:`next_state` applies a step to a
        :func:`model_check.record.mutable_record` copy of the state and that
        :meth:`actions` is the concatenation of functions reading the state by attribute;
        the checker then memoizes each step on the fields it read.  None (the default)
        keeps the plain path.  The validation pass compares the declaration with
        :meth:`actions` and :meth:`next_state` on the first states (a difference is a
        :class:`SpecError`)."""
        return None

    def fields(self, state: State) -> dict[str, Any]:
        """The state as named variables, for printing only what a step changed."""
        if hasattr(state, "_asdict"):
            return dict(state._asdict())  # type: ignore[attr-defined]
        if dataclasses.is_dataclass(state) and not isinstance(state, type):
            return {f.name: getattr(state, f.name) for f in dataclasses.fields(state)}
        if isinstance(state, Mapping):
            return dict(state)
        return {"state": state}

    def format_action(self, action: Action) -> str:
        """How an action is printed: tuples are joined with spaces."""
        if isinstance(action, tuple):
            return " ".join(str(part) for part in action)
        return str(action)

    # -- fairness, for liveness checks (model_check.liveness) --------------------------------

    def task(self, action: Action) -> Hashable | None:
        """The task (process) ``action`` is a step of, for weak fairness; None: no task.

        Weak fairness per task: a task that stays enabled (some action of it is enabled in
        every state from some point on) eventually takes a step.  Default: ``action[0]``
        for a tuple action, e.g. ``"gen0"`` for ``("gen0", "gen.start")``, else the action.
        """
        if isinstance(action, tuple) and action:
            return action[0]
        return action

    def fair_tasks(self) -> Collection[Hashable] | None:
        """The tasks under weak fairness; None (the default) means every task.

        A task left out (an environment choice, a client that may stop calling) may be
        starved forever, so a cycle that never schedules it is still a counterexample.
        """
        return None

    # -- optional hooks for reports (defaults keep every spec working without them) --------

    def explain(self, state: State) -> list[str]:
        """Who waits on what, and who holds it, in ``state`` (printed under a deadlock).

        Lines such as ``"upd0 waits for CL, held by pauser at pause.sleep"``.  Default: none.
        """
        return []

    def legend(self) -> dict[str, str]:
        """Every abbreviation the spec prints (in fields, actions, values) -> its meaning.

        Printed by ``--legend`` and under text traces.  Default: empty.
        """
        return {}

    def action_source(self, action: Action) -> tuple[str, int] | None:
        """``(path, line)`` of the code that implements ``action``, for SARIF and annotations.

        The default looks for a dispatch table: a dict attribute of the spec whose key is the
        action or one of its tuple components and whose value is a function or method; it
        falls back to :meth:`next_state` of the spec's class.  None if no source is found.
        """
        return default_action_source(self, action)

    def lanes(self, action: Action, before: State, after: State) -> list[tuple[str, str, str]]:
        """The arrows a step draws in a sequence diagram: ``(source, target, text)``.

        Lanes are tasks, locks, queues or the scheduler, named as the spec likes; the
        acting task should be the source of at least one arrow.  Default: one self-arrow
        on the acting task (the first component of a tuple action) labelled with the action.
        """
        actor = str(action[0]) if isinstance(action, tuple) and action else "spec"
        text = self.format_action(action)
        return [(actor, actor, text)]


def _source_of(obj: Any) -> tuple[str, int] | None:
    import inspect

    func = getattr(obj, "__func__", obj)
    try:
        path = inspect.getsourcefile(func)
        _, line = inspect.getsourcelines(func)
    except (TypeError, OSError):
        return None
    return (path, line) if path else None


def default_action_source(spec: Spec, action: Action) -> tuple[str, int] | None:
    """The generic lookup behind :meth:`Spec.action_source`.

    >>> class Door(Spec):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self._step = {"open": self._open}
    ...     def _open(self, s): return "open"
    >>> path, line = default_action_source(Door(), ("door", "open"))
    >>> path.endswith(".py") or path.startswith("<"), line > 0
    (True, True)
    """
    keys = list(action) if isinstance(action, tuple) else [action]
    keys.append(action)
    for value in vars(spec).values():
        if not isinstance(value, dict):
            continue
        for key in reversed(keys):
            try:
                handler = value.get(key)
            except TypeError:  # an unhashable component
                continue
            if callable(handler):
                found = _source_of(handler)
                if found:
                    return found
    return _source_of(type(spec).next_state)


SpecFactory = Callable[..., Spec]


def instantiate(target: Any, params: Mapping[str, Any]) -> Spec:
    """Build a :class:`Spec` from a Spec subclass, a factory, or an instance.

    A factory is any callable with a ``parameters`` attribute returning a Spec.
    """
    if isinstance(target, Spec):
        if params:
            raise ParameterError(
                f"{target.title} is already instantiated; it takes no -D parameters"
            )
        return target
    if callable(target) and hasattr(target, "parameters"):
        spec = target(**params)
        if not isinstance(spec, Spec):
            raise SpecError(f"{target!r} returned {type(spec).__name__}, not a model_check.Spec")
        return spec
    raise SpecError(
        f"{target!r} is not a spec: expected a model_check.Spec subclass, instance, "
        "or a factory with a 'parameters' attribute"
    )


def parameters_of(target: Any) -> tuple[Parameter, ...]:
    """The parameters a spec target declares."""
    if isinstance(target, Spec):
        return type(target).parameters
    return tuple(getattr(target, "parameters", ()))
