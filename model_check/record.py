"""A mutable working copy of a NamedTuple state, generated for its fields.

A spec whose ``next_state`` copies the state into a mutable object, changes a few fields and
builds the next state back (the usual way to write a step as plain assignments) pays two
loops over every field per transition; with ``getattr``/``setattr`` that is most of a search
with tens of fields.  :func:`mutable_record` generates, once per state type, a slotted class
whose constructor and :meth:`freeze` are straight-line code over the type's ``_fields``: a
single tuple unpacking in, one tuple out.  Nothing needs listing by hand, so fields added to
the state type later are picked up.

>>> from typing import NamedTuple
>>> class S(NamedTuple):
...     x: int
...     y: tuple[int, ...]
>>> Work = mutable_record(S)
>>> w = Work(S(1, (2,)))
>>> w.x += 1
>>> w.freeze()
S(x=2, y=(2,))
>>> Work.__slots__
('x', 'y')
"""

from __future__ import annotations

import keyword
from typing import Any

_CACHE: dict[type, type] = {}
_METHODS = ("freeze", "item", "set_item", "_state_type")


def _item(self: Any, name: str, i: int) -> Any:
    """Element ``i`` of the tuple field ``name`` (the memo path tracks this read alone)."""
    return getattr(self, name)[i]


def _set_item(self: Any, name: str, i: int, value: Any) -> None:
    """Replace element ``i`` of the tuple field ``name`` (``0 <= i < len``) by ``value``."""
    t = getattr(self, name)
    setattr(self, name, t[:i] + (value,) + t[i + 1:])


def mutable_record(state_type: type) -> type:
    """A class with one slot per field of the NamedTuple ``state_type``: ``Work(state)``
    copies the fields in, ``work.freeze()`` returns a new ``state_type`` (built without
    calling its ``__new__``, so no defaults or checks of its own run).  Subclass it with
    ``__slots__ = ()`` to add helper methods.  ``work.item(name, i)`` and
    ``work.set_item(name, i, value)`` read and replace one element of a tuple field (the
    memo path tracks them element by element for the fields a spec declares split).  One class per type (cached); its attribute
    ``_state_type`` is ``state_type`` (the memo path, :mod:`model_check.memo`, reads it)."""
    cached = _CACHE.get(state_type)
    if cached is not None:
        return cached
    fields = getattr(state_type, "_fields", None)
    if not isinstance(state_type, type) or not issubclass(state_type, tuple) \
            or not isinstance(fields, tuple) or not fields:
        raise TypeError(f"mutable_record needs a NamedTuple class with fields, got {state_type!r}")
    for name in fields:
        if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("__") \
                or name in _METHODS:
            raise TypeError(f"{state_type.__name__}: field name {name!r} cannot be a slot")
    targets = ", ".join(f"self.{name}" for name in fields)
    source = (f"def __init__(self, state):\n    {targets}, = state\n"
              f"def freeze(self):\n    return _new(_type, ({targets},))\n")
    namespace: dict[str, Any] = {"_new": tuple.__new__, "_type": state_type}
    exec(source, namespace)  # noqa: S102  (generated from identifiers checked above)
    namespace["__init__"].__doc__ = f"Copy the fields of a {state_type.__name__} in."
    namespace["freeze"].__doc__ = f"The {state_type.__name__} these fields make now."
    cls = type(f"Mutable{state_type.__name__}", (), {
        "__slots__": fields, "__init__": namespace["__init__"], "freeze": namespace["freeze"],
        "item": _item, "set_item": _set_item,
        "__module__": state_type.__module__, "_state_type": state_type,
        "__doc__": f"A mutable working copy of a {state_type.__name__} (see "
                   "model_check.record.mutable_record).",
    })
    _CACHE[state_type] = cls
    return cls
