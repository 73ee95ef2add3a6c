"""The SGLang pause / continue / weight-update / generate protocol, as plain-Python specs.

Variants (each a :class:`model_check.Spec` subclass): points of upstream history, which
differ only in ``update_policy``, the lock code of every update entry point:
:data:`IPC_BEFORE_22290`, :data:`PRE_FIX`, :data:`POST_FIX`; a candidate fix of every hazard
still open upstream, each fix one named definition: :data:`PROPOSED`; and :data:`PAUSE_UPDATE_PRE_FIX` / :data:`PAUSE_UPDATE_POST_FIX`, the coarse
benchmark spec of ``spec/PROTOCOL.md section 7``.  Check one with
``python -m model_check spec:POST_FIX -D scenario=concurrent``.
"""

from .pause_update import PAUSE_UPDATE_POST_FIX, PAUSE_UPDATE_PRE_FIX
from .protocol import IPC_BEFORE_22290, POST_FIX, PRE_FIX, PROPOSED, VARIANTS, ProtocolSpec

__all__ = [
    "IPC_BEFORE_22290", "PAUSE_UPDATE_POST_FIX", "PAUSE_UPDATE_PRE_FIX", "POST_FIX",
    "PRE_FIX", "PROPOSED", "VARIANTS", "ProtocolSpec",
]
