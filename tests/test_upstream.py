"""The upstream adapter on synthetic source trees written by the tests (no network).

Parsing and stub edge cases: a renamed method, an attribute or global outside the stub
surface, an extra await between check and act; the pattern classifier; positions read
from coroutine stacks; the CLI's usage errors and JSON shape.
"""

from __future__ import annotations

import ast
import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from impl.upstream.check import check_source, exit_status
from impl.upstream.driver import Unsupported, build_factory, free_globals
from impl.upstream.extract import classify, extract, variant_of
from impl.upstream.fetch import FetchError, Source, cache_dir, cached_wheel, check_version
from impl.upstream.hazards import explore, run_hazard
from impl.upstream.position import stack
from impl.upstream.world import Scenario, World

sys.path.insert(0, str(Path(__file__).parent))
from test_upstream_synthetic import UPDATES, write_tree  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _source(tmp_path: Path, update: str = "pre-fix", **kw: str) -> Source:
    return Source.from_dir(write_tree(tmp_path, update, **kw))


def _fn(update: str) -> ast.AsyncFunctionDef:
    import textwrap
    node = ast.parse(textwrap.dedent(UPDATES[update])).body[0]
    assert isinstance(node, ast.AsyncFunctionDef)
    return node


# ---------------------------------------------------------------- classification
@pytest.mark.parametrize("update, pattern, gap", [
    ("pre-fix", "pre-fix", 0), ("gap", "pre-fix", 1), ("post-fix", "post-fix", 0),
    ("new-attr", "writer-always", 0),
])
def test_classify_patterns(update: str, pattern: str, gap: int) -> None:
    got = classify(_fn(update))
    assert (got.pattern, got.gap_awaits) == (pattern, gap)


def test_classify_other_when_the_flag_is_read_but_never_acted_on() -> None:
    fn = ast.parse("async def update_weights_from_tensor(self, obj):\n"
                   "    async with self.is_pause_cond:\n"
                   "        paused = self.is_pause\n"
                   "    return paused\n").body[0]
    assert isinstance(fn, ast.AsyncFunctionDef)
    assert classify(fn).pattern == "other"


def test_a_version_maps_to_exactly_one_variant() -> None:
    assert variant_of({"tensor": "pre-fix", "distributed": "pre-fix", "ipc": "writer-always",
                       "disk": "pre-fix"}) == "IPC_BEFORE_22290"
    assert variant_of({"tensor": "pre-fix", "distributed": "pre-fix", "ipc": "pre-fix",
                       "disk": "pre-fix"}) == "PRE_FIX"
    assert variant_of({"tensor": "post-fix", "distributed": "post-fix", "ipc": "post-fix",
                       "disk": "pre-fix"}) == "POST_FIX"
    assert variant_of({"tensor": "post-fix", "ipc": "missing", "disk": "pre-fix"}) == "POST_FIX"
    assert variant_of({"tensor": "post-fix", "disk": "post-fix"}) == "none"  # no such history
    assert variant_of({"tensor": "other"}) == "none"


# ---------------------------------------------------------------- extraction
def test_extract_finds_every_piece(tmp_path: Path) -> None:
    ex = extract(_source(tmp_path))
    assert ex.missing == []
    assert ex.comm_class is not None and ex.comm_class.name == "Channel"
    assert ex.rwlock_rel == "sglang/srt/utils/aio_rwlock.py"
    assert set(ex.patterns) == {"tensor"} and ex.entry("disk") is None
    labels = {p.label for p in ex.await_points}
    assert "generate_request:8 async with self.is_pause_cond" in labels


def test_renamed_method_is_unsupported_not_a_crash(tmp_path: Path) -> None:
    src = _source(tmp_path, pause_name="pause")
    assert "method pause_generation" in extract(src).missing
    rows = check_source(src, "synthetic", hazards=("R1",), kinds=("tensor",))
    assert rows[0].hazards["R1"] == "unsupported"
    assert "needs method pause_generation" in rows[0].notes["R1"]
    assert exit_status(rows) == 2


def test_missing_entry_point_is_na(tmp_path: Path) -> None:
    rows = check_source(_source(tmp_path), "synthetic", hazards=("D1",), kinds=("ipc",))
    assert rows[0].pattern == "missing" and rows[0].hazards["D1"] == "n/a"


def test_source_dir_without_sglang_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="no sglang/srt folder"):
        Source.from_dir(tmp_path)


# ---------------------------------------------------------------- the stub surface
def test_attribute_outside_the_surface_is_unsupported(tmp_path: Path) -> None:
    rows = check_source(_source(tmp_path, "new-attr"), "synthetic", hazards=("D1",),
                        kinds=("tensor",))
    assert rows[0].hazards["D1"] == "unsupported"
    assert "needs self.weight_sync_budget" in rows[0].notes["D1"]


def test_global_outside_the_surface_is_unsupported_before_running(tmp_path: Path) -> None:
    factory = build_factory(extract(_source(tmp_path, "new-global")))
    assert factory.unsupported == ["update_weights_from_tensor needs globals ['merge_update_results']"]
    rows = check_source(_source(tmp_path, "new-global"), "synthetic", hazards=("R1",),
                        kinds=("tensor",))
    assert rows[0].hazards["R1"] == "unsupported"


def test_free_globals_ignore_annotations_and_locals() -> None:
    tree = ast.parse("def f(self, x: Missing) -> Other:\n    y: Gone = x\n    return zmq.send(y)\n")
    assert free_globals(tree) == {"zmq"}


def test_unsupported_is_not_swallowed_by_except_exception() -> None:
    assert not issubclass(Unsupported, Exception)


# ---------------------------------------------------------------- positions
def test_positions_come_from_the_coroutine_stack(tmp_path: Path) -> None:
    factory = build_factory(extract(_source(tmp_path, "post-fix")))
    world = World(factory, Scenario("t", (("gen", (("gen",),)),)))
    try:
        world.step("gen")   # passes the gate, takes the reader, suspends in tokenization
        where = world.where("gen")
        assert where[1] == "generate_request:11 await self._tokenize_one_request(obj)"
        world.step("gen")   # sends; waits for the output
        assert world.where("gen")[1].startswith("generate_request:13 async for")
    finally:
        world.close()


def test_stack_walks_async_generators() -> None:
    async def agen():
        await asyncio.sleep(0)   # a bare yield: needs no event loop
        yield 1

    async def consumer():
        async for _ in agen():
            pass

    coro = consumer()
    coro.send(None)
    try:
        assert [f[1] for f in stack(coro)] == ["consumer", "agen", "sleep", "__sleep0"]
    finally:
        coro.close()


# ---------------------------------------------------------------- hazards
def test_prefix_tree_reproduces_r1_postfix_tree_does_not(tmp_path: Path) -> None:
    pre = check_source(_source(tmp_path / "a"), "pre", hazards=("R1",), kinds=("tensor",))[0]
    post = check_source(_source(tmp_path / "b", "post-fix"), "post", hazards=("R1",),
                        kinds=("tensor",))[0]
    assert pre.hazards["R1"] == "reproduced"
    assert "two weight versions while unpaused" in pre.details["R1"]["harm"]
    assert post.hazards["R1"] == "absent"
    assert post.details["R1"]["states"] > 100   # a complete exploration, not an empty one


def test_extra_await_between_check_and_act_lets_one_update_mix(tmp_path: Path) -> None:
    """With an await in the gap, R1 needs no busy communicator: one update is enough."""
    one = Scenario("R1-single", (("pauser", (("pause", "in_place"), ("set", "p"))),
                                 ("upd", (("wait", "p"), ("update", "tensor"))),
                                 ("cont", (("wait", "p"), ("continue",))),
                                 ("gen", (("wait", "p"), ("gen",)))))
    gap = explore(build_factory(extract(_source(tmp_path / "g", "gap"))), one, "mixed")
    pre = explore(build_factory(extract(_source(tmp_path / "p"))), one, "mixed")
    assert gap.harm is not None and gap.complete
    assert pre.harm is None and pre.complete


def test_vacuous_scenario_is_refused(tmp_path: Path) -> None:
    """A hazard whose scenario never pauses is reported unsupported, never absent."""
    from impl.upstream import hazards
    factory = build_factory(extract(_source(tmp_path)))
    saved = hazards.HAZARDS["D1"]
    hazards.HAZARDS["D1"] = hazards.Hazard(
        "D1", "stuck", lambda k: Scenario("no-pause", (("t", (("update", k),)),)), watch="t")
    try:
        res = run_hazard(factory, "D1", "tensor")
    finally:
        hazards.HAZARDS["D1"] = saved
    assert res.verdict == "unsupported: vacuous (the scenario never paused)"


# ---------------------------------------------------------------- fetching and the CLI
def test_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TOCTOU_SGLANG_CACHE", str(tmp_path / "env"))
    assert cache_dir() == tmp_path / "env"
    assert cache_dir(tmp_path / "flag") == tmp_path / "flag"
    monkeypatch.delenv("TOCTOU_SGLANG_CACHE")
    assert cache_dir().parts[-3:] == (".cache", "asyncio-toctou", "sglang")


def test_cached_wheel_is_found_without_pip(tmp_path: Path) -> None:
    folder = tmp_path / "0.5.10.post1"
    folder.mkdir()
    (folder / "sglang-0.5.10.post1-py3-none-any.whl").write_bytes(b"")
    assert cached_wheel("0.5.10.post1", tmp_path) == folder / "sglang-0.5.10.post1-py3-none-any.whl"
    assert cached_wheel("0.5.11", tmp_path) is None


def test_bad_version_string() -> None:
    with pytest.raises(FetchError, match="bad version '0.5;rm'"):
        check_version("0.5;rm")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "impl.upstream", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=240)


@pytest.mark.parametrize("args, message", [
    (("check", "0.5.10.post1", "--hazards", "R9"), "unknown hazard ['R9']"),
    (("check", "not-a-version"), "bad version 'not-a-version'"),
    (("matrix", "--versions", "1.0;x"), "bad version '1.0;x'"),
    (("frobnicate",), "invalid choice"),
])
def test_cli_usage_errors_exit_2(args: tuple[str, ...], message: str) -> None:
    proc = _cli(*args)
    assert proc.returncode == 2
    assert message in proc.stderr


def test_cli_check_source_json(tmp_path: Path) -> None:
    root = write_tree(tmp_path, "pre-fix")
    proc = _cli("check", "synthetic", "--source", str(root), "--json", "--hazards", "D1,R2",
                "--no-conformance")
    assert proc.returncode == 1, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["entry_point"] for r in rows] == [f"update_weights_from_{k}" for k in
                                                ("distributed", "tensor", "ipc", "disk")]
    tensor = rows[1]
    assert {k: tensor[k] for k in ("version", "pattern", "variant", "conformance")} == \
        {"version": "synthetic", "pattern": "pre-fix", "variant": "PRE_FIX",
         "conformance": "not checked"}
    assert tensor["hazards"]["D1"] == "absent" and tensor["hazards"]["R2"] == "reproduced"
    assert set(tensor["hazards"]) == {"R1", "D1", "R2", "A1", "D2", "S1", "S3", "C1"}
    assert rows[0]["pattern"] == "missing" and rows[0]["hazards"]["R2"] == "n/a"


# ---------------------------------------------------------------- conformance
def test_conformance_prints_the_first_differing_edge_side_by_side(tmp_path: Path) -> None:
    """The synthetic manager sends its pause request in every mode; SGLang's abort mode
    sends abort-all only.  The in_place scenarios hold; the abort one fails at its first
    step, and the report shows both states with the differing variable marked."""
    row = check_source(_source(tmp_path, "post-fix"), "synthetic", hazards=(),
                       kinds=("tensor",))[0]
    assert (row.variant, row.conformance) == ("POST_FIX", "fails")
    equal = [s["equal"] for s in row.details["conformance"]["scenarios"]]
    assert equal == [True, True, False]
    note = row.notes["conformance"]
    assert "'mode': 'abort'" in note and "pauser pause.start" in note
    marked = [line for line in note.splitlines() if line.startswith("!")]
    assert len(marked) == 1 and "('abort',)" in marked[0] and "pause(abort)" in marked[0]
    assert exit_status([row]) == 1


def test_conformance_catches_the_paused_branch_leaving_cl(tmp_path: Path) -> None:
    rows, changed = _mutant_rows(tmp_path, "post-fix", "paused-leaves-cl", hazards=(),
                                 kinds=("tensor",))
    assert changed == ["update_weights_from_tensor"]
    note = rows[0].notes["conformance"]
    assert rows[0].conformance == "fails" and "upd0 upd.start" in note
    assert any(line.startswith("! CL ") for line in note.splitlines())


def test_conformance_of_an_unreadable_rwlock_is_unsupported(tmp_path: Path) -> None:
    root = write_tree(tmp_path, "post-fix")
    lock = root / "python" / "sglang" / "srt" / "utils" / "aio_rwlock.py"
    lock.write_text(lock.read_text().replace("_waiting_writers", "_queued_writers"))
    row = check_source(Source.from_dir(root), "synthetic", hazards=(), kinds=("tensor",))[0]
    assert row.conformance == "unsupported"
    assert row.notes["conformance"] == ("unsupported: needs the RWLock attribute "
                                        "_waiting_writers (to read its state)")
    assert exit_status([row]) == 2


# ---------------------------------------------------------------- the stub surface is one list
def test_stub_surface_is_exactly_what_the_driver_supplies(tmp_path: Path) -> None:
    from impl.upstream.driver import STUB_SURFACE, Driver, SchedulerSide
    factory = build_factory(extract(_source(tmp_path)))
    loop = asyncio.new_event_loop()
    asyncio.events._set_running_loop(loop)
    try:
        driver = factory.new(SchedulerSide())
    finally:
        asyncio.events._set_running_loop(None)
        loop.close()
    internal = {"deliver_ack"}
    supplied = {k for k in vars(driver) if not k.startswith("_") or k in STUB_SURFACE}
    supplied |= {k for k in vars(Driver) if not k.startswith("__") and not k.startswith("_comm")
                 and k not in ("_new_comm", "_rwlock_cls") and k not in internal}
    assert supplied == set(STUB_SURFACE)


# ---------------------------------------------------------------- mutants
def _mutant_rows(tmp_path: Path, update: str, mutant: str | None, **kw: object) -> list:
    from impl.upstream.mutate import MUTANTS
    changed: list[str] = []
    rows = check_source(_source(tmp_path, update), "synthetic",
                        transform=MUTANTS[mutant].transform(changed) if mutant else None, **kw)
    return [rows, changed]


def test_mutant_paused_leaves_cl_reopens_r1(tmp_path: Path) -> None:
    rows, changed = _mutant_rows(tmp_path, "post-fix", "paused-leaves-cl", hazards=("R1",),
                                 kinds=("tensor",))
    assert changed == ["update_weights_from_tensor"]
    assert rows[0].hazards["R1"] == "reproduced"


def test_mutant_await_in_gap_is_under_cl_on_post_fix(tmp_path: Path) -> None:
    import textwrap
    from impl.upstream.mutate import await_in_gap
    for update, suffix in (("post-fix", " (inside async with is_pause_cond)"), ("pre-fix", "")):
        module = ast.parse(textwrap.dedent(UPDATES[update]))
        changed: list[str] = []
        await_in_gap(module, changed)
        assert changed == ["update_weights_from_tensor" + suffix]
        assert "await asyncio.sleep(0)" in ast.unparse(module)


def test_mutant_drop_notify_leaves_requests_parked(tmp_path: Path) -> None:
    from impl.upstream.mutate import compare
    base, _ = _mutant_rows(tmp_path / "a", "post-fix", None, hazards=("D1",), kinds=("tensor",))
    rows, changed = _mutant_rows(tmp_path / "b", "post-fix", "drop-notify", hazards=("D1",),
                                 kinds=("tensor",))
    assert changed == ["continue_generation"]
    diffs = compare(base, rows)
    assert len(diffs) == 1 and diffs[0].startswith("tensor D1 progress: 0 -> ")
    assert rows[0].hazards["D1"] == "absent"   # the trainer itself still finishes


def test_mutant_writer_wait_once_turns_while_into_if() -> None:
    from impl.upstream.mutate import writer_wait_once
    module = ast.parse("class RWLock:\n    async def acquire_writer(self):\n"
                       "        while self._busy:\n            await self._cond.wait()\n")
    changed: list[str] = []
    writer_wait_once(module, changed)
    assert changed == ["acquire_writer"]
    assert "if self._busy:" in ast.unparse(module)


def test_cli_unknown_mutant_exits_2(tmp_path: Path) -> None:
    proc = _cli("check", "x", "--source", str(write_tree(tmp_path)), "--mutate", "nope")
    assert proc.returncode == 2 and "unknown mutant 'nope'" in proc.stderr


def test_c1_a_cancelled_caller_blocks_the_next(tmp_path: Path) -> None:
    """The exploration may cancel a suspended client: our channel has no clean-up either."""
    row = check_source(_source(tmp_path, "post-fix"), "synthetic", hazards=("C1",),
                       kinds=("tensor",))[0]
    assert row.hazards["C1"] == "reproduced"
    assert "cancel:upd1" in row.details["C1"]["schedule"]
    assert "no schedule lets upd2 finish" in row.details["C1"]["harm"]


def test_offline_download_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from impl.upstream.fetch import fetch_wheel
    monkeypatch.setenv("PIP_NO_INDEX", "1")          # pip as if the registry were unreachable
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    with pytest.raises(FetchError, match=r"cannot download sglang==0\.5\.10\.post1 \(offline"):
        fetch_wheel("0.5.10.post1", tmp_path / "cache")
