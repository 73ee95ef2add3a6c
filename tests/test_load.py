"""The load benchmark (impl.engine.load): no request lost, no mixed version, every lock free."""

from __future__ import annotations

import pytest

from impl.engine import MODES
from impl.engine.load import main, run_load


@pytest.mark.parametrize("variant", ["POST_FIX", "PRE_FIX"])
@pytest.mark.parametrize("mode", MODES)
def test_small_load_loses_nothing_mixes_nothing_and_frees_every_lock(mode, variant):
    report = run_load(requests=100, cycles=10, mode=mode, variant=variant, seed=3)
    assert report.lost == 0 and report.mixed == 0 and report.locks_free and report.ok
    assert report.completed + report.aborted == 100
    assert report.overlapped == 10 and report.version == 10  # every cycle overlapped, applied
    if mode != "abort":
        assert report.aborted == 0


def test_load_reports_the_d1_deadlock_as_a_stall_with_lost_requests():
    # update_weights_from_ipc before #22290 takes the writer side while paused requests hold
    # readers: nothing can move; the watchdog stops the run and counts what never finished.
    report = run_load(requests=20, cycles=2, mode="in_place", variant="IPC_BEFORE_22290",
                      stall_timeout=0.5)
    assert report.stalled and report.lost > 0 and not report.ok
    assert report.locks_free  # cancelling the stuck update and requests released everything
    assert "STALLED" in report.line()


def test_cli_prints_one_line_and_exits_0_when_all_is_well(capsys):
    assert main(["--requests", "30", "--cycles", "3", "--mode", "retract"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("load: variant=POST_FIX mode=retract requests=30 cycles=3 seconds=")
    assert "lost=0 aborted=0 mixed=0 locks_free=True" in line and "\n" not in line


def test_cli_misuse_exits_2_naming_the_valid_values(capsys):
    for argv in (["--mode", "soft"], ["--requests", "0"], ["--variant", "NEW"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'soft' (choose from 'abort', 'in_place', 'retract')" in err
    assert "argument --requests: must be an int >= 1, got 0" in err


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_full_load_1000_requests_100_cycles(mode, capsys):
    report = run_load(requests=1000, cycles=100, mode=mode, variant="POST_FIX")
    with capsys.disabled():
        print("\n" + report.line())
    assert report.ok and report.overlapped == 100 and report.version == 100
