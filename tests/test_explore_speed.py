"""The faster real-code exploration finds exactly what the reference algorithm finds.

:func:`impl.machinery.explore.explore` parks the engine that first reached a state, tunes the garbage
collector, and with ``workers=2`` shares wide levels with a forked helper process; the
reference (``park=False``) replays every branch on a fresh engine in one process.  The
schedules, states, edges and the initial state must be identical, on the correct engine and
on planted bugs (the mutants of ``tests/test_conformance.py``); only the replay work (``steps``) may differ.  Speed itself is printed by
``python -m impl.engine.explore --bench``, never asserted here.
"""

from __future__ import annotations

import os

import pytest

import impl.engine.explore as explore_cli
import impl.machinery.explore as explore_module
from impl.engine.explore import explore
from impl.machinery.explore import Exploration, _share
from tests.test_conformance import ContinueWithoutNotify, TwoCallsInFlight


def _figures(found: Exploration) -> tuple[object, ...]:
    return found.schedules, found.initial, found.states, found.edges


SCENARIOS = [
    ("POST_FIX", None, {"scenario": "concurrent", "requests": 1}),
    ("PRE_FIX", None, {"scenario": "concurrent", "requests": 0, "updates": 2}),
    ("POST_FIX", ContinueWithoutNotify, {"scenario": "concurrent", "requests": 1}),
    ("POST_FIX", TwoCallsInFlight, {"scenario": "concurrent", "requests": 0, "updates": 2}),
    ("POST_FIX", None, {"scenario": "concurrent", "requests": 0, "updates": 2,
                        "kinds": "disk,disk"}),  # engines with temporary files in both processes
]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the helper process needs os.fork")
@pytest.mark.parametrize(("variant", "factory", "params"), SCENARIOS,
                         ids=["post-fix", "pre-fix-two-updates", "planted-bug", "planted-bug-two-updates", "disk"])
def test_parked_and_two_process_explorations_equal_the_reference(variant, factory, params,
                                                                   monkeypatch):
    helpers = []
    real = explore_module._Helper

    def counting(*args, **kwargs):
        helpers.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(explore_module, "_Helper", counting)
    monkeypatch.setattr(explore_module, "SPLIT_MIN", 4)  # split even these small levels
    reference = explore(variant, engine_factory=factory, park=False, **params)
    alone = explore(variant, engine_factory=factory, workers=1, **params)
    assert not helpers
    shared = explore(variant, engine_factory=factory, workers=2, **params)
    assert helpers == [1]  # one helper process served every split level
    assert _figures(alone) == _figures(reference)
    assert _figures(shared) == _figures(reference)
    assert len(reference.edges) == reference.schedules
    assert alone.steps < reference.steps  # parking saved replays


def test_a_tiny_park_limit_changes_no_figure(monkeypatch):
    params = {"scenario": "concurrent", "requests": 1}
    reference = explore("POST_FIX", **params)
    monkeypatch.setattr(explore_module, "PARK_LIMIT", 3)
    assert _figures(explore("POST_FIX", **params)) == _figures(reference)


def test_share_keeps_level_order_and_affinity():
    frontier = list(range(10))
    mine, theirs = _share(frontier, {0, 1, 2}, {k: (k, "") for k in (3, 4, 5, 6, 7, 8)}, 0.5)
    assert (mine, theirs) == ([0, 1, 2, 8, 9], [3, 4, 5, 6, 7])  # own engines, then halves
    mine, theirs = _share(frontier, set(), {k: (k, "") for k in frontier}, 0.3)
    assert (mine, theirs) == ([7, 8, 9], [0, 1, 2, 3, 4, 5, 6])  # 30%, each in level order


def test_explore_rejects_a_third_worker():
    with pytest.raises(ValueError, match="workers must be 1 or 2, got 3"):
        explore("POST_FIX", workers=3, scenario="concurrent", requests=1)


def test_cli_misuse_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        explore_cli.main([])
    assert exc.value.code == 2
    assert "VARIANT is required" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        explore_cli.main(["--bench", "POST_FIX"])
    assert exc.value.code == 2
