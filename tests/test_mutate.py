"""The gate's kill rate: lock-edit mutants of the engine, applied in a temporary copy."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from impl.engine import mutate

ROOT = Path(__file__).resolve().parents[1]
BY_NAME = {m.name: m for m in mutate.CATALOGUE}


def test_every_mutant_applies_exactly_once_and_leaves_the_repository_alone(tmp_path):
    before = {p: p.read_text() for p in (ROOT / "impl").rglob("*.py")}
    for i, m in enumerate(mutate.CATALOGUE):
        copy = mutate.mutated_copy(m, tmp_path / str(i))
        assert (copy / m.file).read_text() != before[ROOT / "impl" / m.file]
    assert {p: p.read_text() for p in (ROOT / "impl").rglob("*.py")} == before
    assert any(not m.harmful and m.reason for m in mutate.CATALOGUE)
    assert all(m.harmful or m.reason for m in mutate.CATALOGUE)


def test_a_mutant_whose_text_is_gone_is_reported_not_applied():
    stale = dataclasses.replace(BY_NAME["fix_reverted"], old="no such line in the engine")
    outcome = mutate.run_mutant(stale)
    assert outcome.killed_by is None and outcome.detail.startswith("NOT APPLIED")
    assert not outcome.as_expected   # a harmful mutant that did not apply is not a kill


@pytest.mark.parametrize("name", ["continue_without_notify", "comm_never_queues",
                                  "continue_sends_after_clearing"])
def test_the_gate_kills_harmful_mutants_and_spares_equivalent_ones(name):
    outcome = mutate.run_mutant(BY_NAME[name])
    assert outcome.as_expected, (outcome.killed_by, outcome.detail)
    if outcome.mutant.harmful:
        assert outcome.killed_by.startswith("graph ")


@pytest.mark.slow
def test_every_harmful_mutant_is_killed():
    out = subprocess.run([sys.executable, "-m", "impl.engine.mutate"], cwd=ROOT, capture_output=True,
                         text=True, timeout=3000, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "harmful mutants killed: 11/11 (100%)" in out.stdout


def test_the_unmutated_engine_passes_the_gate():
    outcome = mutate.run_mutant(mutate.BASELINE)
    assert outcome.killed_by is None, outcome.detail


def test_cli_misuse_exits_2():
    out = subprocess.run([sys.executable, "-m", "impl.engine.mutate", "--only", "zzz"], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    assert out.returncode == 2 and "no mutant name contains 'zzz'" in out.stderr
