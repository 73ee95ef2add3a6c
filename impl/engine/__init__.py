"""The reference engine: an asyncio tokenizer manager, scheduler and reply handler with torch
weights, the same protocol as SGLang's at the same await points (``core``), its RWLock and
lock (``rwlock``, ``locks``), its weights (``weights``), input checks (``validate``), and what
the machinery needs to drive it: the harness that reads it into spec states (``harness``),
its lock-edit mutants (``mutate``), the load run (``load``), S1 on any interpreter
(``rwlock_s1``).

``from impl.engine import PostFixEngine`` (and the rest of ``core``'s API) works; ``core``,
and with it torch, is imported only when such a name is first asked for, so the modules that
need only the standard library (``rwlock``, ``locks``, ``rwlock_s1``) run on an interpreter
without torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any


def __getattr__(name: str) -> Any:
    core = import_module(".core", __name__)
    if not name.startswith("__") or name == "__all__":
        try:
            return getattr(core, name)
        except AttributeError:
            pass
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
