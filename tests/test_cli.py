"""Tests of ``python -m model_check``: exit statuses, messages, outputs, on tests.toy_specs.

Exit status: 0 ok (or the --expect'ed verdict), 1 violation or deadlock, 2 usage error,
bad spec or parameter, 3 inconclusive (a limit stopped the search).
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from model_check import checker, cli

REPO = Path(__file__).resolve().parent.parent
COUNTER = "tests.toy_specs:Counter"
TWO_LOCKS = "tests.toy_specs:TwoLocks"
CHAIN = "tests.toy_specs:Chain"
USAGE_LINE = "usage: python -m model_check SPEC [-D name=value ...] [--json]"
SUMMARY = re.compile(
    r"^Done\. verdict=(ok|violation|deadlock|inconclusive) property=\S+ states=\d+ "
    r"transitions=\d+ depth=\d+ sec=\d+\.\d+( limit=(states|seconds|memory))?$"
)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m model_check ARGS`` from the repository root."""
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}  # no annotations
    return subprocess.run([sys.executable, "-m", "model_check", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def summary(proc: subprocess.CompletedProcess[str]) -> str:
    last = proc.stdout.splitlines()[-1]
    assert SUMMARY.match(last), last
    return last.rsplit(" sec=", 1)[0]


# -- verdicts -------------------------------------------------------------------------------

def test_ok_spec_exits_0() -> None:
    proc = run(COUNTER, "-D", "lock=true")
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.splitlines()[0] == "spec Counter(lock=True)"
    assert summary(proc) == "Done. verdict=ok property=- states=17 transitions=16 depth=8"


def test_violation_exits_1_and_prints_the_counterexample() -> None:
    proc = run(COUNTER)
    assert (proc.returncode, proc.stderr) == (1, "")
    lines = proc.stdout.splitlines()
    assert lines[1] == "violation: always no_lost_update (4 steps)"
    assert [line for line in lines if re.match(r"  \d\. ", line)] == [
        "  0. initial state", "  1. A read", "  2. B read", "  3. A write", "  4. B write"]
    assert summary(proc) == (
        "Done. verdict=violation property=no_lost_update states=13 transitions=14 depth=4")


def test_deadlock_exits_1_and_no_deadlock_exits_0() -> None:
    proc = run(TWO_LOCKS, "--all-discoveries")
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[1:3] == [
        "deadlock: no action is enabled and the spec does not call the state done (2 steps)",
        "  0. initial state"]
    assert "  1. A take x" in proc.stdout and "  2. B take y" in proc.stdout
    assert summary(proc) == "Done. verdict=deadlock property=deadlock states=13 transitions=14 depth=6"
    proc = run(TWO_LOCKS, "--no-deadlock")
    assert proc.returncode == 0
    assert summary(proc) == "Done. verdict=ok property=- states=13 transitions=14 depth=6"


def test_unreached_sometimes_exits_1() -> None:
    proc = run(CHAIN, "-D", "goal=beyond", "-D", "length=2")
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[:2] == [
        "spec Chain(length=2, goal=beyond)",
        "violation: sometimes reaches_goal: no reachable state satisfies it (3 states explored)"]


def test_property_option_checks_only_the_named_property() -> None:
    # no_lost_update is not checked, both_done is hit: ok.
    proc = run(COUNTER, "--property", "both_done")
    assert proc.returncode == 0
    assert proc.stdout.splitlines()[1] == "sometimes: both_done=hit"
    proc = run(COUNTER, "--property", "both_done", "--property", "no_lost_update")
    assert proc.returncode == 1


# -- usage errors ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("args", "error"),
    [
        pytest.param([], "error: the following arguments are required: SPEC", id="no-spec"),
        pytest.param([COUNTER, "--bogus"], "error: unrecognized arguments: --bogus",
                     id="unknown-flag"),
        pytest.param([COUNTER, "--expect", "maybe"], "error: --expect 'maybe': the verdict must "
                     "be one of ok, violation, deadlock", id="bad-expect-verdict"),
        pytest.param([COUNTER, "--expect", "fail:no_lost_update"], "error: --expect "
                     "'fail:no_lost_update': the verdict must be one of ok, violation, deadlock",
                     id="bad-expect-verdict-with-property"),
        pytest.param([COUNTER, "--max-states", "0"], "error: --max-states must be positive, "
                     "got 0", id="max-states-zero"),
        pytest.param([COUNTER, "--max-states", "-3"], "error: --max-states must be positive, "
                     "got -3", id="max-states-negative"),
        pytest.param([COUNTER, "--max-states", "ten"], "error: argument --max-states: invalid "
                     "int value: 'ten'", id="max-states-not-int"),
        pytest.param([COUNTER, "-D"], "error: argument -D: expected one argument",
                     id="D-without-value"),
    ],
)
def test_usage_error_exits_2_with_usage_line(args: list[str], error: str) -> None:
    proc = run(*args)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.splitlines()[0].startswith(USAGE_LINE)
    assert error in proc.stderr.splitlines()


def test_define_without_equals_exits_2() -> None:
    proc = run(COUNTER, "-D", "lock")
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.splitlines()[1:] == ["error: -D expects name=value, got 'lock'"]


def test_define_without_equals_prints_the_usage_line() -> None:
    assert run(COUNTER, "-D", "lock").stderr.startswith("usage:")


# -- errors about the spec, its parameters and properties: exit 2 --------------------------

@pytest.mark.parametrize(
    ("args", "error"),
    [
        pytest.param(["tests.toy_specs"], "SPEC must be module:attribute (e.g. spec:POST_FIX), "
                     "got 'tests.toy_specs'", id="no-colon"),
        pytest.param([":Counter"], "SPEC must be module:attribute (e.g. spec:POST_FIX), got "
                     "':Counter'", id="empty-module"),
        pytest.param(["tests.toy_specs:"], "SPEC must be module:attribute (e.g. spec:POST_FIX), "
                     "got 'tests.toy_specs:'", id="empty-attribute"),
        pytest.param(["tests.no_such_module:Spec"], "cannot import module "
                     "'tests.no_such_module': No module named 'tests.no_such_module'",
                     id="missing-module"),
        pytest.param(["tests.toy_specs:Nope"], "module 'tests.toy_specs' has no attribute "
                     "'Nope'; its specs: COUNTER_LOCKED, Chain, Counter, TwoLocks, Unhashable, "
                     "broken_factory",
                     id="missing-attribute"),
        pytest.param(["tests.toy_specs:NOT_A_SPEC"], "42 is not a spec: expected a "
                     "model_check.Spec subclass, instance, or a factory with a 'parameters' "
                     "attribute", id="not-a-spec"),
        pytest.param([COUNTER, "-D", "size=3"], "unknown parameter 'size'; valid parameters: "
                     "lock=False", id="unknown-parameter"),
        pytest.param([TWO_LOCKS, "-D", "size=3"], "unknown parameter 'size'; valid parameters: "
                     "(none)", id="unknown-parameter-none-declared"),
        pytest.param([COUNTER, "-D", "lock=maybe"], "parameter lock: 'maybe' is not a bool; "
                     "valid values: true, false, 1, 0", id="bad-bool"),
        pytest.param([CHAIN, "-D", "length=three"], "parameter length: 'three' is not an "
                     "integer; valid: 1 <= length <= 50", id="not-an-integer"),
        pytest.param([CHAIN, "-D", "length=0"], "parameter length: 0 is out of range; valid: "
                     "1 <= length <= 50", id="out-of-range"),
        pytest.param([CHAIN, "-D", "goal=far"], "parameter goal: 'far' is not valid; valid "
                     "values: end, middle, beyond", id="not-in-choices"),
        pytest.param(["tests.toy_specs:COUNTER_LOCKED", "-D", "lock=false"],
                     "Counter(lock=True) is already instantiated; it takes no -D parameters",
                     id="instance-with-define"),
        pytest.param([COUNTER, "--property", "nope"], "Counter(lock=False): unknown property "
                     "'nope'; valid properties: no_lost_update, both_done",
                     id="unknown-property"),
        pytest.param(["tests.toy_specs:Unhashable"], "Unhashable(length=3, goal=end): an initial "
                     "state is not hashable (unhashable type: 'list')", id="malformed-spec"),
    ],
)
def test_spec_error_exits_2_with_one_error_line(args: list[str], error: str) -> None:
    proc = run(*args)
    assert (proc.returncode, proc.stdout) == (2, "")
    lines = proc.stderr.splitlines()
    if lines[0].startswith("usage: "):  # a bad parameter is a usage error: usage line first
        lines = lines[1:]
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert error in lines[0]


def test_crashing_spec_factory_exits_2_not_1() -> None:
    proc = run("tests.toy_specs:broken_factory")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ")


def test_instantiated_spec_runs_without_defines() -> None:
    proc = run("tests.toy_specs:COUNTER_LOCKED")
    assert proc.returncode == 0
    assert proc.stdout.splitlines()[0] == "spec Counter(lock=True)"


# -- outputs --------------------------------------------------------------------------------

def test_json_output_parses_and_has_the_fields() -> None:
    proc = run(COUNTER, "--json")
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert {"spec", "parameters", "verdict", "property", "states", "transitions", "depth",
            "seconds", "trace"} <= set(data)
    assert (data["spec"], data["parameters"], data["verdict"], data["property"]) == (
        "Counter", {"lock": False}, "violation", "no_lost_update")
    assert (data["states"], data["transitions"], data["depth"]) == (13, 14, 4)
    assert [step["action"] for step in data["trace"]] == [
        None, ["A", "read"], ["B", "read"], ["A", "write"], ["B", "write"]]
    assert all(set(step) == {"action", "label", "state"} for step in data["trace"])


def test_json_output_of_an_ok_spec() -> None:
    proc = run(CHAIN, "-D", "length=4", "--json")
    data = json.loads(proc.stdout)
    assert proc.returncode == 0
    assert (data["verdict"], data["property"], data["trace"], data["parameters"]) == (
        "ok", None, [], {"length": 4, "goal": "end"})


def test_dot_and_graph_json_files_are_written(tmp_path: Path) -> None:
    dot, graph = tmp_path / "g.dot", tmp_path / "g.json"
    proc = run(COUNTER, "-D", "lock=true", "--dot", str(dot), "--graph-json", str(graph))
    assert proc.returncode == 0
    text = dot.read_text(encoding="utf-8")
    assert text.startswith('digraph "Counter(lock=True)" {\n') and text.endswith("}\n")
    assert len(re.findall(r"^  n\d+ \[label=", text, re.M)) == 17
    assert len(re.findall(r"^  n\d+ -> n\d+ \[label=", text, re.M)) == 16
    data = json.loads(graph.read_text(encoding="utf-8"))
    assert (len(data["nodes"]), len(data["edges"])) == (17, 16)
    assert [n["id"] for n in data["nodes"] if n["init"]] == [0]
    assert {e["action"] for e in data["edges"] if e["source"] == 0} == {"A acquire", "B acquire"}


@pytest.mark.parametrize(
    ("args", "status", "stderr"),
    [
        pytest.param([COUNTER, "--expect", "violation:no_lost_update"], 0, "",
                     id="violation-and-property-match"),
        pytest.param([COUNTER, "--expect", "violation"], 0, "", id="violation-matches"),
        pytest.param([COUNTER, "--expect", "violation:both_done"], 1,
                     "expected violation:both_done, got ok:both_done\n",
                     id="other-property-judged-alone"),
        pytest.param([COUNTER, "--expect", "ok"], 1, "expected ok, got violation:no_lost_update\n",
                     id="violation-not-ok"),
        pytest.param([COUNTER, "-D", "lock=true", "--expect", "ok"], 0, "", id="ok-matches"),
        pytest.param([COUNTER, "-D", "lock=true", "--expect", "violation"], 1,
                     "expected violation, got ok:-\n", id="ok-not-violation"),
        pytest.param([TWO_LOCKS, "--expect", "deadlock"], 0, "", id="deadlock-matches"),
        pytest.param([TWO_LOCKS, "--expect", "deadlock:deadlock"], 0, "",
                     id="deadlock-property-matches"),
    ],
)
def test_expect_exit_status(args: list[str], status: int, stderr: str) -> None:
    proc = run(*args)
    assert (proc.returncode, proc.stderr) == (status, stderr)
    assert SUMMARY.match(proc.stdout.splitlines()[-1])


def test_list_prints_parameters_and_properties() -> None:
    proc = run(CHAIN, "--list", "-D", "length=5")
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.splitlines() == [
        "spec Chain(length=5, goal=end)",
        "parameters:",
        "  length=3 (1 <= length <= 50)  last state",
        "  goal=end (one of end, middle, beyond)  the state reaches_goal looks for",
        "properties:",
        "  always in_range  never past the end",
        "  sometimes reaches_goal  the goal state is reachable",
    ]


def test_list_of_a_spec_without_parameters() -> None:
    proc = run(TWO_LOCKS, "--list")
    assert proc.returncode == 0
    assert proc.stdout.splitlines()[:3] == ["spec TwoLocks()", "parameters:", "properties:"]


# -- progress (in-process, with the threshold lowered to 0 s instead of a slow search) ------

def test_progress_line_on_stderr_unless_quiet(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cli, "check", functools.partial(checker.check, progress_after=0))
    assert cli.main([COUNTER, "-D", "lock=true"]) == 0
    err = capsys.readouterr().err
    assert re.fullmatch(r"progress: states=3 transitions=2 depth=0 sec=\d+\.\d states/s=[\d,]+\n",
                        err)
    assert cli.main([COUNTER, "-D", "lock=true", "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_main_in_process_returns_the_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([COUNTER, "--quiet"]) == 1
    assert cli.main([COUNTER, "--quiet", "--validate", "0", "-D", "lock=1"]) == 0
    assert cli.main([CHAIN, "-D", "goal=far"]) == 2
    out, err = capsys.readouterr()
    assert err.splitlines()[1:] == [
        "error: parameter goal: 'far' is not valid; valid values: end, middle, beyond"]


def test_symmetry_flag_errors_exit_2() -> None:
    proc = run(COUNTER, "--symmetry")
    assert proc.returncode == 2 and "needs the spec to define canonical()" in proc.stderr
