"""The check on the newest release it runs end to end (0.5.23).

Same caching and skip rule as ``test_upstream_releases.py``: the wheel is downloaded once
into the user cache (``$TOCTOU_SGLANG_CACHE`` or ``~/.cache/asyncio-toctou/sglang``);
offline these tests are skipped, and with ``TOCTOU_REQUIRE_UPSTREAM=1`` that skip is a
failure. Only the tensor and disk entry points and the hazards the newest releases changed
or kept are explored (about 20 s in all, so none of it is ``slow``); the whole table is
``python -m impl.upstream check 0.5.23``.
"""

from __future__ import annotations

import os

import pytest

from impl.upstream.check import Row, check_source
from impl.upstream.fetch import FetchError, Source, fetch_wheel

NEWEST = "0.5.23"
MARKS_ABORTED = "0.5.17"   # the one release whose abort-all marks request states
_ROWS: dict[tuple[str, ...], list[Row]] = {}


def _source(version: str = NEWEST) -> Source:
    try:
        wheel = fetch_wheel(version)
    except FetchError as exc:
        if os.environ.get("TOCTOU_REQUIRE_UPSTREAM") == "1":
            pytest.fail(f"TOCTOU_REQUIRE_UPSTREAM=1 but SGLang {version} cannot be had: {exc}")
        pytest.skip(f"SGLang {version} cannot be downloaded (offline?): {exc}")
    return Source.from_wheel(wheel, version)


def _rows(hazards: tuple[str, ...], kinds: tuple[str, ...], conformance: bool) -> dict[str, Row]:
    key = (*hazards, "|", *kinds, str(conformance))
    if key not in _ROWS:
        _ROWS[key] = check_source(_source(), NEWEST, hazards=hazards, kinds=kinds,
                                  conformance=conformance)
    return {r.entry_point.removeprefix("update_weights_from_"): r for r in _ROWS[key]}


def test_newest_release_is_post_fix_and_r1_stays_closed() -> None:
    rows = _rows(("R1", "C1", "S3"), ("tensor", "disk"), False)
    tensor, disk = rows["tensor"], rows["disk"]
    assert (tensor.pattern, tensor.variant) == ("post-fix", "POST_FIX")
    assert (disk.pattern, disk.variant) == ("pre-fix", "POST_FIX")   # disk: the old pattern
    assert "unsupported" not in tensor.hazards.values(), tensor.notes
    assert tensor.hazards["R1"] == "absent" and tensor.details["R1"]["states"] > 100


def test_newest_release_c1_is_a_late_reply_not_a_stuck_queue() -> None:
    """From 0.5.16 the communicator queues on an asyncio.Lock, released on cancellation:
    the caller behind a cancelled one is no longer stuck, but it is handed the cancelled
    call's late reply and returns success before its own update was applied."""
    rows = _rows(("R1", "C1", "S3"), ("tensor", "disk"), False)
    tensor, disk = rows["tensor"], rows["disk"]
    assert tensor.hazards["C1"] == "reproduced"
    harm = tensor.details["C1"]["harm"]
    assert harm.startswith("upd2 returned success before its own update was applied"), harm
    assert "cancel:upd1" in tensor.details["C1"]["schedule"]
    # disk has no communicator: the shared slot still kills the reply handler
    assert disk.hazards["S3"] == "reproduced" and disk.hazards["C1"] == "reproduced"
    assert "InvalidStateError" in disk.details["S3"]["harm"]


def test_newest_release_conforms_and_keeps_a1() -> None:
    """Conformance's three scenarios (the lock-based communicator read as the spec's queue)
    and A1 on the tensor entry point: a few seconds."""
    tensor = _rows(("A1",), ("tensor",), True)["tensor"]
    conf = tensor.details["conformance"]
    assert (tensor.conformance, conf["variant"]) == ("holds", "POST_FIX"), tensor.notes
    assert [s["equal"] for s in conf["scenarios"]] == [True, True, True]
    assert all(s["states"] > 300 for s in conf["scenarios"])
    assert tensor.hazards["A1"] == "reproduced"
    assert "two weight versions while unpaused" in tensor.details["A1"]["harm"]


def test_0_5_17_abort_all_reaches_a_request_not_yet_sent_so_a1_is_absent() -> None:
    """0.5.17 only: an abort-all marks every request state and the request path raises
    before sending a marked request, so the woken request A1 needs gives up instead of
    running across the paused-branch update (a few seconds)."""
    src = _source(MARKS_ABORTED)
    row = check_source(src, MARKS_ABORTED, hazards=("A1",), kinds=("tensor",),
                       conformance=False)[0]
    assert (row.pattern, row.variant) == ("post-fix", "POST_FIX")
    assert row.hazards["A1"] == "absent", row.notes
    assert row.details["A1"]["states"] > 500   # explored, not vacuous
