"""The checker as a CI gate: --expect, limits and exit 3, output files, CLI misuse, spec
validation, --help/--list, quiet reports, GitHub annotations.

Exit status: 0 ok (or --expect met), 1 violation/deadlock (or --expect not met), 2 usage
error / malformed spec / unknown name / unwritable output, 3 inconclusive (a limit).
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from model_check import cli
from tests import gate_specs

REPO = Path(__file__).resolve().parent.parent
PHIL = "tests.gate_specs:Philosophers"
TICKER = "tests.gate_specs:Ticker"
COUNTER = "tests.toy_specs:Counter"
PROTOCOL = ["-D", "scenario=concurrent", "-D", "updates=2"]


def run(*args: str, env: dict[str, str] | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``python -m model_check ARGS`` from the repository root, outside GitHub Actions
    unless ``env`` says so."""
    full_env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "model_check", *args], cwd=REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def last_line(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stdout.splitlines()[-1]


# -- --expect judges the named property alone ------------------------------------------------

def test_expect_violation_of_a_property_the_search_does_not_meet_first() -> None:
    # apply_guarded is not the first-declared violated property of PRE_FIX; judged alone it
    # is violated, whatever the default search would have reported first.
    proc = run("spec:PRE_FIX", *PROTOCOL, "-D", "requests=1", "--expect",
               "violation:apply_guarded", "--quiet")
    assert (proc.returncode, proc.stderr) == (0, "")
    assert "violation: always apply_guarded" in proc.stdout
    assert " property=apply_guarded " in last_line(proc)


def test_expect_unknown_property_exits_2_listing_the_valid_ones() -> None:
    proc = run("spec:PRE_FIX", *PROTOCOL, "-D", "requests=1", "--expect", "violation:no_such")
    assert (proc.returncode, proc.stdout) == (2, "")
    usage, error = proc.stderr.splitlines()
    assert usage.startswith("usage: python -m model_check SPEC")
    assert "has no property 'no_such'; valid properties: type_ok, update_safety, " in error
    assert error.endswith(", deadlock")


@pytest.mark.parametrize(
    ("args", "status", "stderr"),
    [
        pytest.param([PHIL, "--expect", "ok:forks_held_by_takers"], 0, "",
                     id="ok-for-one-property-despite-a-deadlock"),
        pytest.param([PHIL, "--expect", "deadlock"], 0, "", id="deadlock"),
        pytest.param([PHIL, "--expect", "ok:deadlock"], 1, "expected ok:deadlock, got "
                     "deadlock:deadlock\n", id="ok-deadlock-not-met"),
        pytest.param([PHIL, "--expect", "violation:someone_eats"], 1,
                     "expected violation:someone_eats, got ok:someone_eats\n",
                     id="sometimes-hit-is-ok"),
        pytest.param([COUNTER, "-D", "lock=true", "--expect", "ok:no_lost_update"], 0, "",
                     id="ok-property"),
        pytest.param([TICKER, "-D", "break_at=3", "--expect", "violation:small"], 0, "",
                     id="violation-in-an-infinite-spec"),
        pytest.param([TICKER, "--expect", "violation:small", "--max-states", "50"], 3,
                     "expected violation:small, got inconclusive: the states limit stopped the "
                     "search first\n", id="undecided-is-inconclusive"),
        pytest.param([TICKER, "--expect", "ok", "--max-states", "50"], 3,
                     "expected ok, got inconclusive: the states limit stopped the search first\n",
                     id="undecided-ok-is-inconclusive"),
    ],
)
def test_expect_statuses(args: list[str], status: int, stderr: str) -> None:
    proc = run(*args, "--quiet")
    assert (proc.returncode, proc.stderr) == (status, stderr)


@pytest.mark.parametrize(
    ("expect", "error"),
    [
        ("deadlock:small", "a deadlock is not a property's verdict"),
        ("violation:deadlock", "write deadlock (or deadlock:deadlock)"),
    ],
)
def test_expect_malformed_combinations_are_usage_errors(expect: str, error: str) -> None:
    proc = run(TICKER, "--expect", expect)
    assert proc.returncode == 2 and error in proc.stderr.splitlines()[1]


def test_expect_property_left_out_by_property_flag_is_a_usage_error() -> None:
    proc = run(PHIL, "--property", "someone_eats", "--expect", "ok:forks_held_by_takers")
    assert proc.returncode == 2
    assert "names a property that --property leaves out" in proc.stderr


# -- limits: inconclusive, exit 3, discoveries kept ---------------------------------------------

def test_state_limit_on_the_protocol_is_inconclusive() -> None:
    proc = run("spec:POST_FIX", *PROTOCOL, "--no-deadlock", "--property", "update_safety",
               "--max-states", "100")
    assert (proc.returncode, proc.stderr) == (3, "")
    assert "inconclusive: the states limit stopped the search" in proc.stdout
    assert last_line(proc).startswith("Done. verdict=inconclusive property=- states=")
    # the limit is checked after each expanded state: it stops just past 100
    assert 100 < int(last_line(proc).split(" states=")[1].split()[0]) < 120
    assert last_line(proc).endswith(" limit=states")


@pytest.mark.parametrize(
    ("flag", "value", "limit"),
    [("--max-seconds", "0.2", "seconds"), ("--max-memory", "1M", "memory"),
     ("--max-memory", "0.001G", "memory")],
)
def test_time_and_memory_limits_are_inconclusive(flag: str, value: str, limit: str) -> None:
    # Ticker never ends: only the limit can stop it (the process is above 1 MB at once).
    proc = run(TICKER, flag, value, "--quiet")
    assert (proc.returncode, proc.stderr) == (3, "")
    assert last_line(proc).startswith("Done. verdict=inconclusive ")
    assert last_line(proc).endswith(f" limit={limit}")


def test_violation_found_before_a_limit_exits_1_and_is_reported() -> None:
    proc = run(TICKER, "-D", "break_at=4", "--max-states", "500", "--all-discoveries")
    assert proc.returncode == 1
    assert "violation: always small (4 steps)" in proc.stdout
    assert "the discoveries above were found before it" in proc.stdout
    assert last_line(proc).startswith("Done. verdict=violation property=small ")
    assert last_line(proc).endswith(" limit=states")


def test_limit_and_discoveries_in_json() -> None:
    proc = run(TICKER, "-D", "break_at=2", "--max-seconds", "0.3", "--json",
               "--all-discoveries")
    data = json.loads(proc.stdout)
    assert (proc.returncode, data["verdict"], data["limit"], data["complete"]) == (
        1, "violation", "seconds", False)
    assert [d["property"] for d in data["discoveries"]] == ["small"]


# -- CLI misuse -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("args", "error"),
    [
        pytest.param([COUNTER, "-D", "lock=true", "-D", "lock=false"], "error: parameter lock is "
                     "given twice (-D lock=true, -D lock=false); give each parameter once",
                     id="repeated-define"),
        pytest.param([COUNTER, "--validate", "-1"], "error: --validate must be 0 or more, got -1",
                     id="negative-validate"),
        pytest.param([COUNTER, "--max-seconds", "0"], "error: --max-seconds must be positive, "
                     "got 0.0", id="zero-seconds"),
        pytest.param([COUNTER, "--max-memory", "lots"], "error: --max-memory 'lots': expected a "
                     "size such as 500M or 2G", id="bad-size"),
        pytest.param([COUNTER, "--max-memory", "0M"], "error: --max-memory must be positive, "
                     "got '0M'", id="zero-size"),
    ],
)
def test_misuse_exits_2_with_usage_line(args: list[str], error: str) -> None:
    proc = run(*args)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.splitlines()[0].startswith("usage: python -m model_check SPEC")
    assert proc.stderr.splitlines()[1:] == [error]


def test_help_lists_exit_codes_and_the_shipped_specs() -> None:
    proc = run("--help")
    assert proc.returncode == 0
    text = proc.stdout
    for code in ("0  ok", "1  violation or deadlock", "2  usage error", "3  inconclusive"):
        assert f"\n  {code}" in text
    for spec in ("spec:PRE_FIX", "spec:POST_FIX", "spec:IPC_BEFORE_22290"):
        assert f"\n  {spec}\n" in text
    assert "verify CERT" in text and "diff SPEC_A SPEC_B" in text


def test_shipped_specs_are_real_specs() -> None:
    from model_check.registry import shipped_specs

    specs = shipped_specs(str(REPO))
    assert len(specs) >= 4
    for target in specs:
        proc = run(target, "--list")
        assert proc.returncode == 0, (target, proc.stderr)


def test_list_json_has_parameters_with_ranges_and_properties() -> None:
    proc = run("tests.toy_specs:Chain", "--list", "--json")
    assert (proc.returncode, proc.stderr) == (0, "")
    data = json.loads(proc.stdout)
    assert data["title"] == "Chain(length=3, goal=end)"
    assert data["parameters"] == [
        {"name": "length", "default": 3, "type": "int", "doc": "last state", "choices": None,
         "minimum": 1, "maximum": 50, "range": "1 <= length <= 50"},
        {"name": "goal", "default": "end", "type": "str",
         "doc": "the state reaches_goal looks for", "choices": ["end", "middle", "beyond"],
         "minimum": None, "maximum": None, "range": "one of end, middle, beyond"},
    ]
    assert data["properties"] == [
        {"name": "in_range", "kind": "always", "doc": "never past the end"},
        {"name": "reaches_goal", "kind": "sometimes", "doc": "the goal state is reachable"}]


def test_list_shows_every_protocol_parameter_range() -> None:
    proc = run("spec:POST_FIX", "--list")
    params = proc.stdout.split("parameters:\n")[1].split("properties:")[0].splitlines()
    assert params and all(" (" in line and ")  " in line for line in params)
    assert any("(0 <= requests <= 8)" in line for line in params)


# -- spec validation -------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("NoneProperty", "property 'forgot_return' returned None (NoneType), not a bool"),
        ("IntProperty", "property 'counts' returned 0 (int), not a bool"),
        ("NoneNext", "next_state() returned None for action 'right' in state (0, 0)"),
    ],
)
def test_validation_rejects_non_bool_properties_and_none_states(name: str, error: str) -> None:
    proc = run(f"tests.gate_specs:{name}")
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.startswith("error: ") and error in proc.stderr


# -- output files: checked first, written atomically ---------------------------------------------

@pytest.mark.parametrize("flag", list(cli.OUTPUTS))
def test_unwritable_output_is_refused_before_the_search(flag: str, tmp_path: Path) -> None:
    # Ticker without limits would run until the timeout: the path check must come first.
    target = tmp_path / "missing" / "out"
    proc = run(TICKER, flag, str(target), timeout=30)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.splitlines()[1] == (
        f"error: {flag} {target}: directory {target.parent} does not exist")


def test_output_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    proc = run(TICKER, "--junit", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[1] == f"error: --junit {tmp_path}: is a directory, not a file"


def test_two_flags_on_one_file_are_refused(tmp_path: Path) -> None:
    f = str(tmp_path / "x")
    proc = run(TICKER, "--junit", f, "--sarif", f)
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[1] == (
        f"error: --sarif {f}: the same file is already the output of --junit")


def test_a_failing_report_leaves_old_files_whole_and_no_temporary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from model_check import teach

    junit, html = tmp_path / "r.xml", tmp_path / "r.html"
    junit.write_text("old junit")
    html.write_text("old html")

    def explode(*_: object) -> str:
        raise RuntimeError("renderer broke")

    monkeypatch.setattr(teach, "to_html", explode)
    status = cli.main([PHIL, "--quiet", "--junit", str(junit), "--html", str(html)])
    assert status == 2 and "renderer broke" in capsys.readouterr().err
    assert (junit.read_text(), html.read_text()) == ("old junit", "old html")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html", "r.xml"]


def test_files_are_replaced_whole(tmp_path: Path) -> None:
    junit = tmp_path / "r.xml"
    junit.write_text("x" * 100_000)  # longer than the report: an in-place write would leave a tail
    proc = run(PHIL, "--quiet", "--junit", str(junit))
    assert proc.returncode == 1
    assert junit.read_text().rstrip().endswith("</testsuites>")
    assert oct(junit.stat().st_mode & 0o777) != "0o600"  # not the temporary file's mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.xml"]


def test_ok_run_writes_no_picture(tmp_path: Path) -> None:
    mermaid = tmp_path / "m.mmd"
    proc = run(COUNTER, "-D", "lock=true", "--mermaid", str(mermaid))
    assert proc.returncode == 0
    assert proc.stderr == f"note: --mermaid {mermaid}: no counterexample to draw; file not written\n"
    assert not mermaid.exists()


# -- readable reports ------------------------------------------------------------------------

def test_quiet_prints_only_the_essentials() -> None:
    proc = run("spec:PRE_FIX", *PROTOCOL, "--quiet")
    assert (proc.returncode, proc.stderr) == (1, "")
    lines = proc.stdout.splitlines()
    # the spec line, one line per discovery, the deadlock's who-waits-on-what, the summary
    assert len(lines) <= 12, lines
    assert lines[0].startswith("spec PRE_FIX(") and lines[1].startswith("violation: always ")
    assert lines[-1].startswith("Done. verdict=violation ")


def test_deadlock_report_says_who_waits_on_what() -> None:
    proc = run(PHIL)
    lines = proc.stdout.splitlines()
    i = lines.index("  who waits on what:")
    assert lines[i + 1:i + 3] == ["    A waits for fork y, held by B",
                                  "    B waits for fork x, held by A"]
    quiet = run(PHIL, "--quiet").stdout.splitlines()
    assert "  A waits for fork y, held by B" in quiet


def test_trace_prints_the_initial_state_compactly_then_only_changes() -> None:
    proc = run("spec:PRE_FIX", *PROTOCOL, "-D", "requests=1", "--property", "update_safety",
               "--no-deadlock")
    lines = proc.stdout.splitlines()
    first = lines.index("  0. initial state")
    second = next(i for i, line in enumerate(lines) if line.startswith("  1. "))
    assert second - first <= 6  # the 26 variables on a few lines, not one per line
    assert all("=" in line for line in lines[first + 1:second])


def test_legend_flag_and_legend_under_the_trace() -> None:
    proc = run(PHIL, "--legend")
    assert (proc.returncode, proc.stdout.splitlines()[0]) == (0, "legend of Philosophers():")
    assert "  pc_a  A's next step: 0 first fork, 1 second fork, 2 eat, 3 done" in proc.stdout
    assert "legend:\n  pc_a" in run(PHIL).stdout
    none = run(TICKER, "--legend")
    assert none.stdout == "Ticker(break_at=0): no legend (the spec defines no abbreviations)\n"


def test_github_annotations_point_at_the_action_source() -> None:
    proc = run(PHIL, "--quiet", env={"GITHUB_ACTIONS": "true"})
    line = inspect.getsourcelines(gate_specs.Philosophers._take)[1]
    errors = [x for x in proc.stdout.splitlines() if x.startswith("::error ")]
    assert len(errors) == 1
    assert errors[0].startswith(f"::error file=tests/gate_specs.py,line={line},"
                                "title=model_check deadlock::Philosophers(): deadlock")
    assert "%0A" in errors[0] and "\n" not in errors[0]
    assert "::error" not in run(PHIL, "--quiet").stdout  # only when running in GitHub Actions


# -- the API under the CLI ------------------------------------------------------------------

def test_check_limits_in_process() -> None:
    from model_check import check, resident_memory

    assert resident_memory() > 1 << 20
    by_time = check(gate_specs.Ticker(), max_seconds=0.05, all_discoveries=True)
    assert (by_time.verdict, by_time.limit, by_time.complete) == ("inconclusive", "seconds", False)
    # the process is above 1 MB already: the first reading (at the first state) stops it
    by_memory = check(gate_specs.Ticker(break_at=3), max_memory=1 << 20, all_discoveries=True)
    assert (by_memory.verdict, by_memory.limit, by_memory.states) == ("inconclusive", "memory", 3)
    # a violation found before a limit keeps its verdict
    by_states = check(gate_specs.Ticker(break_at=3), max_states=20, all_discoveries=True)
    assert (by_states.verdict, by_states.property, by_states.limit) == ("violation", "small", "states")


def test_default_report_hooks() -> None:
    ticker = gate_specs.Ticker()
    assert (ticker.explain((0, 0)), ticker.legend()) == ([], {})
    assert ticker.lanes("left", (0, 0), (1, 0)) == [("spec", "spec", "left")]
    assert gate_specs.Philosophers().lanes(("A", "eat"), gate_specs.Forks("A", "A", 2, 0),
                                           gate_specs.Forks("-", "-", 3, 0)) == [
        ("A", "fork x", "release"), ("A", "fork y", "release")]
    # no dispatch table: the source is the spec's next_state
    path, line = ticker.action_source("left")
    assert (Path(path).name, line) == (
        "gate_specs.py", inspect.getsourcelines(gate_specs.Ticker.next_state)[1])
    # a dispatch table keyed by the action's label: that method
    path, line = gate_specs.Philosophers().action_source(("B", "eat"))
    assert line == inspect.getsourcelines(gate_specs.Philosophers._eat)[1]
