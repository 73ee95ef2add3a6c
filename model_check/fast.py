"""The fast path: packed states, level-batched vectorised successors, compact parent links.

A spec opts in by returning a :class:`FastModel` from :meth:`Spec.fast_model`.  The model
declares, next to the plain Python functions (which stay the reference):

* the state's variables and their finite domains (:class:`Var`), plus optionally one array of
  identical processes (:class:`Processes`), each in a local state from a finite domain;
* the actions as guarded commands over *codes* (a value's index in its variable's domain):
  :class:`Command` for a global action, :class:`Step` for a process moving from one local
  state to another (one action per process, labelled ``step.label(i)``);
* a vectorised form of each property (and of ``is_done`` when the spec overrides it).

The search packs each state into one 64-bit integer (every variable gets the bits its domain
needs), expands a whole breadth-first level at once with numpy (one boolean mask per command),
keeps the visited set as one sorted ``int64`` array and, for each state, only its parent's
index and the command that reached it (4 + 2 or 4 bytes).  A trace is rebuilt by replaying the
commands from the initial state through the spec's own ``next_state``, so every trace is a real
path of the plain spec.

With symmetry reduction, the processes are stored as *counts* per local state (a canonical
form of the multiset, with no cap on the number of processes): a step fires once per local
state instead of once per process, and counts as ``count[source]`` transitions, so the figures
equal those of the plain search with ``canonical`` sorting the processes.

Before the search, :func:`validate_model` compares the commands with the spec's
``successors``, the vectorised properties with the plain ones and the declared domains with
the values met, on the states the plain validation pass explored (``check(validate=N)``);
any difference is a :class:`SpecError`.  During the search every update is checked against
its variable's domain too.

Guards and updates receive a :class:`Columns` view ``v``: ``v.name`` is the column of codes of
variable ``name`` (an ``int64`` array), ``v.count(value)`` the number of processes in a local
state (symmetric mode only).  A guard returns a boolean array (or ``True``); an update returns
``{variable: new codes}`` for the rows where the guard held.  Step guards see the global
variables only.

Examples
--------
A counter that two identical workers increment, each going ``idle -> busy -> idle``:

>>> from model_check.spec import Spec, always
>>> class Two(Spec):
...     def init_states(self): return [(0, "idle", "idle")]
...     def successors(self, s):
...         out = []
...         for i in (0, 1):
...             w = list(s)
...             if s[1 + i] == "idle" and s[0] < 3:
...                 w[1 + i] = "busy"; w[0] += 1; out.append((f"start[{i}]", tuple(w)))
...             elif s[1 + i] == "busy":
...                 w[1 + i] = "idle"; out.append((f"stop[{i}]", tuple(w)))
...         return out
...     def actions(self, s): return [a for a, _ in self.successors(s)]
...     def next_state(self, s, a): return dict(self.successors(s))[a]
...     def is_done(self, s): return s[0] == 3
...     def properties(self): return [always("bounded", lambda s: s[0] <= 3)]
...     def canonical(self, s): return (s[0],) + tuple(sorted(s[1:]))
...     def fast_model(self):
...         return FastModel(
...             vars=[Var("n", range(4))],
...             processes=Processes("w", 2, ("idle", "busy")),
...             steps=[Step(lambda i: f"start[{i}]", "idle", "busy", lambda v: v.n < 3,
...                         lambda v: {"n": v.n + 1}),
...                    Step(lambda i: f"stop[{i}]", "busy", "idle")],
...             properties={"bounded": lambda v: v.n <= 3},
...             done=lambda v: v.n == 3)
>>> from model_check import check
>>> r = check(Two())
>>> r.verdict, r.states, r.transitions, r.depth, r.fast
('ok', 12, 20, 6, True)
>>> check(Two(), symmetry=True).states
9
"""

from __future__ import annotations

import bisect
from collections import Counter
import dataclasses
import resource
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .spec import Action, ModelCheckError, Property, SpecError, State

#: States expanded per vectorised batch; bounds the transient memory of a level.
CHUNK = 1 << 15


@dataclasses.dataclass(frozen=True)
class Var:
    """A state variable and its finite domain (the values it may take, in code order).

    >>> Var("mode", ("free", "held")).domain
    ('free', 'held')
    """

    name: str
    domain: Sequence[Any]

    def __post_init__(self) -> None:
        object.__setattr__(self, "domain", tuple(self.domain))
        if not self.domain:
            raise SpecError(f"variable {self.name!r}: empty domain")


@dataclasses.dataclass(frozen=True)
class Processes:
    """``count`` identical processes, each in a local state from ``domain``.

    In the state they follow the variables: a flat tuple ``(*vars, *locals)`` by default, or
    the last field of ``FastModel.state_type`` holding ``tuple(locals)``.
    """

    name: str
    count: int
    domain: Sequence[Any]

    def __post_init__(self) -> None:
        object.__setattr__(self, "domain", tuple(self.domain))
        if self.count < 1 or not self.domain:
            raise SpecError(f"processes {self.name!r}: need count >= 1 and a non-empty domain")


Guard = Callable[["Columns"], Any]
Update = Callable[["Columns"], Mapping[str, Any]]


@dataclasses.dataclass(frozen=True)
class Command:
    """A global action ``label``: where ``guard(v)`` holds, set the variables ``update(v)``
    returns (codes)."""

    label: Action
    guard: Guard | None = None
    update: Update | None = None


@dataclasses.dataclass(frozen=True)
class Step:
    """Process ``i`` in local state ``source`` moves to ``target`` as action ``label(i)``,
    where ``guard(v)`` holds on the global variables, which ``update(v)`` then sets."""

    label: Callable[[int], Action]
    source: Any
    target: Any
    guard: Guard | None = None
    update: Update | None = None


@dataclasses.dataclass(frozen=True)
class FastModel:
    """What the fast path needs from a spec (see the module docstring)."""

    vars: Sequence[Var]
    commands: Sequence[Command] = ()
    processes: Processes | None = None
    steps: Sequence[Step] = ()
    properties: Mapping[str, Callable[["Columns"], Any]] = dataclasses.field(default_factory=dict)
    done: Callable[["Columns"], Any] | None = None
    state_type: Callable[..., State] | None = None

    def code(self, name: str, value: Any) -> int:
        """The code of ``value`` in variable ``name``'s domain (for guards and updates).

        >>> FastModel([Var("m", ("free", "held"))]).code("m", "held")
        1
        """
        for v in self.vars:
            if v.name == name:
                return v.domain.index(value)
        if self.processes is not None and name == self.processes.name:
            return self.processes.domain.index(value)
        raise SpecError(f"no variable {name!r}; variables: {', '.join(v.name for v in self.vars)}")


class Unsupported(ModelCheckError):
    """The fast path cannot run this search (the plain path runs it instead)."""


class Codec:
    """Packing of a spec's states into non-negative integers below 2**63."""

    def __init__(self, model: FastModel, symmetric: bool, title: str) -> None:
        self.model = model
        self.symmetric = symmetric
        self.title = title
        self.names: list[str] = [v.name for v in model.vars]
        self.domains: list[tuple[Any, ...]] = [tuple(v.domain) for v in model.vars]
        self.sizes: list[int] = [len(d) for d in self.domains]
        self.lookup = [{val: k for k, val in enumerate(d)} for d in self.domains]
        self.types = [[val.__class__ for val in d] for d in self.domains]
        self.typesets = [set(t) for t in self.types]
        # domains whose values are their own codes (0..n-1, or False/True, all of one class):
        # pack_many converts such a column with one numpy call instead of a lookup per value
        self.identity = [len(set(t)) == 1 and t[0] in (int, bool)
                         and all(val == k for k, val in enumerate(d))
                         for d, t in zip(self.domains, self.types)]
        widths = [max(1, (n - 1).bit_length()) for n in self.sizes]
        procs = model.processes
        self.nproc = procs.count if procs else 0
        self.local = tuple(procs.domain) if procs else ()
        self.local_lookup = {val: k for k, val in enumerate(self.local)}
        if procs:
            if symmetric:
                widths += [self.nproc.bit_length()] * len(self.local)
            else:
                widths += [max(1, (len(self.local) - 1).bit_length())] * self.nproc
        self.shifts: list[int] = []
        total = 0
        for w in widths:
            self.shifts.append(total)
            total += w
        self.masks = [(1 << w) - 1 for w in widths]
        if total > 63:
            raise Unsupported(f"{title}: a packed state needs {total} bits (at most 63)")
        self.bits = total
        self.field = {n: k for k, n in enumerate(self.names)}
        self.nvars = len(self.names)

    def split(self, state: Any) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        values = tuple(state)
        if self.model.processes is None:
            return values, ()
        if self.model.state_type is not None:
            return values[:-1], tuple(values[-1])
        return values[: self.nvars], values[self.nvars:]

    def make(self, values: Sequence[Any], locals_: Sequence[Any]) -> Any:
        if self.model.state_type is not None:
            if self.model.processes is None:
                return self.model.state_type(*values)
            return self.model.state_type(*values, tuple(locals_))
        return tuple(values) + tuple(locals_)

    def pack(self, state: Any) -> int:
        """The code of ``state``; a value outside its declared domain is a SpecError."""
        values, locals_ = self.split(state)
        if len(values) != self.nvars or len(locals_) != self.nproc:
            raise SpecError(f"{self.title}: state {state!r} does not have the declared shape "
                            f"({self.nvars} variables and {self.nproc} processes)")
        code = 0
        for k, val in enumerate(values):
            c = self.lookup[k].get(val)
            if c is None or val.__class__ is not self.types[k][c]:
                raise SpecError(f"{self.title}: variable {self.names[k]!r} has value {val!r}, "
                                f"outside its declared domain {self.domains[k]!r}")
            code |= c << self.shifts[k]
        counts = [0] * len(self.local)
        for i, val in enumerate(locals_):
            c = self.local_lookup.get(val)
            if c is None:
                raise SpecError(f"{self.title}: process {self.model.processes.name}[{i}] "  # type: ignore[union-attr]
                                f"has value {val!r}, outside its declared domain {self.local!r}")
            if self.symmetric:
                counts[c] += 1
            else:
                code |= c << self.shifts[self.nvars + i]
        if self.symmetric:
            for c, n in enumerate(counts):
                code |= n << self.shifts[self.nvars + c]
        return code

    def pack_many(self, states: Sequence[Any]) -> Any:
        """The codes of ``states`` as an int64 array, packed column by column (same checks
        and errors as :meth:`pack`)."""
        import numpy as np

        if not states:
            return np.zeros(0, dtype=np.int64)
        if self.model.processes is not None and self.model.state_type is not None:
            rows = [tuple(s)[:-1] + tuple(s[-1]) for s in states]
        else:
            rows = [tuple(s) for s in states]
        width = self.nvars + self.nproc
        if any(len(r) != width for r in rows):
            bad = next(s for s, r in zip(states, rows) if len(r) != width)
            return np.array([self.pack(bad)])  # raises the shape error
        columns = list(zip(*rows))
        code = np.zeros(len(rows), dtype=np.int64)
        for k in range(self.nvars):
            col = columns[k]
            try:
                if not set(map(type, col)) <= self.typesets[k]:
                    raise KeyError(k)
                if self.identity[k]:
                    codes = np.array(col, dtype=np.int64)
                    if codes.min() < 0 or codes.max() >= self.sizes[k]:
                        raise KeyError(k)
                else:
                    codes = np.array(list(map(self.lookup[k].__getitem__, col)), dtype=np.int64)
            except (KeyError, TypeError):  # one at a time: raises, naming variable and value
                return np.array([self.pack(s) for s in states], dtype=np.int64)
            code |= codes << self.shifts[k]
        for i in range(self.nproc):
            col = columns[self.nvars + i]
            try:
                codes = np.array(list(map(self.local_lookup.__getitem__, col)), dtype=np.int64)
            except (KeyError, TypeError):
                return np.array([self.pack(s) for s in states], dtype=np.int64)
            if self.symmetric:
                for c in range(len(self.local)):
                    code += (codes == c).astype(np.int64) << self.shifts[self.nvars + c]
            else:
                code |= codes << self.shifts[self.nvars + i]
        return code

    def unpack(self, code: int) -> Any:
        """The state of ``code`` (with symmetry: the one with processes sorted by code)."""
        values = [self.domains[k][(code >> self.shifts[k]) & self.masks[k]]
                  for k in range(self.nvars)]
        locals_: list[Any] = []
        for j in range(self.nvars, len(self.shifts)):
            c = (code >> self.shifts[j]) & self.masks[j]
            if self.symmetric:
                locals_ += [self.local[j - self.nvars]] * c
            else:
                locals_.append(self.local[c])
        return self.make(values, locals_)


class Columns:
    """Columns of codes of a batch of packed states, computed on first use."""

    __slots__ = ("_packed", "_codec", "_cache")

    def __init__(self, packed: Any, codec: Codec) -> None:
        self._packed = packed
        self._codec = codec
        self._cache: dict[int, Any] = {}

    def _column(self, k: int) -> Any:
        col = self._cache.get(k)
        if col is None:
            c = self._codec
            col = (self._packed >> c.shifts[k]) & c.masks[k]
            self._cache[k] = col
        return col

    def __getattr__(self, name: str) -> Any:
        k = self._codec.field.get(name)
        if k is None:
            raise AttributeError(f"no variable {name!r}; variables: {', '.join(self._codec.names)}")
        return self._column(k)

    def count(self, value: Any) -> Any:
        """Number of processes in local state ``value`` (symmetric mode only)."""
        c = self._codec
        if not c.symmetric:
            raise SpecError(f"{c.title}: count() needs symmetry reduction")
        return self._column(c.nvars + c.local_lookup[value])

    def slot(self, i: int) -> Any:
        """Local-state code of process ``i`` (non-symmetric mode only)."""
        return self._column(self._codec.nvars + i)


class Engine:
    """Vectorised expansion of batches of packed states."""

    def __init__(self, model: FastModel, symmetric: bool, title: str) -> None:
        import numpy as np

        self.np = np
        self.codec = codec = Codec(model, symmetric, title)
        self.model = model
        self.title = title
        # (label or step, guard, [(shift, clear-mask, var index or None, code)], update, slot)
        self.commands: list[tuple[Any, ...]] = []
        for cmd in model.commands:
            self.commands.append((cmd.label, cmd.guard, cmd.update, None, None, None))
        for step in model.steps:
            if step.source not in codec.local_lookup or step.target not in codec.local_lookup:
                raise SpecError(f"{title}: step {step.label(0)!r} moves between "
                                f"{step.source!r} and {step.target!r}; declared local states: "
                                f"{codec.local!r}")
            src, dst = codec.local_lookup[step.source], codec.local_lookup[step.target]
            if symmetric:
                self.commands.append((step, step.guard, step.update, src, dst, None))
            else:
                for i in range(codec.nproc):
                    self.commands.append((step, step.guard, step.update, src, dst, i))
        self.cmd_dtype = np.int16 if len(self.commands) < 32000 else np.int32

    def _set(self, packed: Any, k: int, values: Any, label: Any) -> Any:
        np = self.np
        c = self.codec
        if k < c.nvars:
            if isinstance(values, np.ndarray):
                if len(values) and (values.min() < 0 or values.max() >= c.sizes[k]):
                    bad = (values < 0) | (values >= c.sizes[k])
                    v = int(values[bad][0])
                    raise SpecError(f"{self.title}: command {label!r} sets variable "
                                    f"{c.names[k]!r} to code {v}, outside its declared domain "
                                    f"{c.domains[k]!r}")
                values = values.astype(np.int64, copy=False)
            elif not 0 <= int(values) < c.sizes[k]:
                raise SpecError(f"{self.title}: command {label!r} sets variable {c.names[k]!r} "
                                f"to code {values!r}, outside its declared domain {c.domains[k]!r}")
        return (packed & ~(c.masks[k] << c.shifts[k])) | (values << c.shifts[k])

    def expand(self, packed: Any) -> tuple[Any, Any, Any, int, Any]:
        """Successors of a batch: (codes, source rows, command ids, transitions, enabled)."""
        np = self.np
        c = self.codec
        v = Columns(packed, c)
        n = len(packed)
        enabled = np.zeros(n, dtype=bool)
        outs, rows, cmds = [], [], []
        transitions = 0
        for cid, (label, guard, update, src, dst, slot) in enumerate(self.commands):
            if src is None:
                mask = guard(v) if guard is not None else True
            else:
                k = c.nvars + (src if slot is None else slot)
                local = v._column(k)
                here = local > 0 if slot is None else local == src
                mask = here if guard is None else here & guard(v)
            if mask is True:
                mask = np.ones(n, dtype=bool)
            elif not isinstance(mask, np.ndarray):
                mask = np.full(n, bool(mask))
            idx = np.flatnonzero(mask)
            if not len(idx):
                continue
            enabled |= mask
            sub = packed[idx]
            if src is not None:
                if slot is None:
                    kk = c.nvars + src
                    transitions += int(v._column(kk)[idx].sum())
                    sub = sub - (1 << c.shifts[kk]) + (1 << c.shifts[c.nvars + dst])
                else:
                    transitions += len(idx)
                    sub = self._set(sub, c.nvars + slot, dst, label)
            else:
                transitions += len(idx)
            if update is not None:
                sv = Columns(packed[idx], c)
                for name, values in update(sv).items():
                    k = c.field.get(name)
                    if k is None:
                        raise SpecError(f"{self.title}: command {self._label(label, slot)!r} "
                                        f"updates unknown variable {name!r}; variables: "
                                        f"{', '.join(c.names)}")
                    sub = self._set(sub, k, values, self._label(label, slot))
            outs.append(sub)
            rows.append(idx)
            cmds.append(np.full(len(idx), cid, dtype=self.cmd_dtype))
        if not outs:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros(0, dtype=self.cmd_dtype), 0, enabled
        return (np.concatenate(outs), np.concatenate(rows), np.concatenate(cmds), transitions,
                enabled)

    @staticmethod
    def _label(label: Any, slot: int | None) -> Any:
        if isinstance(label, Step):
            return label.label(0 if slot is None else slot)
        return label

    def action(self, cid: int, state: Any) -> Action:
        """The concrete action of command ``cid`` in ``state`` (a real process for steps)."""
        label, _, _, src, _, slot = self.commands[cid]
        if not isinstance(label, Step):
            return label
        if slot is None and state is not None:
            _, locals_ = self.codec.split(state)
            slot = next(i for i, val in enumerate(locals_)
                        if self.codec.local_lookup.get(val) == src)
        return label.label(slot)

    def predicate(self, fn: Callable[[Columns], Any], packed: Any) -> Any:
        np = self.np
        out = fn(Columns(packed, self.codec))
        if not isinstance(out, np.ndarray):
            out = np.full(len(packed), bool(out))
        return out.astype(bool, copy=False)


def validate_model(engine: Engine, spec: Any, props: Sequence[Property],
                   explored: Sequence[tuple[Any, Sequence[tuple[Any, Any]]]]) -> None:
    """Compare the fast model with the plain spec on the states the validation pass explored
    (each with its ``(action, next state)`` pairs): the declared domains, every command's
    successors, every vectorised property and ``done``; raise SpecError on a difference."""
    codec = engine.codec
    title = spec.title
    if not explored:
        return
    np = engine.np
    batch = [s for s, _ in explored]
    packed = codec.pack_many(batch)
    succ_a = codec.pack_many([t for _, want in explored for _, t in want])
    out, rows, cmds, _, _ = engine.expand(packed)
    theirs_rows = np.repeat(np.arange(len(explored), dtype=np.int64),
                            [len(want) for _, want in explored])
    if codec.symmetric:
        # each step fires once per local state: compare the classes reached from each state
        agree = set(zip(rows.tolist(), out.tolist())) == set(zip(theirs_rows.tolist(),
                                                                  succ_a.tolist()))
    else:
        # the same multiset of (state, action, successor) on both sides, compared as sorted
        # arrays (actions numbered by their label; an action no command has is a difference)
        labels = [engine.action(cid, None) for cid in range(len(engine.commands))]
        number: dict[Any, int] = {}
        for a in labels:
            number.setdefault(a, len(number))
        mine_l = np.array([number[a] for a in labels], dtype=np.int64)[cmds.astype(np.int64)]
        theirs_l = np.array([number.get(a, -1) for _, want in explored for a, _ in want],
                            dtype=np.int64)
        agree = len(out) == len(succ_a) and not (theirs_l < 0).any()
        if agree and len(out):
            mine_o = np.lexsort((out, mine_l, rows))
            theirs_o = np.lexsort((succ_a, theirs_l, theirs_rows))
            agree = bool((rows[mine_o] == theirs_rows[theirs_o]).all()
                         and (mine_l[mine_o] == theirs_l[theirs_o]).all()
                         and (out[mine_o] == succ_a[theirs_o]).all())
    if not agree:
        out_l, rows_l, cmds_l = out.tolist(), rows.tolist(), cmds.tolist()
        succ = succ_a.tolist()
        got: list[list[tuple[Any, int]]] = [[] for _ in batch]
        for code, row, cid in zip(out_l, rows_l, cmds_l):
            got[row].append((engine.action(cid, batch[row]), code))
        at = 0
        for r, (s, want) in enumerate(explored):
            codes = succ[at: at + len(want)]
            at += len(want)
            if codec.symmetric:
                same = {c for _, c in got[r]} == set(codes)
            else:
                same = Counter(got[r]) == Counter(zip((a for a, _ in want), codes))
            if not same:
                mine_show = [(a, codec.unpack(c)) for a, c in got[r]]
                raise SpecError(f"{title}: the fast model's successors disagree with "
                                f"successors() in state {s!r}: fast {mine_show!r}, "
                                f"plain {list(want)!r}")
    for p in props:
        fast = engine.predicate(engine.model.properties[p.name], packed).tolist()
        for r, s in enumerate(batch):
            if fast[r] != bool(p.predicate(s)):
                raise SpecError(f"{title}: the fast form of property {p.name!r} gives "
                                f"{fast[r]} in state {s!r}, the plain one {not fast[r]}")
    if engine.model.done is not None:
        fast = engine.predicate(engine.model.done, packed).tolist()
        for r, s in enumerate(batch):
            if fast[r] != bool(spec.is_done(s)):
                raise SpecError(f"{title}: the fast form of is_done gives {fast[r]} "
                                f"in state {s!r}, is_done() {not fast[r]}")


def _unique(np: Any, codes: Any, bits: int) -> tuple[Any, Any]:
    """Sorted distinct ``codes`` and, for each, the position of one occurrence.

    When a code and a position fit together in 63 bits, one plain sort of ``code << k |
    position`` replaces numpy's stable argsort (several times faster)."""
    n = len(codes)
    k = max(1, (n - 1).bit_length())
    if bits + k > 63:
        return np.unique(codes, return_index=True)
    keyed = (codes << k) | np.arange(n, dtype=np.int64)
    keyed.sort()
    sorted_codes = keyed >> k
    keep = np.empty(n, dtype=bool)
    keep[0] = True
    np.not_equal(sorted_codes[1:], sorted_codes[:-1], out=keep[1:])
    chosen = keyed[keep]
    return chosen >> k, chosen & ((1 << k) - 1)


def _large_arrays_to_the_os() -> None:
    """Ask glibc to serve every large allocation by mmap and to give it back when freed.

    By default glibc raises its mmap threshold after the first large free, after which the
    level arrays come from the heap, which fragments and never shrinks: the peak resident
    memory of a large search then grows by a third.  Elsewhere this does nothing."""
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return
    _MALLOC_TUNED = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 17)  # M_MMAP_THRESHOLD: fixed at 128 KiB
    except (OSError, AttributeError):
        pass


_MALLOC_TUNED = False


def _rss() -> int:
    """Resident memory of this process in bytes (peak if the current value is unknown)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclasses.dataclass
class Outcome:
    """What :func:`search` found, before the checker turns it into a Result."""

    found: dict[str, tuple[str, int]]
    states: int
    transitions: int
    depth: int
    complete: bool
    limit: str | None
    initial: list[Any]
    parents: Callable[[int], tuple[int, int]]


def search(engine: Engine, spec: Any, props: Sequence[Property], check_deadlock: bool,
           stop_first: bool, max_states: int | None, max_seconds: float | None,
           max_memory: int | None, report: Any, progress_after: float,
           start: float) -> Outcome:
    """Breadth-first search over packed states, one level at a time."""
    np = engine.np
    codec = engine.codec
    model = engine.model
    _large_arrays_to_the_os()
    always_left = [p.name for p in props if p.kind == "always"]
    sometimes_left = [p.name for p in props if p.kind == "sometimes"]
    found: dict[str, tuple[str, int]] = {}
    done_fn = model.done

    initial: list[Any] = []
    codes: list[int] = []
    for s in spec.init_states():
        c = codec.pack(s)
        if c not in codes:
            codes.append(c)
            initial.append(s)
    level = np.array(codes, dtype=np.int64)
    visited = np.sort(level)
    offsets = [0]  # global index of each level's first state
    par_levels = [np.full(len(level), -1, dtype=np.int32)]
    cmd_levels = [np.full(len(level), -1, dtype=engine.cmd_dtype)]
    total = len(level)

    def note(packed: Any, base: int) -> None:
        for name in list(always_left):
            bad = ~engine.predicate(model.properties[name], packed)
            if bad.any():
                found[name] = ("always", base + int(np.argmax(bad)))
                always_left.remove(name)
        for name in list(sometimes_left):
            hit = engine.predicate(model.properties[name], packed)
            if hit.any():
                found[name] = ("sometimes-hit", base + int(np.argmax(hit)))
                sometimes_left.remove(name)

    note(level, 0)
    may_stop = bool(props or check_deadlock)

    def stop() -> bool:
        if not may_stop:
            return False
        if stop_first and any(k != "sometimes-hit" for k, _ in found.values()):
            return True
        return not always_left and not sometimes_left and (
            not check_deadlock or "deadlock" in found)

    transitions = depth = 0
    limit: str | None = None
    next_report = start + progress_after
    while len(level) and not stop() and limit is None:
        base = offsets[-1]
        new_parts: list[tuple[Any, Any, Any]] = []
        for lo in range(0, len(level), CHUNK):
            chunk = level[lo: lo + CHUNK]
            out, rows, cmds, count, enabled = engine.expand(chunk)
            transitions += count
            if check_deadlock and "deadlock" not in found and not enabled.all():
                dead = ~enabled
                if done_fn is not None:
                    dead &= ~engine.predicate(done_fn, chunk)
                if dead.any():
                    found["deadlock"] = ("deadlock", base + lo + int(np.argmax(dead)))
            if len(out):
                uniq, first = _unique(np, out, codec.bits)
                if len(visited):
                    at = np.searchsorted(visited, uniq)
                    at[at == len(visited)] = 0
                    fresh = visited[at] != uniq
                    uniq, first = uniq[fresh], first[fresh]
                new_parts.append((uniq, (rows[first] + (base + lo)).astype(np.int32), cmds[first]))
                del out, rows, cmds
            now = time.perf_counter()
            seen_now = total + sum(len(p[0]) for p in new_parts)
            if max_states is not None and seen_now > max_states:
                limit = "states"
            elif max_seconds is not None and now - start > max_seconds:
                limit = "seconds"
            elif max_memory is not None and _rss() > max_memory:
                limit = "memory"
            if report is not None and now >= next_report:
                report(seen_now, transitions, depth, now - start)
                next_report = now + 1.0
            if limit is not None:
                break
        if len(new_parts) == 1:
            new, par, cmd = new_parts[0]
        elif new_parts:
            allc = np.concatenate([p[0] for p in new_parts])
            new, first = _unique(np, allc, codec.bits)
            par = np.concatenate([p[1] for p in new_parts])[first]
            cmd = np.concatenate([p[2] for p in new_parts])[first]
        else:
            new = np.zeros(0, dtype=np.int64)
        del new_parts
        if not len(new):
            level = new
            break
        offsets.append(total)
        par_levels.append(par)
        cmd_levels.append(cmd)
        note(new, total)
        total += len(new)
        visited = np.insert(visited, np.searchsorted(visited, new), new)
        depth += 1
        level = new
    complete = not len(level) and limit is None

    def parents(j: int) -> tuple[int, int]:
        lv = bisect.bisect_right(offsets, j) - 1
        k = j - offsets[lv]
        return int(par_levels[lv][k]), int(cmd_levels[lv][k])

    return Outcome(found, total, transitions, depth, complete, limit, initial, parents)


def replay(engine: Engine, spec: Any, outcome: Outcome, j: int) -> list[tuple[Any, Any]]:
    """The path to state ``j`` as ``[(action, state), ...]``, replayed through ``next_state``."""
    chain = []
    while True:
        par, cid = outcome.parents(j)
        if par < 0:
            break
        chain.append(cid)
        j = par
    state = outcome.initial[j]
    steps: list[tuple[Any, Any]] = [(None, state)]
    for cid in reversed(chain):
        a = engine.action(cid, state)
        state = spec.next_state(state, a)
        steps.append((a, state))
    return steps
