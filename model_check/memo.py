"""The memo path: packed states and memoized steps, keyed on the fields each step read.

A spec whose state is a NamedTuple and whose steps are plain assignments on a
:func:`model_check.record.mutable_record` copy of it can declare them, from
:meth:`Spec.steps`, as a :class:`Steps`:

* ``record``: the record class (``mutable_record(State)`` or a subclass of it with helper
  methods and ``__slots__ = ()``);
* ``apply(work, action)``: the step; it changes ``work`` in place, so that
  ``next_state(s, a)`` is ``apply(record(s), a)`` followed by ``freeze()``;
* ``enabled``: functions ``work -> actions`` whose results, concatenated in order, are
  ``actions(s)`` (a spec splits its actions into parts that read few fields, e.g. one per
  kind of task);
* ``bits``: bits per field in a packed state (each field may take up to ``2**bits``
  distinct values; a mapping gives some fields other widths).

The search then keeps each state as one integer: every field's value is interned (its index
in a per-field table, values compared by equality as the plain path compares states) and
the indices are packed side by side.  Each step runs on a *lazy* record whose fields are
loaded from the packed state on first read, so after the step the engine knows exactly
which fields it read before writing them, and what it wrote.  Steps are pure (the spec
contract, checked by the validation pass), so the same step on any state that agrees on
those fields reads the same values, takes the same path and writes the same values: the
result is stored as ``(fields read, their values) -> (fields written, new values)`` and
later states that match are expanded with two integer operations, ``(code & keep) | set``,
without running the spec.  The ``enabled`` parts are memoized the same way.  A hit is sound
whichever stored read set matches, because a stored entry records a path the step really
takes on every state with those values.

Before the search, :func:`validate_steps` compares the declaration with the spec on the
states the plain validation pass explored (``check(validate=N)``): the packed state must
unpack to the state, the concatenated ``enabled`` parts must equal ``actions``, and every
memoized successor must equal ``next_state`` (in order); any difference is a
:class:`SpecError`.  Specs that declare nothing run on the plain path, which stays the
reference (``check(memo=False)`` forces it; ``tests/test_memo.py`` runs both on the pinned
specs).
"""

from __future__ import annotations

import dataclasses
import time
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .spec import Action, ModelCheckError, Property, SpecError


@dataclasses.dataclass(frozen=True)
class Steps:
    """A spec's steps on a mutable record (see the module's documentation).

    >>> from typing import NamedTuple
    >>> from model_check.record import mutable_record
    >>> from model_check.spec import Spec
    >>> class S(NamedTuple):
    ...     n: int
    ...     on: bool
    >>> Work = mutable_record(S)
    >>> class Count(Spec):
    ...     def init_states(self): return [S(0, False)]
    ...     def _inc(self, w): return ["inc"] if w.n < 3 else []
    ...     def _flip(self, w): return ["flip"]
    ...     def actions(self, s): return self._inc(s) + self._flip(s)
    ...     def _apply(self, w, a):
    ...         if a == "inc": w.n += 1
    ...         else: w.on = not w.on
    ...     def next_state(self, s, a):
    ...         w = Work(s); self._apply(w, a); return w.freeze()
    ...     def memo_steps(self): return Steps(Work, self._apply, (self._inc, self._flip))
    >>> from model_check import check
    >>> r = check(Count())
    >>> r.path, r.states, r.transitions
    ('memo', 8, 14)
    """

    record: type
    apply: Callable[[Any, Action], None]
    enabled: Sequence[Callable[[Any], Sequence[Action]]]
    bits: int | Mapping[str, int] = 24
    split: Mapping[str, int] = dataclasses.field(default_factory=dict)


_UNSET = object()


class Engine:
    """Interning tables, the lazy record and the memo tables of one search.

    A state is packed *slot* by slot: one slot per field, or one per element of a field
    declared in ``split`` (a tuple of that fixed length).  Each slot interns its values.
    """

    def __init__(self, steps: Steps, title: str) -> None:
        record = steps.record
        state_type = getattr(record, "_state_type", None)
        if not isinstance(record, type) or state_type is None:
            raise SpecError(f"{title}: memo_steps().record must be a class made by "
                            f"model_check.record.mutable_record (or a subclass), not {record!r}")
        fields: tuple[str, ...] = state_type._fields
        descriptors = []
        for name in fields:
            d = getattr(record, name, None)
            if not isinstance(d, types.MemberDescriptorType):
                raise SpecError(f"{title}: memo_steps().record's field {name!r} is not a slot")
            descriptors.append(d)
        bits = steps.bits
        for what, names in (("bits", bits if isinstance(bits, Mapping) else {}),
                            ("split", steps.split)):
            unknown = [k for k in names if k not in fields]
            if unknown:
                raise SpecError(f"{title}: memo_steps().{what} names no field {unknown[0]!r}")
        if any(not isinstance(n, int) or n < 0 for n in steps.split.values()):
            raise SpecError(f"{title}: memo_steps().split must give each field a length >= 0")
        self.title = title
        self.steps = steps
        self.state_type = state_type
        self.fields = fields
        self.split = [steps.split.get(f, -1) for f in fields]   # -1: not split
        #: field index -> its slots; slot -> (field index, element or -1)
        self.sub: list[list[int]] = []
        self.slot_of: list[tuple[int, int]] = []
        widths = []
        for i, f in enumerate(fields):
            width = bits.get(f, 24) if isinstance(bits, Mapping) else bits
            if not isinstance(width, int) or width < 1:
                raise SpecError(f"{title}: memo_steps().bits must be positive integers: {bits!r}")
            elements = [-1] if self.split[i] < 0 else list(range(self.split[i]))
            self.sub.append([])
            for e in elements:
                self.sub[i].append(len(self.slot_of))
                self.slot_of.append((i, e))
                widths.append(width)
        self.offsets = [sum(widths[:k]) for k in range(len(widths))]
        self.limits = [(1 << b) - 1 for b in widths]
        self.masks = [m << o for m, o in zip(self.limits, self.offsets)]
        self.field_masks = [sum(self.masks[k] for k in ks) for ks in self.sub]
        self.full = (1 << sum(widths)) - 1
        self.ids: list[dict[Any, int]] = [{} for _ in widths]
        self.values: list[list[Any]] = [[] for _ in widths]
        self.apply = steps.apply
        # enabled part k -> [(read mask, {code & mask: ((action, step memo), ...)})]
        self.enabled: list[tuple[Callable[[Any], Sequence[Action]],
                                 list[tuple[int, dict[int, Any]]]]] = [
            (fn, []) for fn in steps.enabled]
        # action -> [(read mask, {code & mask: (keep mask, set bits)})]
        self.step_memo: dict[Action, list[tuple[int, dict[int, tuple[int, int]]]]] = {}
        self._getters = [d.__get__ for d in descriptors]
        self._lazy = self._lazy_class(record, descriptors)
        self.unpack = self._unpacker()

    # -- packing
    def intern(self, k: int, value: Any) -> int:
        ids = self.ids[k]
        n = ids.get(value)
        if n is None:
            n = len(self.values[k])
            if n > self.limits[k]:
                i, e = self.slot_of[k]
                raise ModelCheckError(
                    f"{self.title}: field {self.fields[i]!r}" + (f" element {e}" if e >= 0 else "")
                    + f" takes more than {self.limits[k] + 1} distinct values; declare more "
                    "bits for it in memo_steps().bits")
            ids[value] = n
            self.values[k].append(value)
        return n

    def _elements(self, i: int, value: Any) -> Any:
        n = self.split[i]
        if type(value) is not tuple or len(value) != n:
            raise SpecError(f"{self.title}: field {self.fields[i]!r} is declared split into "
                            f"{n} elements (memo_steps().split), but has the value {value!r}")
        return value

    def pack(self, state: Any) -> int:
        code = 0
        for i, value in enumerate(state):
            ks = self.sub[i]
            if self.split[i] < 0:
                code |= self.intern(ks[0], value) << self.offsets[ks[0]]
            else:
                for k, v in zip(ks, self._elements(i, value)):
                    code |= self.intern(k, v) << self.offsets[k]
        return code

    def _unpacker(self) -> Callable[[int], Any]:
        def slot(k: int) -> str:
            return f"V{k}[(c >> {self.offsets[k]}) & {self.limits[k]}]"

        parts = []
        for i, ks in enumerate(self.sub):
            if self.split[i] < 0:
                parts.append(slot(ks[0]))
            else:
                parts.append("(" + "".join(slot(k) + ", " for k in ks) + ")")
        namespace: dict[str, Any] = {f"V{k}": v for k, v in enumerate(self.values)}
        namespace.update(_new=tuple.__new__, _type=self.state_type)
        exec(f"def unpack(c):\n    return _new(_type, ({', '.join(parts)},))\n",  # noqa: S102
             namespace)
        return namespace["unpack"]  # type: ignore[no-any-return]

    def _lazy_class(self, record: type, descriptors: list[Any]) -> type:
        index = {name: i for i, name in enumerate(self.fields)}
        values, offsets, limits, masks = self.values, self.offsets, self.limits, self.masks
        sub, split = self.sub, self.split
        setters = [d.__set__ for d in descriptors]

        def load(w: Any, k: int) -> Any:
            set_read(w, w._read | masks[k])
            return values[k][(w._code >> offsets[k]) & limits[k]]

        class Lazy(record):  # type: ignore[misc, valid-type]
            """The record with every field unset: a field (or an element of a split field)
            is loaded on its first read, and every read and write is noted."""

            __slots__ = ("_code", "_read", "_wrote", "_whole", "_elems")

            def __init__(self, code: int) -> None:
                set_code(self, code)
                set_read(self, 0)
                set_wrote(self, [])
                set_whole(self, 0)     # bit i: field i's slot holds its whole value
                set_elems(self, {})    # slot -> value, for elements read or set one by one

            def __getattr__(self, name: str) -> Any:  # only called for an unset slot
                i = index.get(name)
                if i is None:
                    raise AttributeError(name)
                if split[i] < 0:
                    value = load(self, sub[i][0])
                else:
                    elems = self._elems
                    value = tuple(elems[k] if k in elems else load(self, k) for k in sub[i])
                setters[i](self, value)
                set_whole(self, self._whole | 1 << i)
                return value

            def __setattr__(self, name: str, value: Any) -> None:
                i = index.get(name)
                if i is None:
                    raise AttributeError(f"{name!r} is not a field of the state")
                setters[i](self, value)
                set_whole(self, self._whole | 1 << i)
                self._wrote.append(i)

            def item(self, name: str, e: int) -> Any:
                i = index[name]
                if split[i] < 0 or self._whole >> i & 1 or not 0 <= e < split[i]:
                    return getattr(self, name)[e]
                k = sub[i][e]
                elems = self._elems
                value = elems.get(k, _UNSET)
                if value is _UNSET:
                    value = elems[k] = load(self, k)
                return value

            def set_item(self, name: str, e: int, value: Any) -> None:
                i = index[name]
                if split[i] < 0 or self._whole >> i & 1 or not 0 <= e < split[i]:
                    t = getattr(self, name)
                    setattr(self, name, t[:e] + (value,) + t[e + 1:])
                    return
                k = sub[i][e]
                self._elems[k] = value
                self._wrote.append(-1 - k)

        set_code, set_read, set_wrote, set_whole, set_elems = (
            Lazy.__dict__[n].__set__  # type: ignore[attr-defined]
            for n in ("_code", "_read", "_wrote", "_whole", "_elems"))
        return Lazy

    # -- misses: run the spec on a lazy record and store what it read and wrote
    def miss_enabled(self, k: int, code: int) -> tuple[tuple[Action, Any], ...]:
        fn, entries = self.enabled[k]
        w = self._lazy(code)
        acts = tuple((a, self.step_memo.setdefault(a, [])) for a in fn(w))
        self._store(entries, w._read, code, acts)
        return acts

    def _changed(self, k: int, value: Any, read: int, code: int) -> int:
        """The bits that set slot k to ``value``, or -1 when the step read it and left it."""
        if read & self.masks[k] and value is self.values[k][(code >> self.offsets[k])
                                                             & self.limits[k]]:
            return -1
        return self.intern(k, value) << self.offsets[k]

    def miss_step(self, action: Action, entries: list[Any], code: int) -> tuple[int, int]:
        w = self._lazy(code)
        self.apply(w, action)
        read, whole, elems = w._read, w._whole, w._elems
        keep, put = self.full, 0
        for i in set(w._wrote):
            if i >= 0:                                  # a whole field
                value = self._getters[i](w)
                if self.split[i] < 0:
                    pairs = [(self.sub[i][0], value)]
                else:
                    pairs = list(zip(self.sub[i], self._elements(i, value)))
            else:                                       # one element of a split field
                k = -1 - i
                f, e = self.slot_of[k]
                # (once the whole field was read or written, its slot holds the element)
                pairs = [(k, self._getters[f](w)[e] if whole >> f & 1 else elems[k])]
            for k, value in pairs:
                bits = self._changed(k, value, read, code)
                if bits >= 0:
                    keep &= ~self.masks[k]
                    put |= bits
        delta = (keep & self.full, put)
        self._store(entries, read, code, delta)
        return delta

    @staticmethod
    def _store(entries: list[tuple[int, dict[int, Any]]], read: int, code: int,
               value: Any) -> None:
        for mask, table in entries:
            if mask == read:
                table[code & mask] = value
                break
        else:
            entries.append((read, {code & read: value}))
        # lookups try the read sets in this order: the largest tables (most often hit) first
        entries.sort(key=lambda entry: -len(entry[1]))

    def successors(self, code: int) -> list[tuple[Action, int]]:
        """Every ``(action, packed next state)``, in the order of ``actions``."""
        out = []
        for k, (_, entries) in enumerate(self.enabled):
            for mask, table in entries:
                acts = table.get(code & mask)
                if acts is not None:
                    break
            else:
                acts = self.miss_enabled(k, code)
            for a, steps in acts:
                for mask, table in steps:
                    delta = table.get(code & mask)
                    if delta is not None:
                        break
                else:
                    delta = self.miss_step(a, steps, code)
                out.append((a, (code & delta[0]) | delta[1]))
        return out


def memo_engine(spec: Any) -> Engine | None:
    """The memo path's engine for ``spec``, or None when it declares no memo_steps()."""
    steps = spec.memo_steps()
    if steps is None:
        return None
    if not isinstance(steps, Steps):
        raise SpecError(f"{spec.title}: memo_steps() returned {steps!r}, "
                        "not a model_check.memo.Steps")
    return Engine(steps, spec.title)


def validate_steps(engine: Engine, spec: Any,
                   explored: Sequence[tuple[Any, list[tuple[Any, Any]]]]) -> None:
    """Compare the declared steps with the spec on the states the plain validation pass
    explored (each with its ``(action, next state)`` pairs); raise SpecError on a
    difference."""
    from .checker import _show

    title = spec.title
    for s, pairs in explored:
        if type(s) is not engine.state_type:
            raise SpecError(f"{title}: memo_steps() declares states of type "
                            f"{engine.state_type.__name__}, but the spec has the state "
                            f"{_show(s)}")
        code = engine.pack(s)
        if engine.unpack(code) != s:  # pragma: no cover - interning is by equality
            raise SpecError(f"{title}: the packed state does not unpack to {_show(s)}")
        try:
            got = [(a, engine.unpack(t)) for a, t in engine.successors(code)]
        except Exception as exc:
            raise SpecError(f"{title}: memo_steps() raised {exc!r} in state {_show(s)}") from exc
        if [a for a, _ in got] != [a for a, _ in pairs]:
            raise SpecError(
                f"{title}: memo_steps().enabled disagrees with actions() in state {_show(s)}: "
                f"{[a for a, _ in got]!r} vs {[a for a, _ in pairs]!r}")
        for (a, t), (_, expected) in zip(got, pairs):
            if t != expected:
                raise SpecError(
                    f"{title}: memo_steps().apply disagrees with next_state() for action {a!r} in "
                    f"state {_show(s)}: {_show(t)} vs {_show(expected)}")


@dataclasses.dataclass
class Outcome:
    """What :func:`search` found (the checker turns it into a Result)."""

    found: dict[str, tuple[str, int]]
    complete: bool
    states: int
    transitions: int
    depth: int
    initial: int
    limit: str | None
    codes: list[int]
    parent: list[int]
    via: list[Any]


def search(engine: Engine, spec: Any, props: Sequence[Property], check_deadlock: bool,
           stop_first: bool, max_states: int | None, max_seconds: float | None,
           max_memory: int | None, report: Any, progress_after: float,
           start: float) -> Outcome:
    """Breadth-first search over packed states: the same order, figures and stopping rules
    as the plain path's ``_search``."""
    from .checker import Watch, _diagnose

    unpack = engine.unpack
    parts = [(k, entries) for k, (_, entries) in enumerate(engine.enabled)]
    miss_enabled, miss_step = engine.miss_enabled, engine.miss_step
    is_done = spec.is_done
    index: dict[int, int] = {}
    setdefault = index.setdefault
    codes: list[int] = []
    parent: list[int] = []
    via: list[Any] = []
    found: dict[str, tuple[str, int]] = {}
    always_left = [(p.name, p.predicate) for p in props if p.kind == "always"]
    sometimes_left = [(p.name, p.predicate) for p in props if p.kind == "sometimes"]
    limit = max_states if max_states is not None else float("inf")
    watcher = Watch(start, max_seconds, max_memory, report, progress_after)
    watching = watcher.active
    stopped_by: str | None = None

    def note_new(j: int, t: Any) -> None:
        for name, pred in always_left:
            if not pred(t):
                found[name] = ("always", j)
        for name, pred in sometimes_left:
            if pred(t):
                found[name] = ("sometimes-hit", j)
        always_left[:] = [(n, p) for n, p in always_left if n not in found]
        sometimes_left[:] = [(n, p) for n, p in sometimes_left if n not in found]

    may_stop_early = bool(props or check_deadlock)

    def everything_found() -> bool:
        if may_stop_early and stop_first and any(k != "sometimes-hit" for k, _ in found.values()):
            return True
        return may_stop_early and not always_left and not sometimes_left and (
            not check_deadlock or "deadlock" in found)

    try:
        for s in spec.init_states():
            c = engine.pack(s)
            if c not in index:
                index[c] = len(codes)
                codes.append(c)
                parent.append(-1)
                via.append(None)
                note_new(index[c], s)
    except ModelCheckError:
        raise
    except Exception as exc:
        raise SpecError(f"{spec.title}: init_states() or a property on an initial state "
                        f"raised {exc!r}") from exc
    initial = n = len(codes)
    frontier = list(range(initial))
    transitions = 0
    depth = 0
    complete = True
    i = -1
    try:
        while frontier and not everything_found():
            successor_level: list[int] = []
            for i in frontier:
                code = codes[i]
                # engine.successors(code), inlined: the enabled parts, then each action's step
                count = 0
                for k, entries in parts:
                    for mask, table in entries:
                        acts = table.get(code & mask)
                        if acts is not None:
                            break
                    else:
                        acts = miss_enabled(k, code)
                    for a, steps in acts:
                        for mask, table in steps:
                            delta = table.get(code & mask)
                            if delta is not None:
                                break
                        else:
                            delta = miss_step(a, steps, code)
                        t = (code & delta[0]) | delta[1]
                        count += 1
                        j = setdefault(t, n)
                        if j == n:
                            n += 1
                            codes.append(t)
                            parent.append(i)
                            via.append(a)
                            successor_level.append(j)
                            if always_left or sometimes_left:
                                state = unpack(t)
                                if always_left:
                                    for name, pred in always_left:
                                        if not pred(state):
                                            note_new(j, state)
                                            break
                                if sometimes_left:
                                    for name, pred in sometimes_left:
                                        if pred(state):
                                            note_new(j, state)
                                            break
                if not count:
                    if check_deadlock and "deadlock" not in found and not is_done(unpack(code)):
                        found["deadlock"] = ("deadlock", i)
                    continue
                transitions += count
                if len(codes) > limit:
                    stopped_by = "states"
                    break
                if watching and (i & 1023) == 0:
                    stopped_by = watcher.stop(len(codes), transitions, depth)
                    if stopped_by is not None:
                        break
            if successor_level:
                depth += 1
            frontier = successor_level
            if stopped_by is not None:
                break
        if frontier or stopped_by is not None:
            complete = False
    except ModelCheckError:
        raise
    except Exception as exc:
        raise _diagnose(spec, unpack(codes[i]) if i >= 0 else None, exc) from exc
    return Outcome(found, complete, len(codes), transitions, depth, initial, stopped_by,
                   codes, parent, via)
