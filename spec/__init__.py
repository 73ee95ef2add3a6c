"""The SGLang pause / continue / weight-update / generate protocol, as plain-Python specs.

Variants (each a :class:`model_check.Spec` subclass): points of upstream history, which
differ only in ``update_policy``, the lock code of every update entry point:
:data:`IPC_BEFORE_22290`, :data:`PRE_FIX`, :data:`POST_FIX`; a candidate fix of every hazard
still open upstream, each fix one named definition: :data:`PROPOSED`; and :data:`PAUSE_UPDATE_PRE_FIX` / :data:`PAUSE_UPDATE_POST_FIX`, the coarse
benchmark spec of ``spec/PROTOCOL.md section 7``.  Check one with
``python -m model_check spec:POST_FIX -D scenario=concurrent``.
"""

from importlib import import_module
from typing import Any

__all__ = [
    "IPC_BEFORE_22290", "PAUSE_UPDATE_POST_FIX", "PAUSE_UPDATE_PRE_FIX", "POST_FIX",
    "PRE_FIX", "PROPOSED", "VARIANTS", "ProtocolSpec",
]

# Each name of __all__ is imported from the first module below that has it, on first use
# (PEP 562), so checking the benchmark spec does not import the protocol spec.
_MODULES = ("pause_update", "protocol")


def __getattr__(name: str) -> Any:
    if name in __all__:
        for home in _MODULES:
            module = import_module(f".{home}", __name__)
            if hasattr(module, name):
                value = getattr(module, name)
                globals()[name] = value
                return value
    raise AttributeError(f"module 'spec' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
