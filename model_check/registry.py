"""Which specs a project ships, without importing them.

``model_check`` never imports a particular spec, yet ``--help`` should name the ones a
project ships.  A project declares them as data, in either (or both) of two places:

* ``[tool.model_check] specs = ["pkg:NAME", ...]`` in the ``pyproject.toml`` of the working
  directory (or of the nearest parent directory that has one);
* the ``model_check.specs`` entry-point group of an installed distribution
  (``[project.entry-points."model_check.specs"] NAME = "pkg:NAME"``).

Only the ``module:attribute`` strings are read; nothing is imported.
"""

from __future__ import annotations

import os
from pathlib import Path


def _pyproject_specs(start: Path) -> list[str]:
    import tomllib

    for directory in [start, *start.parents]:
        path = directory / "pyproject.toml"
        if path.is_file():
            try:
                with path.open("rb") as f:
                    table = tomllib.load(f)
            except (OSError, tomllib.TOMLDecodeError):
                return []
            specs = table.get("tool", {}).get("model_check", {}).get("specs", [])
            return [s for s in specs if isinstance(s, str)]
    return []


def _entry_point_specs() -> list[str]:
    from importlib.metadata import entry_points

    return [ep.value for ep in entry_points(group="model_check.specs")]


def shipped_specs(start: str | None = None) -> list[str]:
    """The declared spec targets, pyproject first, without duplicates.

    >>> isinstance(shipped_specs(), list)
    True
    """
    out: dict[str, None] = {}
    for spec in _pyproject_specs(Path(start or os.getcwd()).resolve()) + _entry_point_specs():
        out.setdefault(spec)
    return list(out)
