"""The benchmark's peer encodings count exactly the states of the benchmark definition's definition.

Spin (Debian package ``spin`` and gcc) and musil (a Python 3.12+ with musil: ``python -m
spec.bench --setup-musil`` or ``$MUSIL_PYTHON``) are optional: each test is skipped, saying
why, when its peer is missing.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from model_check import check
from spec import bench
from spec.expected import TARGETS
from spec.peers import musil_source, promela_source

CASES = [(2, "A", False), (3, "B", False), (3, "B", True)]


def ours(g: int, scenario: str, post: bool) -> tuple[int, int]:
    name = "PAUSE_UPDATE_POST_FIX" if post else "PAUSE_UPDATE_PRE_FIX"
    # Full space: the peers check the invariant, so compare without properties.
    r = check(TARGETS[name](clients=g, scenario=scenario), properties=[], deadlock=False)
    return r.states, r.transitions


@pytest.mark.parametrize("g,scenario,post", CASES)
def test_spin_encoding_counts_the_same_states(tmp_path: Path, g: int, scenario: str,
                                              post: bool) -> None:
    spin = bench.Spin()
    why = spin.available()
    if why:
        pytest.skip(why)
    text = promela_source(g, scenario, post_fix=post)
    (tmp_path / "pause_update.pml").write_text(text.replace("assert(", "skip; (1 || "))
    for cmd in (["spin", "-a", "pause_update.pml"],
                ["gcc", "-O0", "-DSAFETY", "-DNOREDUCE", "-o", "pan", "pan.c"]):
        subprocess.run(cmd, cwd=tmp_path, check=True, capture_output=True)
    out = subprocess.run(["./pan", "-m100000", "-E"], cwd=tmp_path, capture_output=True,
                         text=True).stdout
    stored = int(next(line for line in out.splitlines() if "states, stored" in line).split()[0])
    edges = int(next(line for line in out.splitlines() if "transitions (=" in line).split()[0])
    assert (stored, edges - 1) == ours(g, scenario, post)


def test_spin_finds_the_pre_fix_violation(tmp_path: Path) -> None:
    spin = bench.Spin()
    why = spin.available()
    if why:
        pytest.skip(why)
    (tmp_path / "pause_update.pml").write_text(promela_source(2, "B", post_fix=False))
    for cmd in (["spin", "-a", "pause_update.pml"],
                ["gcc", "-O0", "-DSAFETY", "-DNOREDUCE", "-o", "pan", "pan.c"]):
        subprocess.run(cmd, cwd=tmp_path, check=True, capture_output=True)
    out = subprocess.run(["./pan", "-m100000"], cwd=tmp_path, capture_output=True,
                         text=True).stdout
    assert "assertion violated" in out


@pytest.mark.parametrize("g,scenario,post", [(3, "B", True), (2, "A", False)])
def test_musil_encoding_counts_the_same_states(tmp_path: Path, g: int, scenario: str,
                                               post: bool) -> None:
    musil = bench.Musil(None)
    why = musil.available()
    if why:
        pytest.skip(why)
    script = tmp_path / "m.py"
    script.write_text(musil_source())
    done = subprocess.run([musil.python, str(script), str(g), scenario,
                           "post" if post else "pre"], capture_output=True, text=True, check=True)
    figures = json.loads(done.stdout.splitlines()[-1])
    assert figures["verdict"] == "ok"
    assert figures["states"] == ours(g, scenario, post)[0]


def test_run_prints_one_json_line_per_path(capsys: pytest.CaptureFixture[str]) -> None:
    lines = []
    for path in ("fast", "plain", "fast-symmetry"):
        assert bench.main(["--run", path, "BREAKER", "workers=3", "cap=2", "limit=2"]) == 0
        lines.append(json.loads(capsys.readouterr().out))
    assert lines[0]["states"] == lines[1]["states"] > lines[2]["states"]
    assert lines[0]["transitions"] == lines[1]["transitions"]


def test_bench_rejects_bad_counts() -> None:
    with pytest.raises(SystemExit) as info:
        bench.main(["--compare", "--clients", "0"])
    assert info.value.code == 2
