"""Command line: ``python -m model_check SPEC [-D name=value ...] [options]``.

Also ``python -m model_check verify CERT`` (re-run a certificate's check and confirm it) and
``python -m model_check diff SPEC_A SPEC_B [-D name=value ...]`` (behaviours one variant
has and the other lacks).

Exit status (see :data:`EXIT_CODES`): 0 every checked property holds and no deadlock (or,
with ``--expect``, the expectation is met; ``verify``: confirmed; ``diff``: no difference),
1 a violation or deadlock (or the expectation is not met; ``verify``/``diff``: a
difference), 2 a usage error, unknown parameter or property, malformed spec or unwritable
output file, 3 inconclusive: a limit (``--max-states``, ``--max-seconds``,
``--max-memory``) stopped the search before a verdict.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from .checker import DEFAULT_MAX_STATES, Discovery, Result, check
from .files import OutputFileError
from .spec import ModelCheckError, Parameter, ParameterError, Spec, instantiate, parameters_of

USAGE = (
    "python -m model_check SPEC [-D name=value ...] [--json] [--expect VERDICT[:PROPERTY]] "
    "[--property NAME ...] [--no-deadlock] [--max-states N] [--max-seconds S] "
    "[--max-memory SIZE] [--junit F] [--sarif F] [--certificate F] [--mermaid F] [--html F] "
    "[--itf F] [--dot F] [--dot-path F] [--graph-json F] [--symmetry] [--all-discoveries] "
    "[--validate N] [--list] "
    "[--legend] [--quiet] [--liveness] | verify CERT | diff SPEC_A SPEC_B [-D name=value ...]"
)

#: Exit status -> meaning, printed by ``--help``.
EXIT_CODES = {
    0: "ok: every checked property holds and no deadlock (or --expect met; verify: "
       "confirmed; diff: no difference)",
    1: "violation or deadlock found (or --expect not met; verify/diff: a difference)",
    2: "usage error, unknown parameter or property, malformed spec, unwritable output file",
    3: "inconclusive: --max-states, --max-seconds or --max-memory stopped the search first",
}

#: Output flags: flag -> (argparse dest, what it writes).
OUTPUTS = {
    "--junit": ("junit", "JUnit XML: a test case per property and one for deadlock freedom"),
    "--sarif": ("sarif", "SARIF 2.1.0: a result per violated property at the spec source line "
                "of the action that broke it"),
    "--certificate": ("certificate", "JSON certificate of this run (check it later with: "
                      "python -m model_check verify FILE)"),
    "--mermaid": ("mermaid", "Mermaid sequence diagram of the counterexample"),
    "--html": ("html", "self-contained HTML page stepping through the counterexample"),
    "--itf": ("itf", "the counterexample in ITF JSON (Apalache/Quint trace format)"),
    "--dot": ("dot", "the explored state graph as Graphviz DOT, error path in red "
              "(explores every state)"),
    "--dot-path": ("dot_path", "only the counterexample's path as Graphviz DOT"),
    "--graph-json": ("graph_json", "the explored state graph as JSON (explores every state)"),
}

VERDICTS = ("ok", "violation", "deadlock")


class UsageError(ModelCheckError):
    """A command-line misuse: printed after the usage line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"usage: {USAGE}\nerror: {message}\n")


class _MainParser(_Parser):
    """The check's parser: its epilog (the shipped specs, read from pyproject.toml and the
    installed entry points) is built only when help is printed, not on every run."""

    def format_help(self) -> str:
        if self.epilog is None:
            self.epilog = _epilog()
        return super().format_help()


def _epilog() -> str:
    from .registry import shipped_specs

    codes = "\n".join(f"  {code}  {text}" for code, text in EXIT_CODES.items())
    specs = shipped_specs()
    shipped = ("\n".join(f"  {s}" for s in specs) if specs else
               "  (none declared: add [tool.model_check] specs = [...] to pyproject.toml)")
    return (f"exit status:\n{codes}\n\nspecs this project ships (from [tool.model_check] in "
            f"pyproject.toml and the model_check.specs entry points):\n{shipped}\n\n"
            "subcommands:\n  verify CERT                   re-run a --certificate and confirm "
            "it, or name each difference\n  diff SPEC_A SPEC_B [-D ...]   behaviours one "
            "variant has and the other lacks, and the verdicts that differ")


def _parser() -> argparse.ArgumentParser:
    p = _MainParser(
        prog="python -m model_check",
        usage=USAGE,
        description="Explicit-state model checker: explores every interleaving of SPEC "
        "breadth-first and reports shortest counterexamples.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("spec", metavar="SPEC", help="module:attribute, e.g. spec:POST_FIX")
    p.add_argument("-D", dest="defines", action="append", default=[], metavar="name=value",
                   help="set a spec parameter (repeatable, once per name)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--expect", metavar="VERDICT[:PROPERTY]",
                   help="exit 0 only if this holds: ok, violation or deadlock for the whole "
                   "run, or VERDICT:PROPERTY judging that property alone (the search then "
                   "checks only it; PROPERTY 'deadlock' means deadlock freedom)")
    p.add_argument("--property", action="append", metavar="NAME",
                   help="check only this property (repeatable)")
    p.add_argument("--no-deadlock", action="store_true", help="do not check for deadlocks")
    p.add_argument("--max-states", type=int, default=DEFAULT_MAX_STATES, metavar="N",
                   help=f"stop, inconclusive (exit 3), beyond N states (default {DEFAULT_MAX_STATES})")
    p.add_argument("--max-seconds", type=float, metavar="S",
                   help="stop, inconclusive (exit 3), after S seconds of search")
    p.add_argument("--max-memory", metavar="SIZE",
                   help="stop, inconclusive (exit 3), once the process's resident memory "
                   "exceeds SIZE (bytes, or with a suffix: 500M, 2G)")
    for flag, (dest, text) in OUTPUTS.items():
        p.add_argument(flag, dest=dest, metavar="FILE", help=f"write {text}")
    p.add_argument("--symmetry", action="store_true",
                   help="symmetry reduction through the spec's canonical() (if it has one)")
    p.add_argument("--validate", type=int, default=1000, metavar="N",
                   help="states the validation pass explores before the search (default 1000; "
                   "0 turns it off)")
    p.add_argument("--list", action="store_true",
                   help="list the spec's parameters (with their ranges) and properties, and "
                   "exit (as JSON with --json)")
    p.add_argument("--legend", action="store_true",
                   help="print what each abbreviation in the spec's output means, and exit")
    p.add_argument("--quiet", action="store_true",
                   help="no progress lines; print only the verdict essentials and the summary")
    p.add_argument("--all-discoveries", action="store_true",
                   help="after the first violation or deadlock, keep searching until every "
                   "property has its shortest discovery (default: stop at the first)")
    # liveness (model_check.liveness); naming a liveness property with --property implies it
    p.add_argument("--liveness", action="store_true",
                   help="also check the eventually/leads_to properties under weak fairness "
                   "on the full graph (a violation is a lasso: a stem, then a cycle repeated "
                   "forever)")
    return p


# -- loading and parameters ------------------------------------------------------------------

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
        # dir(), not vars(): a package may define its specs lazily (PEP 562 __getattr__)
        names = sorted(n for n in dir(module)
                       if not n.startswith("_") and _spec_like(getattr(module, n, None)))
        hint = f"; its specs: {', '.join(names)}" if names else ""
        raise ModelCheckError(f"module {module_name!r} has no attribute {attr!r}{hint}") from None


def _spec_like(value: Any) -> bool:
    if isinstance(value, Spec):
        return True
    if isinstance(value, type):
        return issubclass(value, Spec) and value is not Spec
    return callable(value) and hasattr(value, "parameters")


def parse_defines(target: Any, defines: Sequence[str]) -> dict[str, Any]:
    """``["requests=2"]`` -> ``{"requests": 2}``, typed by each parameter's default.

    A name given twice is an error (the last one would silently win otherwise).
    """
    declared = {p.name: p for p in parameters_of(target)}
    values: dict[str, Any] = {}
    given: dict[str, str] = {}
    for item in defines:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise ParameterError(f"-D expects name=value, got {item!r}")
        if name not in declared:
            valid = ", ".join(f"{p.name}={p.default}" for p in declared.values()) or "(none)"
            raise ParameterError(f"unknown parameter {name!r}; valid parameters: {valid}")
        if name in given:
            raise ParameterError(f"parameter {name} is given twice (-D {given[name]}, -D {item}); "
                                 "give each parameter once")
        given[name] = item
        values[name] = declared[name].parse(text)
    return values


def parse_size(text: str) -> int:
    """``"500M"`` -> 524288000: bytes, or a number with a K, M, G or T suffix (powers of
    1024; an optional trailing ``B`` or ``iB`` is accepted).

    >>> parse_size("2G"), parse_size("1.5k"), parse_size("4096")
    (2147483648, 1536, 4096)
    """
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", text, re.I)
    if not m:
        raise UsageError(f"--max-memory {text!r}: expected a size such as 500M or 2G")
    scale = 1024 ** " kmgt".index(m.group(2).lower() or " ")
    value = int(float(m.group(1)) * scale)
    if value <= 0:
        raise UsageError(f"--max-memory must be positive, got {text!r}")
    return value


def _range(p: Parameter) -> str:
    if p.choices:
        return f"one of {', '.join(map(str, p.choices))}"
    kind = type(p.default)
    if kind is bool:
        return "true or false"
    if kind is int:
        if p.minimum is None and p.maximum is None:
            return "any integer"
        low = "" if p.minimum is None else f"{p.minimum} <= "
        high = "" if p.maximum is None else f" <= {p.maximum}"
        return f"{low}{p.name}{high}"
    return "any text"


def _describe(target: Any, spec: Spec) -> str:
    lines = [f"spec {spec.title}", "parameters:"]
    for p in parameters_of(target):
        lines.append(f"  {p.name}={p.default} ({_range(p)})  {p.doc}")
    lines.append("properties:")
    for prop in spec.properties():
        lines.append(f"  {prop.kind} {prop.name}  {prop.doc}")
    return "\n".join(lines)


def _describe_json(target: Any, spec: Spec) -> dict[str, Any]:
    from .report import jsonable

    params = []
    for p in parameters_of(target):
        params.append({
            "name": p.name, "default": jsonable(p.default), "type": type(p.default).__name__,
            "doc": p.doc, "choices": None if p.choices is None else jsonable(list(p.choices)),
            "minimum": p.minimum, "maximum": p.maximum, "range": _range(p),
        })
    return {
        "spec": spec.name or type(spec).__name__,
        "title": spec.title,
        "parameters": params,
        "properties": [{"name": q.name, "kind": q.kind, "doc": q.doc} for q in spec.properties()],
        "legend": spec.legend(),
    }


# -- the check ---------------------------------------------------------------------------------

def parser_for(argv: Sequence[str]) -> tuple[argparse.ArgumentParser, list[str]]:
    """The parser that ``main(argv)`` uses, and the arguments it parses (for tools that
    check command lines, e.g. a CI workflow, without running them)."""
    argv = list(argv)
    if argv and argv[0] == "verify":
        return _verify_parser(), argv[1:]
    if argv and argv[0] == "diff":
        return _diff_parser(), argv[1:]
    return _parser(), argv


def _usage_error(message: str) -> int:
    print(f"usage: {USAGE}\nerror: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "verify":
        return verify_main(argv[1:])
    if argv and argv[0] == "diff":
        return diff_main(argv[1:])
    args = _parser().parse_args(argv)
    try:
        return _check_main(args)
    except (ParameterError, UsageError, OutputFileError) as exc:
        return _usage_error(str(exc))
    except ModelCheckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a spec failing while loaded, built or printed is malformed
        print(f"error: {args.spec}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


def _parse_expect(text: str | None) -> tuple[str | None, str | None]:
    if text is None:
        return None, None
    verdict, _, prop = text.partition(":")
    if verdict not in VERDICTS:
        raise UsageError(f"--expect {text!r}: the verdict must be one of ok, violation, deadlock")
    if verdict == "deadlock" and prop not in ("", "deadlock"):
        raise UsageError(f"--expect {text!r}: a deadlock is not a property's verdict; write "
                         "deadlock, or violation:PROPERTY")
    if verdict == "violation" and prop == "deadlock":
        raise UsageError(f"--expect {text!r}: write deadlock (or deadlock:deadlock)")
    return verdict, prop or None


def _check_main(args: argparse.Namespace) -> int:
    from .files import check_output_paths

    expect_verdict, expect_property = _parse_expect(args.expect)
    if args.max_states <= 0:
        raise UsageError(f"--max-states must be positive, got {args.max_states}")
    if args.max_seconds is not None and not args.max_seconds > 0:
        raise UsageError(f"--max-seconds must be positive, got {args.max_seconds}")
    if args.validate < 0:
        raise UsageError(f"--validate must be 0 or more, got {args.validate}")
    max_memory = parse_size(args.max_memory) if args.max_memory is not None else None
    outputs = {flag: getattr(args, dest) for flag, (dest, _) in OUTPUTS.items()
               if getattr(args, dest) is not None}
    check_output_paths(outputs)

    target = load_target(args.spec)
    spec = instantiate(target, parse_defines(target, args.defines))
    if args.list:
        print(json.dumps(_describe_json(target, spec), indent=1) if args.json
              else _describe(target, spec))
        return 0
    if args.legend:
        from .report import legend_lines

        lines = legend_lines(spec)
        if not lines:
            print(f"{spec.title}: no legend (the spec defines no abbreviations)")
            return 0
        print(f"legend of {spec.title}:")
        print("\n".join(lines))
        return 0

    names = [p.name for p in spec.properties()]
    properties = args.property
    deadlock = not args.no_deadlock
    if expect_property is not None:
        if expect_property == "deadlock":
            properties, deadlock = [], True
        else:
            if expect_property not in names:
                raise UsageError(f"--expect {args.expect!r}: {spec.title} has no property "
                                 f"{expect_property!r}; valid properties: "
                                 f"{', '.join(names) or '(none)'}, deadlock")
            if args.property and expect_property not in args.property:
                raise UsageError(f"--expect {args.expect!r} names a property that --property "
                                 "leaves out")
            properties, deadlock = [expect_property], False
    result = check(
        spec,
        deadlock=deadlock,
        properties=properties,
        max_states=args.max_states,
        max_seconds=args.max_seconds,
        max_memory=max_memory,
        keep_graph=bool(args.dot or args.graph_json),
        validate=args.validate,
        progress=not args.quiet,
        symmetry=args.symmetry,
        liveness=args.liveness,
        all_discoveries=args.all_discoveries,
    )
    checked = [p for p in spec.properties() if properties is None or p.name in properties]
    bounds = {"deadlock": deadlock, "properties": properties, "max_states": args.max_states,
              "max_seconds": args.max_seconds, "max_memory": max_memory,
              "symmetry": args.symmetry, "validate": args.validate,
              "all_discoveries": args.all_discoveries, "liveness": args.liveness}
    focus = _focus(result, expect_property)
    files = _render(args, outputs, result, checked, deadlock, bounds, focus)
    _write_all(outputs, files)
    _print_report(args, result, checked, deadlock)
    return _status(args, result, expect_verdict, expect_property)


def _focus(result: Result, prop: str | None) -> Discovery | None:
    """The discovery the pictures draw: the expected property's, else the primary one,
    else the first with a trace."""
    with_trace = [d for d in result.discoveries if d.trace]
    for d in with_trace:
        if d.property == (prop or result.property):
            return d
    return with_trace[0] if with_trace else None


def _render(args: argparse.Namespace, outputs: dict[str, str], result: Result,
            checked: list[Any], deadlock: bool, bounds: dict[str, Any],
            focus: Discovery | None) -> dict[str, str]:
    if not outputs:  # the writers' modules are imported only when a file is asked for
        return {}
    from . import ci, graph, teach
    from .certificate import make_certificate

    pictures: dict[str, Callable[[Result, Discovery], Any]] = {
        "--mermaid": teach.to_mermaid,
        "--html": teach.to_html,
        "--itf": lambda r, d: json.dumps(teach.to_itf(r, d), indent=1) + "\n",
        "--dot-path": graph.to_dot_path,
    }
    files: dict[str, str] = {}
    for flag in outputs:
        if flag == "--junit":
            files[flag] = ci.junit_xml(result, checked, deadlock)
        elif flag == "--sarif":
            files[flag] = json.dumps(ci.sarif(result, checked, deadlock), indent=1) + "\n"
        elif flag == "--certificate":
            cert = make_certificate(args.spec, result, checked, deadlock, bounds)
            files[flag] = json.dumps(cert, indent=1) + "\n"
        elif flag == "--dot":
            files[flag] = graph.to_dot(result, focus)
        elif flag == "--graph-json":
            files[flag] = json.dumps(graph.to_graph_json(result)) + "\n"
        elif focus is None:
            print(f"note: {flag} {outputs[flag]}: no counterexample to draw; file not written",
                  file=sys.stderr)
        else:
            files[flag] = pictures[flag](result, focus)
    return files


def _write_all(outputs: dict[str, str], files: dict[str, str]) -> None:
    from .files import OutputFileError, write_atomic

    for flag, text in files.items():
        try:
            write_atomic(outputs[flag], text)
        except OSError as exc:
            raise OutputFileError(f"{flag} {outputs[flag]}: {exc.strerror or exc}") from None


def _print_report(args: argparse.Namespace, result: Result, checked: list[Any],
                  deadlock: bool) -> None:
    from .report import format_text, to_json

    if args.json:
        print(json.dumps(to_json(result), indent=1))
    else:
        print(format_text(result, quiet=args.quiet))
    if os.environ.get("GITHUB_ACTIONS") == "true":
        from .ci import github_annotations

        stream = sys.stderr if args.json else sys.stdout
        for line in github_annotations(result, checked, deadlock):
            print(line, file=stream)


def _status(args: argparse.Namespace, result: Result, expect_verdict: str | None,
            expect_property: str | None) -> int:
    inconclusive = 3
    if expect_verdict is None:
        if result.verdict == "inconclusive":
            return inconclusive
        return 0 if result.verdict == "ok" else 1
    if expect_property is None:
        got, decided = f"{result.verdict}:{result.property or '-'}", result.verdict != "inconclusive"
        met = result.verdict == expect_verdict
    else:
        d = next((d for d in result.discoveries if d.property == expect_property), None)
        hit = result.hits.get(expect_property, False)
        decided = d is not None or result.complete or hit
        actual = ("deadlock" if expect_property == "deadlock" else "violation") if d else "ok"
        got = f"{actual}:{expect_property}"
        met = decided and actual == expect_verdict
    if met:
        return 0
    if not decided:
        print(f"expected {args.expect}, got inconclusive: the {result.limit} limit stopped the "
              "search first", file=sys.stderr)
        return inconclusive
    print(f"expected {args.expect}, got {got}", file=sys.stderr)
    return 1


# -- verify ------------------------------------------------------------------------------------

def verify_main(argv: Sequence[str]) -> int:
    """``python -m model_check verify CERT``: re-run the certificate's check and compare."""
    args = _verify_parser().parse_args(argv)
    return _verify(args)


def _verify_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m model_check verify", usage=USAGE,
                description="Re-run the check a certificate records and confirm every figure, "
                "or name each difference (exit 0 confirmed, 1 a difference, 2 an unreadable "
                "certificate or spec).")
    p.add_argument("cert", metavar="CERT", help="a file written by --certificate")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


def _verify(args: argparse.Namespace) -> int:
    from .certificate import FORMAT, compare, make_certificate
    from .spec import resolve_parameters

    try:
        with open(args.cert, encoding="utf-8") as f:
            cert = json.load(f)
    except OSError as exc:
        print(f"error: {args.cert}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except json.JSONDecodeError as exc:
        print(f"error: {args.cert}: not JSON: {exc}", file=sys.stderr)
        return 2
    if not isinstance(cert, dict) or cert.get("format") != FORMAT:
        print(f"error: {args.cert}: not a model_check certificate (format {FORMAT!r})",
              file=sys.stderr)
        return 2
    try:
        bounds = cert["bounds"]
        target = load_target(cert["spec"])
        if isinstance(target, Spec):  # an instance: its parameters are fixed
            spec = target
        else:
            values = resolve_parameters(parameters_of(target), cert["parameters"])
            spec = instantiate(target, values)
        result = check(spec, deadlock=bounds["deadlock"], properties=bounds["properties"],
                       max_states=bounds["max_states"], max_seconds=bounds["max_seconds"],
                       max_memory=bounds["max_memory"], validate=bounds["validate"],
                       symmetry=bounds["symmetry"], progress=not args.quiet,
                       all_discoveries=bounds.get("all_discoveries", False),
                       liveness=bounds.get("liveness", False))
        checked = [q for q in spec.properties()
                   if bounds["properties"] is None or q.name in bounds["properties"]]
        fresh = make_certificate(cert["spec"], result, checked, bounds["deadlock"], bounds)
    except KeyError as exc:
        print(f"error: {args.cert}: certificate field {exc} is missing", file=sys.stderr)
        return 2
    except ModelCheckError as exc:
        print(f"error: {args.cert}: {exc}", file=sys.stderr)
        return 2
    diffs, notes = compare(cert, fresh)
    for note in notes:
        print(f"note: {note}")
    if diffs:
        print(f"NOT confirmed: {args.cert} ({cert.get('title')}) differs in {len(diffs)} "
              f"field{'s' if len(diffs) > 1 else ''}:")
        for line in diffs:
            print(f"  {line}")
        return 1
    print(f"confirmed: {args.cert}: {fresh['title']} verdict={fresh['verdict']} "
          f"states={fresh['states']} transitions={fresh['transitions']} depth={fresh['depth']}")
    return 0


# -- diff --------------------------------------------------------------------------------------

def diff_main(argv: Sequence[str]) -> int:
    """``python -m model_check diff SPEC_A SPEC_B [-D ...]``."""
    from .diff import format_diff, verdict_differences

    args = _diff_parser().parse_args(argv)
    if args.max_states <= 0:
        return _usage_error(f"--max-states must be positive, got {args.max_states}")
    try:
        specs = []
        for text in (args.spec_a, args.spec_b):
            target = load_target(text)
            specs.append(instantiate(target, parse_defines(target, args.defines)))
        a, b = specs
        verdicts = None if args.no_verdicts else verdict_differences(a, b, max_states=args.max_states)
        text = format_diff(a, b, verdicts, args.max_states)
    except ParameterError as exc:
        return _usage_error(str(exc))
    except ModelCheckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(text)
    same = text.count(" has no behaviour that ") == 2
    return 0 if same and (verdicts is None or not verdicts) else 1


def _diff_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m model_check diff", usage=USAGE,
                description="The shortest behaviour each variant has and the other lacks, and "
                "the properties whose verdict differs (exit 0 no difference, 1 a difference).")
    p.add_argument("spec_a", metavar="SPEC_A")
    p.add_argument("spec_b", metavar="SPEC_B")
    p.add_argument("-D", dest="defines", action="append", default=[], metavar="name=value",
                   help="set a parameter of both specs (repeatable, once per name)")
    p.add_argument("--max-states", type=int, default=1_000_000, metavar="N",
                   help="bound on the common states explored and on each verdict search")
    p.add_argument("--no-verdicts", action="store_true",
                   help="skip checking both variants' properties")
    return p
