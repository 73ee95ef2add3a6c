"""Certificates: a JSON record of one run that ``python -m model_check verify`` re-checks.

A certificate names what was checked (the spec target, its parameters, the bounds), with
what (the checker's version and a hash of its sources, a hash of the spec's sources), and
what came out (counts, the verdict, each property's verdict), plus the Python version and
platform for the record.  :func:`compare` re-runs nothing itself; the CLI re-runs the check
from the certificate's own fields and hands both to it, which names every difference.
"""

from __future__ import annotations

import hashlib
import inspect
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .checker import Result
from .ci import property_verdicts
from .report import jsonable
from .spec import Property, Spec

FORMAT = "model_check certificate 1"

#: Fields compared by :func:`compare`; a difference in any of them fails ``verify``.
CHECKED = ("spec", "parameters", "bounds", "checker_version", "checker_sha256",
           "spec_sha256", "verdict", "property", "limit", "complete", "states",
           "transitions", "depth", "properties")
#: Fields reported when they differ, without failing (they should not change a verdict).
NOTED = ("python", "platform")


def _sha256_files(paths: Sequence[Path], root: Path) -> tuple[str, dict[str, str]]:
    total = hashlib.sha256()
    each: dict[str, str] = {}
    for path in sorted(paths):
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        name = path.relative_to(root).as_posix()
        each[name] = digest
        total.update(f"{name}\0{digest}\n".encode())
    return total.hexdigest(), each


def source_files(obj: Any) -> tuple[Path, list[Path]]:
    """The source files behind a spec class: every ``.py`` file of its top-level package
    (a spec's helpers live beside it), or its module file alone; and their root."""
    module = sys.modules[obj.__module__]
    top = sys.modules[obj.__module__.split(".")[0]]
    top_file = getattr(top, "__file__", None)
    if top_file and Path(top_file).name == "__init__.py":
        root = Path(top_file).parent
        return root.parent, sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)
    path = Path(inspect.getsourcefile(module) or module.__file__ or "")
    return path.parent, [path]


def spec_sha256(spec: Spec) -> tuple[str, dict[str, str]]:
    """SHA-256 over the spec's source files (see :func:`source_files`), and each file's."""
    root, files = source_files(type(spec))
    return _sha256_files(files, root)


def checker_sha256() -> str:
    """SHA-256 over this package's own sources."""
    here = Path(__file__).resolve().parent
    return _sha256_files([p for p in here.glob("*.py")], here.parent)[0]


def make_certificate(target: str, result: Result, checked: Sequence[Property],
                     deadlock: bool, bounds: dict[str, Any]) -> dict[str, Any]:
    """The certificate of a finished run of ``target`` (``module:attribute``)."""
    from . import __version__

    total, files = spec_sha256(result.spec)
    return {
        "format": FORMAT,
        "spec": target,
        "title": result.spec.title,
        "parameters": jsonable(result.spec.params),
        "bounds": bounds,
        "checker_version": __version__,
        "checker_sha256": checker_sha256(),
        "spec_sha256": total,
        "spec_files": files,
        "verdict": result.verdict,
        "property": result.property,
        "limit": result.limit,
        "complete": result.complete,
        "states": result.states,
        "transitions": result.transitions,
        "depth": result.depth,
        "seconds": round(result.seconds, 3),
        "properties": {v.name: v.verdict for v in property_verdicts(result, checked, deadlock)},
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def compare(old: dict[str, Any], new: dict[str, Any]) -> tuple[list[str], list[str]]:
    """``(differences, notes)`` between a stored certificate and a fresh one: every field
    of :data:`CHECKED` that differs (property by property, spec file by spec file), and
    the :data:`NOTED` ones.

    >>> compare({"states": 3, "python": "3.11"}, {"states": 4, "python": "3.12"})
    (['states: certificate 3, now 4'], ['python: certificate 3.11, now 3.12'])
    """
    diffs: list[str] = []
    for key in CHECKED:
        if key not in old and key not in new:
            continue
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            for name in list(a) + [n for n in b if n not in a]:
                if a.get(name, "-") != b.get(name, "-"):
                    diffs.append(f"{key}.{name}: certificate {a.get(name, '-')}, now {b.get(name, '-')}")
        else:
            diffs.append(f"{key}: certificate {a}, now {b}")
    if old.get("spec_sha256") != new.get("spec_sha256"):
        a, b = old.get("spec_files") or {}, new.get("spec_files") or {}
        for name in sorted(set(a) | set(b)):
            if a.get(name) != b.get(name):
                what = "added" if name not in a else "removed" if name not in b else "changed"
                diffs.append(f"spec file {name}: {what}")
    notes = [f"{key}: certificate {old.get(key)}, now {new.get(key)}"
             for key in NOTED if old.get(key) != new.get(key)]
    return diffs, notes
