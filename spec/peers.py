"""Encodings of PAUSE-UPDATE (``spec/PROTOCOL.md section 7``) for the peer checkers of ``spec.bench``.

Each function returns source text that the benchmark writes into a temporary directory at run
time: :func:`musil_source` a Python script for musil's API (``Model``/``Action``, tuple states,
one static action per line of the definition and client), :func:`promela_source` a Promela model for
Spin (one ``d_step`` per line and client in one looping process, the invariant asserted after
every step, a blocked loop being Spin's invalid end state, i.e. a deadlock).  Both follow
the definition line by line, like :mod:`spec.pause_update`, so the three count the same states.

>>> "ctl1_update_begin" in promela_source(2, "B", post_fix=True)
True
>>> compile(musil_source(), "musil_pause_update.py", "exec") is not None
True
"""

from __future__ import annotations

MUSIL = '''"""PAUSE-UPDATE (spec/PROTOCOL.md section 7) for musil: python THIS G SCENARIO pre|post -> one JSON line."""
import json
import resource
import sys
import time

from musil import Action, Model, check

G = int(sys.argv[1])
B = sys.argv[2] == "B"
POST = sys.argv[3] == "post"
IS_PAUSE, C_HELD, WRITER, WW, READERS, INFLIGHT, APPLYING, PFLAG, C1, C2 = range(10)
P0, DRAIN, U0, WWAIT, APPLY, R0, DONE = range(7)
IDLE, GATED, FWD = range(3)


def put(s, **changes):
    t = list(s)
    for name, value in changes.items():
        t[globals()[name]] = value
    return tuple(t)


def update_begin(s):
    t = list(s)
    if POST:
        if s[IS_PAUSE]:
            t[C_HELD] = t[PFLAG] = t[APPLYING] = True
            t[C1] = APPLY
        else:
            t[WW] += 1
            t[C1] = WWAIT
    else:
        t[PFLAG] = s[IS_PAUSE]
        if s[IS_PAUSE]:
            t[APPLYING] = True
            t[C1] = APPLY
        else:
            t[WW] += 1
            t[C1] = WWAIT
    return tuple(t)


def apply_end(s):
    t = list(s)
    t[APPLYING] = False
    if s[PFLAG]:
        if POST:
            t[C_HELD] = False
    else:
        t[WRITER] = False
    t[PFLAG] = False
    t[C1] = R0
    return tuple(t)


actions = [Action("ctl1_pause", lambda s: s[C1] == P0 and not s[C_HELD],
                  lambda s: put(s, IS_PAUSE=True, C1=DRAIN))]
if B:
    actions.append(Action("ctl1_skip_pause", lambda s: s[C1] == P0, lambda s: put(s, C1=U0)))
actions += [
    Action("ctl1_drain", lambda s: s[C1] == DRAIN and s[INFLIGHT] == 0, lambda s: put(s, C1=U0)),
    Action("ctl1_update_begin", lambda s: s[C1] == U0 and not s[C_HELD], update_begin),
    Action("ctl1_write_acquire", lambda s: s[C1] == WWAIT and not s[WRITER] and s[READERS] == 0,
           lambda s: put(s, WW=s[WW] - 1, WRITER=True, APPLYING=True, C1=APPLY)),
    Action("ctl1_apply_end", lambda s: s[C1] == APPLY, apply_end),
    Action("ctl1_resume", lambda s: s[C1] == R0 and not s[C_HELD],
           lambda s: put(s, IS_PAUSE=False, C1=DONE)),
    Action("ctl2_resume", lambda s: s[C2] == 0 and not s[C_HELD],
           lambda s: put(s, IS_PAUSE=False, C2=1)),
]


def client(i):
    k = 10 + i

    def gate(s):
        t = list(s)
        t[INFLIGHT] += 1
        t[k] = GATED
        return tuple(t)

    def read(s):
        t = list(s)
        t[READERS] += 1
        t[k] = FWD
        return tuple(t)

    def release(s):
        t = list(s)
        t[READERS] -= 1
        t[INFLIGHT] -= 1
        t[k] = IDLE
        return tuple(t)

    return [
        Action(f"gate[{i}]", lambda s: s[k] == IDLE and not s[C_HELD] and not s[IS_PAUSE], gate),
        Action(f"read_acquire[{i}]", lambda s: s[k] == GATED and not s[WRITER] and s[WW] == 0,
               read),
        Action(f"forward_end_read_release[{i}]", lambda s: s[k] == FWD, release),
    ]


for i in range(G):
    actions += client(i)
init = (False, False, False, 0, 0, 0, False, False, P0, 0 if B else 1) + (IDLE,) * G
model = Model(init=[init], actions=actions,
              invariants={"no_overlap": lambda s: not (s[APPLYING] and s[READERS] > 0)})
start = time.perf_counter()
result = check(model, max_states=10**9)
seconds = time.perf_counter() - start
print(json.dumps({"states": result.states_explored, "transitions": None, "seconds": seconds,
                  "verdict": "ok" if result.ok else result.kind,
                  "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
'''


def musil_source() -> str:
    """The musil script: ``python musil_pause_update.py G SCENARIO pre|post``."""
    return MUSIL


def promela_source(g: int, scenario: str, post_fix: bool) -> str:
    """PAUSE-UPDATE with ``g`` clients as Promela (one process, one ``d_step`` per line)."""
    inv = "assert(!(applying && readers > 0))"
    if post_fix:
        begin = ("if :: is_pause -> c_held = true; p = true; applying = true; ctl1 = APPLY "
                 ":: else -> ww++; ctl1 = WWAIT fi")
        end = ("applying = false; if :: p -> c_held = false :: else -> writer = false fi; "
               "p = false; ctl1 = R0")
    else:
        begin = ("p = is_pause; if :: is_pause -> applying = true; ctl1 = APPLY "
                 ":: else -> ww++; ctl1 = WWAIT fi")
        end = "applying = false; if :: p -> skip :: else -> writer = false fi; p = false; ctl1 = R0"
    lines = [
        "/* PAUSE-UPDATE of spec/PROTOCOL.md section 7, generated by spec.bench */",
        "#define P0 0", "#define DRAIN 1", "#define U0 2", "#define WWAIT 3", "#define APPLY 4",
        "#define R0 5", "#define DONE 6", "#define IDLE 0", "#define GATED 1", "#define FWD 2",
        "bool is_pause, c_held, writer, applying, p;",
        f"byte ww, readers, inflight, ctl1 = P0, ctl2 = {0 if scenario == 'B' else 1};",
        f"byte c[{g}];",
        "active proctype main() {",
        "  do",
        f"  :: d_step {{ ctl1 == P0 && !c_held -> is_pause = true; ctl1 = DRAIN; {inv} }}",
    ]
    if scenario == "B":
        lines.append(f"  :: d_step {{ ctl1 == P0 -> ctl1 = U0; {inv} }}")
    lines += [
        f"  :: d_step {{ ctl1 == DRAIN && inflight == 0 -> ctl1 = U0; {inv} }}",
        f"  :: d_step {{ ctl1 == U0 && !c_held -> {begin}; {inv} }} /* ctl1_update_begin */",
        f"  :: d_step {{ ctl1 == WWAIT && !writer && readers == 0 -> ww--; writer = true; "
        f"applying = true; ctl1 = APPLY; {inv} }}",
        f"  :: d_step {{ ctl1 == APPLY -> {end}; {inv} }}",
        f"  :: d_step {{ ctl1 == R0 && !c_held -> is_pause = false; ctl1 = DONE; {inv} }}",
        f"  :: d_step {{ ctl2 == 0 && !c_held -> is_pause = false; ctl2 = 1; {inv} }}",
    ]
    for i in range(g):
        lines += [
            f"  :: d_step {{ c[{i}] == IDLE && !c_held && !is_pause -> c[{i}] = GATED; "
            f"inflight++; {inv} }}",
            f"  :: d_step {{ c[{i}] == GATED && !writer && ww == 0 -> c[{i}] = FWD; "
            f"readers++; {inv} }}",
            f"  :: d_step {{ c[{i}] == FWD -> c[{i}] = IDLE; readers--; inflight--; {inv} }}",
        ]
    lines += ["  od", "}", ""]
    return "\n".join(lines)
