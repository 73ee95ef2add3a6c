"""Command line: ``python -m model_check SPEC [-D name=value ...] [options]``.

Exit status: 0 when every property holds and no deadlock is found (or, with ``--expect``,
when the verdict is the expected one), 1 when a violation or deadlock is found, 2 for a
usage error, an unknown parameter or property, a malformed spec, or a state limit.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from .checker import DEFAULT_MAX_STATES, check
from .graph import to_dot, to_graph_json
from .report import format_text, to_json
from .spec import ModelCheckError, ParameterError, Spec, instantiate, parameters_of

USAGE = (
    "python -m model_check SPEC [-D name=value ...] [--json] [--dot FILE] [--graph-json FILE] "
    "[--max-states N] [--no-deadlock] [--symmetry] [--all-discoveries] [--property NAME ...] [--expect VERDICT[:PROPERTY]] "
    "[--validate N] [--list] [--quiet]"
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"usage: {USAGE}\nerror: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m model_check",
        usage=USAGE,
        description="Explicit-state model checker: explores every interleaving of SPEC "
        "breadth-first and reports shortest counterexamples.",
    )
    p.add_argument("spec", metavar="SPEC", help="module:attribute, e.g. spec:POST_FIX")
    p.add_argument("-D", dest="defines", action="append", default=[], metavar="name=value",
                   help="set a spec parameter (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--dot", metavar="FILE",
                   help="write the state graph as Graphviz DOT (explores every state)")
    p.add_argument("--graph-json", metavar="FILE",
                   help="write the state graph as JSON (explores every state)")
    p.add_argument("--max-states", type=int, default=DEFAULT_MAX_STATES, metavar="N",
                   help=f"stop with exit 2 beyond N states (default {DEFAULT_MAX_STATES})")
    p.add_argument("--no-deadlock", action="store_true", help="do not check for deadlocks")
    p.add_argument("--symmetry", action="store_true",
                   help="symmetry reduction through the spec's canonical() (if it has one)")
    p.add_argument("--all-discoveries", action="store_true",
                   help="after the first violation or deadlock, keep searching until every "
                   "property has its shortest discovery (default: stop at the first)")
    p.add_argument("--property", action="append", metavar="NAME",
                   help="check only this property (repeatable)")
    p.add_argument("--expect", metavar="VERDICT[:PROPERTY]",
                   help="exit 0 only if the verdict (ok, violation, deadlock) and property match")
    p.add_argument("--validate", type=int, default=1000, metavar="N",
                   help="states the validation pass explores before the search (default 1000)")
    p.add_argument("--list", action="store_true",
                   help="list the spec's parameters and properties, and exit")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p


def load_target(text: str) -> Any:
    """Import ``module:attribute``; raise ModelCheckError saying what is missing."""
    module_name, sep, attr = text.partition(":")
    if not sep or not module_name or not attr:
        raise ModelCheckError(f"SPEC must be module:attribute (e.g. spec:POST_FIX), got {text!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelCheckError(f"cannot import module {module_name!r}: {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        names = sorted(n for n, v in vars(module).items() if not n.startswith("_") and _spec_like(v))
        hint = f"; its specs: {', '.join(names)}" if names else ""
        raise ModelCheckError(f"module {module_name!r} has no attribute {attr!r}{hint}") from None


def _spec_like(value: Any) -> bool:
    if isinstance(value, Spec):
        return True
    if isinstance(value, type):
        return issubclass(value, Spec) and value is not Spec
    return callable(value) and hasattr(value, "parameters")


def parse_defines(target: Any, defines: Sequence[str]) -> dict[str, Any]:
    """``["requests=2"]`` -> ``{"requests": 2}``, typed by each parameter's default."""
    declared = {p.name: p for p in parameters_of(target)}
    values: dict[str, Any] = {}
    for item in defines:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise ParameterError(f"-D expects name=value, got {item!r}")
        if name not in declared:
            valid = ", ".join(f"{p.name}={p.default}" for p in declared.values()) or "(none)"
            raise ParameterError(f"unknown parameter {name!r}; valid parameters: {valid}")
        values[name] = declared[name].parse(text)
    return values


def _describe(target: Any, spec: Any) -> str:
    lines = [f"spec {spec.title}", "parameters:"]
    for p in parameters_of(target):
        extra = f" (one of {', '.join(map(str, p.choices))})" if p.choices else ""
        lines.append(f"  {p.name}={p.default}{extra}  {p.doc}")
    lines.append("properties:")
    for prop in spec.properties():
        lines.append(f"  {prop.kind} {prop.name}  {prop.doc}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    expect_verdict = expect_property = None
    if args.expect:
        expect_verdict, _, expect_property = args.expect.partition(":")
        if expect_verdict not in ("ok", "violation", "deadlock"):
            print(f"usage: {USAGE}\nerror: --expect {args.expect!r}: the verdict must be one of "
                  "ok, violation, deadlock", file=sys.stderr)
            return 2
    if args.max_states <= 0:
        print(f"usage: {USAGE}\nerror: --max-states must be positive, got {args.max_states}",
              file=sys.stderr)
        return 2
    try:
        target = load_target(args.spec)
        spec = instantiate(target, parse_defines(target, args.defines))
        if args.list:
            print(_describe(target, spec))
            return 0
        result = check(
            spec,
            deadlock=not args.no_deadlock,
            properties=args.property,
            max_states=args.max_states,
            keep_graph=bool(args.dot or args.graph_json),
            validate=args.validate,
            progress=not args.quiet,
            symmetry=args.symmetry,
            all_discoveries=args.all_discoveries,
        )
        return _report(args, result, expect_verdict, expect_property)
    except ParameterError as exc:
        print(f"usage: {USAGE}\nerror: {exc}", file=sys.stderr)
        return 2
    except ModelCheckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a spec failing while loaded, built or printed is malformed
        print(f"error: {args.spec}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


def _report(args: argparse.Namespace, result: Any, expect_verdict: str | None,
            expect_property: str | None) -> int:
    if args.dot:
        with open(args.dot, "w", encoding="utf-8") as f:
            f.write(to_dot(result))
    if args.graph_json:
        with open(args.graph_json, "w", encoding="utf-8") as f:
            json.dump(to_graph_json(result), f)
    if args.json:
        print(json.dumps(to_json(result), indent=1))
    else:
        print(format_text(result))
    if expect_verdict is not None:
        matches = result.verdict == expect_verdict and (
            not expect_property or result.property == expect_property
        )
        if not matches:
            print(f"expected {args.expect}, got {result.verdict}:{result.property or '-'}",
                  file=sys.stderr)
        return 0 if matches else 1
    return 0 if result.verdict == "ok" else 1
