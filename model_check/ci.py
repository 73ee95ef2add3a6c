"""What CI tools read: per-property verdicts, JUnit XML, SARIF 2.1.0, GitHub annotations.

Every writer takes a :class:`~model_check.checker.Result` and the properties that were
checked (``checked``) and returns text; nothing here touches the file system.

A property's verdict is one of

* ``"holds"``: an ``always`` property with no counterexample in a complete search, a
  ``sometimes`` property that was hit, or deadlock freedom with no deadlock in a complete
  search;
* ``"violated"``: a discovery (counterexample, missed ``sometimes``, deadlock);
* ``"unknown"``: the search stopped (a limit, or early because everything else was found)
  before the property was decided.
"""

from __future__ import annotations

import dataclasses
import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .checker import Discovery, Result
from .report import format_discovery, headline
from .spec import Property

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"


@dataclasses.dataclass(frozen=True)
class Verdict:
    """One checked property (or ``deadlock``) and what the search concluded about it."""

    name: str
    kind: str  # "always", "sometimes" or "deadlock"
    verdict: str  # "holds", "violated" or "unknown"
    doc: str = ""
    discovery: Discovery | None = None


def property_verdicts(result: Result, checked: Sequence[Property], deadlock: bool) -> list[Verdict]:
    """The verdict of every checked property, then of deadlock freedom if it was checked.

    >>> from model_check import Spec, always, check
    >>> class One(Spec):
    ...     def init_states(self): return [0]
    ...     def actions(self, s): return []
    ...     def properties(self): return [always("zero", lambda s: s == 0)]
    ...     def is_done(self, s): return True
    >>> spec = One()
    >>> [(v.name, v.verdict) for v in property_verdicts(check(spec), spec.properties(), True)]
    [('zero', 'holds'), ('deadlock', 'holds')]
    """
    found = {d.property: d for d in result.discoveries}
    out = []
    for p in checked:
        d = found.get(p.name)
        if d is not None:
            verdict = "violated"
        elif p.kind == "sometimes":
            verdict = "holds" if result.hits.get(p.name) else "unknown"
        else:
            verdict = "holds" if result.complete else "unknown"
        out.append(Verdict(p.name, p.kind, verdict, p.doc, d))
    if deadlock:
        d = found.get("deadlock")
        verdict = "violated" if d else ("holds" if result.complete else "unknown")
        out.append(Verdict("deadlock", "deadlock", verdict,
                           "every state with no enabled action is one the spec calls done", d))
    return out


# -- source locations -------------------------------------------------------------------------

def discovery_source(result: Result, verdict: Verdict) -> tuple[str, int] | None:
    """Where a discovery points in the spec's source: the method implementing the last
    action of its trace (``Spec.action_source``), or for a missed ``sometimes`` property
    (no trace) the line of its predicate."""
    import inspect

    spec = result.spec
    d = verdict.discovery
    if d is not None and d.length > 0:
        found = spec.action_source(d.trace[-1].action)
        if found:
            return found
    for p in spec.properties():
        if p.name == verdict.name:
            try:
                return inspect.getsourcefile(p.predicate) or "", inspect.getsourcelines(p.predicate)[1]
            except (TypeError, OSError):
                break
    try:
        cls = type(spec)
        return inspect.getsourcefile(cls) or "", inspect.getsourcelines(cls)[1]
    except (TypeError, OSError):
        return None


def relative_path(path: str, root: str | None = None) -> str:
    """``path`` relative to ``root`` (default: the working directory) with ``/`` separators
    when it lies below it, else the absolute path."""
    base = Path(root or os.getcwd()).resolve()
    full = Path(path).resolve()
    try:
        return full.relative_to(base).as_posix()
    except ValueError:
        return full.as_posix()


# -- JUnit XML ----------------------------------------------------------------------------------

def junit_xml(result: Result, checked: Sequence[Property], deadlock: bool) -> str:
    """JUnit XML: one ``<testsuite>`` named after the spec, one ``<testcase>`` per checked
    property plus one for deadlock freedom; a violated property is a ``<failure>`` whose
    message is the headline and whose text is the counterexample; an undecided one is
    ``<skipped>``."""
    verdicts = property_verdicts(result, checked, deadlock)
    suite = ET.Element("testsuite", {
        "name": result.spec.title,
        "tests": str(len(verdicts)),
        "failures": str(sum(v.verdict == "violated" for v in verdicts)),
        "errors": "0",
        "skipped": str(sum(v.verdict == "unknown" for v in verdicts)),
        "time": f"{result.seconds:.3f}",
    })
    props = ET.SubElement(suite, "properties")
    for key, value in result.spec.params.items():
        ET.SubElement(props, "property", {"name": key, "value": str(value)})
    for v in verdicts:
        case = ET.SubElement(suite, "testcase", {
            "classname": f"model_check.{result.spec.name or type(result.spec).__name__}",
            "name": v.name if v.kind == "deadlock" else f"{v.kind} {v.name}",
            "time": "0",
        })
        if v.verdict == "violated" and v.discovery is not None:
            failure = ET.SubElement(case, "failure", {
                "message": headline(result, v.discovery), "type": v.kind})
            failure.text = format_discovery(result, v.discovery)
        elif v.verdict == "unknown":
            reason = (f"the {result.limit} limit stopped the search first" if result.limit
                      else "the search stopped before deciding it")
            ET.SubElement(case, "skipped", {"message": reason})
    suites = ET.Element("testsuites", {"name": "model_check"})
    suites.append(suite)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


# -- SARIF 2.1.0 --------------------------------------------------------------------------------

def sarif(result: Result, checked: Sequence[Property], deadlock: bool,
          root: str | None = None) -> dict[str, Any]:
    """A SARIF 2.1.0 log: one rule per checked property (and deadlock), one ``error``
    result per violated one, located at the spec source line of the action that broke it
    (paths relative to ``root``, default the working directory, under ``%SRCROOT%``)."""
    from . import __version__

    verdicts = property_verdicts(result, checked, deadlock)
    rules = [{
        "id": v.name,
        "name": v.name,
        "shortDescription": {"text": f"{v.kind} {v.name}" if v.kind != "deadlock" else "deadlock freedom"},
        "fullDescription": {"text": v.doc or v.name},
        "defaultConfiguration": {"level": "error"},
    } for v in verdicts]
    results = []
    for index, v in enumerate(verdicts):
        if v.verdict != "violated" or v.discovery is None:
            continue
        text = format_discovery(result, v.discovery)
        entry: dict[str, Any] = {
            "ruleId": v.name,
            "ruleIndex": index,
            "level": "error",
            "message": {"text": f"{result.spec.title}: {text}"},
        }
        where = discovery_source(result, v)
        if where:
            entry["locations"] = [{
                "physicalLocation": {
                    "artifactLocation": {"uri": relative_path(where[0], root),
                                         "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": where[1]},
                },
            }]
        results.append(entry)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "model_check",
                "version": __version__,
                "rules": rules,
            }},
            "invocations": [{
                "executionSuccessful": result.limit is None,
                "properties": {"spec": result.spec.title, "verdict": result.verdict,
                               "states": result.states, "limit": result.limit},
            }],
            "results": results,
        }],
    }


# -- GitHub Actions annotations -------------------------------------------------------------------

def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotations(result: Result, checked: Sequence[Property], deadlock: bool,
                       root: str | None = None) -> list[str]:
    """``::error file=F,line=N,title=T::message`` workflow commands, one per violated
    property, and a ``::warning`` when a limit made the run inconclusive."""
    lines = []
    for v in property_verdicts(result, checked, deadlock):
        if v.verdict != "violated" or v.discovery is None:
            continue
        where = discovery_source(result, v)
        params = ""
        if where:
            params = f" file={_escape_property(relative_path(where[0], root))},line={where[1]},"
        else:
            params = " "
        title = _escape_property(f"model_check {v.name}")
        message = _escape_data(f"{result.spec.title}: {format_discovery(result, v.discovery)}")
        lines.append(f"::error{params}title={title}::{message}")
    if result.limit:
        lines.append(f"::warning title=model_check inconclusive::{_escape_data(result.spec.title)}"
                     f": the {result.limit} limit stopped the search before it finished")
    return lines
