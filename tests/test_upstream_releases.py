"""The check on real SGLang releases: one pre-fix (0.5.10.post1), one post-fix (0.5.11).

Each wheel is downloaded once into the user cache (``$TOCTOU_SGLANG_CACHE`` or
``~/.cache/asyncio-toctou/sglang``). Offline, these tests are skipped with the reason;
with ``TOCTOU_REQUIRE_UPSTREAM=1`` (set by CI) that skip is a failure, so CI really runs
them. Only the hazards the #22290 / #22304 story is about are explored here (R1 and D1 on
tensor and ipc, S3 on disk, and D2 once); the whole table is ``python -m impl.upstream check VERSION``.
"""

from __future__ import annotations

import os

import pytest

from impl.upstream.check import Row, check_source
from impl.upstream.fetch import FetchError, Source, fetch_wheel

PRE_FIX, POST_FIX = "0.5.10.post1", "0.5.11"
_ROWS: dict[str, list[Row]] = {}


def _rows(version: str) -> dict[str, Row]:
    if version not in _ROWS:
        try:
            wheel = fetch_wheel(version)
        except FetchError as exc:
            if os.environ.get("TOCTOU_REQUIRE_UPSTREAM") == "1":
                pytest.fail(f"TOCTOU_REQUIRE_UPSTREAM=1 but SGLang {version} cannot be had: {exc}")
            pytest.skip(f"SGLang {version} cannot be downloaded (offline?): {exc}")
        src = Source.from_wheel(wheel, version)
        _ROWS[version] = (check_source(src, version, hazards=("R1", "D1"), kinds=("tensor", "ipc"))
                          + check_source(src, version, hazards=("S3", "D2"), kinds=("disk",),
                                         conformance=False))
    return {r.entry_point.removeprefix("update_weights_from_"): r for r in _ROWS[version]}


def test_pre_fix_release_reproduces_r1_and_d1() -> None:
    rows = _rows(PRE_FIX)
    tensor, ipc = rows["tensor"], rows["ipc"]
    # the version is one point of history: every entry point maps to the same variant
    assert (tensor.pattern, tensor.variant) == ("pre-fix", "IPC_BEFORE_22290")
    assert (ipc.pattern, ipc.variant) == ("writer-always", "IPC_BEFORE_22290")
    assert tensor.hazards["R1"] == "reproduced"
    assert "two weight versions while unpaused" in tensor.details["R1"]["harm"]
    # the real trace needs two same-kind updates: the second queues on the communicator
    assert tensor.details["R1"]["schedule"].count("upd2") >= 1
    assert ipc.hazards["D1"] == "reproduced"
    assert "acquire_writer" in ipc.details["D1"]["harm"]
    assert tensor.hazards["D1"] == "absent" and ipc.hazards["R1"] == "absent"


def test_post_fix_release_has_neither_r1_nor_d1() -> None:
    rows = _rows(POST_FIX)
    for kind in ("tensor", "ipc"):
        row = rows[kind]
        assert (row.pattern, row.variant) == ("post-fix", "POST_FIX")
        assert row.hazards["R1"] == "absent" and row.hazards["D1"] == "absent"
        assert row.details["R1"]["states"] > 100   # explored, not vacuous


@pytest.mark.parametrize("version, variant", [(PRE_FIX, "IPC_BEFORE_22290"),
                                              (POST_FIX, "POST_FIX")])
def test_conformance_holds_against_the_variant_of_the_version(version: str, variant: str) -> None:
    for kind in ("tensor", "ipc"):
        row = _rows(version)[kind]
        conf = row.details["conformance"]
        assert (row.conformance, conf["variant"]) == ("holds", variant), row.notes
        assert [s["equal"] for s in conf["scenarios"]] == [True, True, True]
        assert all(s["states"] > 300 for s in conf["scenarios"])   # explored, not vacuous


@pytest.mark.parametrize("version", [PRE_FIX, POST_FIX])
def test_disk_keeps_the_shared_slot_s3(version: str) -> None:
    disk = _rows(version)["disk"]
    # disk keeps the pre-fix pattern in every variant of the spec
    assert (disk.pattern, disk.variant) == (
        "pre-fix", "IPC_BEFORE_22290" if version == PRE_FIX else "POST_FIX")
    assert disk.hazards["S3"] == "reproduced"
    assert "InvalidStateError" in disk.details["S3"]["harm"]


@pytest.mark.parametrize("version", [PRE_FIX, POST_FIX])
def test_d2_an_abort_pause_after_an_in_place_one_never_returns(version: str) -> None:
    disk = _rows(version)["disk"]
    assert disk.hazards["D2"] == "reproduced"
    harm = disk.details["D2"]["harm"]
    assert harm.startswith("stuck: no schedule lets pauser2 finish")
    assert "pause_generation" in harm and "asyncio.sleep" in harm  # spinning, holding CL


def test_a1_an_abort_pause_misses_a_woken_request_in_the_post_fix_release() -> None:
    """A1 on the real code: the abort-mode pause's timer may fire at any point
    (``timers="any"``); the pause counts readers only, and a request woken by the first
    update's release but not yet resumed holds none."""
    try:
        wheel = fetch_wheel(POST_FIX)
    except FetchError as exc:
        if os.environ.get("TOCTOU_REQUIRE_UPSTREAM") == "1":
            pytest.fail(f"TOCTOU_REQUIRE_UPSTREAM=1 but SGLang {POST_FIX} cannot be had: {exc}")
        pytest.skip(f"SGLang {POST_FIX} cannot be downloaded (offline?): {exc}")
    row = check_source(Source.from_wheel(wheel, POST_FIX), POST_FIX, hazards=("A1",),
                       kinds=("tensor",))[0]
    assert row.hazards["A1"] == "reproduced"
    a1 = row.details["A1"]
    assert "timers=any" in a1["scenario"] and "two weight versions while unpaused" in a1["harm"]
    schedule = a1["schedule"]
    # the pause returned (its probe found no reader) before the request took its reader
    assert schedule.index("pauser") < len(schedule) - 1 - schedule[::-1].index("gen")
