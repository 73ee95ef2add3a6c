"""A generic explicit-state model checker for specs written in plain Python.

A spec (:class:`Spec`) offers initial states, enabled actions and next states, with named
:func:`always` and :func:`sometimes` properties; :func:`check` explores every reachable state
breadth-first, so every counterexample it reports is a shortest one.  This package never
imports a particular spec.

>>> from model_check import Spec, always, check
>>> class Toggle(Spec):
...     def init_states(self): return [False]
...     def actions(self, s): return ["toggle"]
...     def next_state(self, s, a): return not s
...     def properties(self): return [always("bool", lambda s: isinstance(s, bool))]
>>> check(Toggle()).summary().split()[:5]
['Done.', 'verdict=ok', 'property=-', 'states=2', 'transitions=2']

Liveness (:mod:`model_check.liveness`): :func:`eventually` and :func:`leads_to` properties
are checked under weak fairness per task (:meth:`Spec.task`, :meth:`Spec.fair_tasks`) by
:func:`check_liveness`, or by ``check(..., liveness=True)`` / ``--liveness``; a violation is
a :class:`Lasso`, a stem and a cycle, replayable with :func:`replay_lasso`.
"""

__version__ = "0.2.0"

from .checker import (
    DEFAULT_MAX_STATES, LIMITS, Discovery, Result, StateLimitError, Step, check, resident_memory,
    validate_spec,
)
from .spec import (
    Action,
    ModelCheckError,
    Parameter,
    ParameterError,
    Property,
    Spec,
    SpecError,
    State,
    always,
    instantiate,
    sometimes,
)
from .spec import LIVENESS_KINDS, SAFETY_KINDS, eventually, leads_to

# liveness (eventually / leads_to under weak fairness, lasso counterexamples): imported on
# first use, so a safety check does not pay for it
_LIVENESS_NAMES = (
    "Lasso", "LassoDiscovery", "LivenessResult", "PropertyOutcome", "StateGraph",
    "check_liveness", "explore", "replay_lasso",
)


def __getattr__(name: str) -> object:
    if name in _LIVENESS_NAMES:
        from . import liveness

        return getattr(liveness, name)
    raise AttributeError(f"module 'model_check' has no attribute {name!r}")


__all__ = [
    "__version__", "Action", "DEFAULT_MAX_STATES", "LIMITS", "Discovery", "ModelCheckError", "Parameter",
    "ParameterError", "Property", "Result", "Spec", "SpecError", "State", "StateLimitError",
    "Step", "always", "check", "instantiate", "resident_memory", "sometimes", "validate_spec",
    "LIVENESS_KINDS", "Lasso", "LassoDiscovery", "LivenessResult", "PropertyOutcome",
    "SAFETY_KINDS", "StateGraph", "check_liveness", "eventually", "explore", "leads_to",
    "replay_lasso",
]
