"""Bad input to the engine: each is refused at once, naming what was wrong and what is valid,
and changes nothing (no lock taken, no message sent, no id drawn, no weight written).

"At once" is shown on a :class:`~impl.machinery.controlled.ControlledLoop`: the call fails in its
first step, while another task holds CL (a call that tried to take CL, or to wait for the
scheduler, would block there instead of failing).
"""

from __future__ import annotations

import asyncio
import math
import os
import pickle
import warnings
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
import torch

from impl.engine import validate
from impl.machinery.controlled import ControlledLoop, RandomChooser
from impl.engine import ENGINES, MODES, Engine, PostFixEngine, WeightUpdateError
from impl.engine.load import MAX_SEED, main, run_load
from impl.engine.validate import EngineError, EngineInputError, EngineNotRunning
from impl.engine.weights import TinyLM, load_file, perturbed, to_bytes

Call = Callable[[Engine], Coroutine[Any, Any, Any]]


def make(variant: str = "POST_FIX") -> Engine:
    return ENGINES[variant](seed=1, abort_poll_interval=0.001)


def state(engine: Engine) -> tuple[Any, ...]:
    """Everything a refused call must leave as it was."""
    return (engine.is_pause, list(engine.inbox), list(engine.replies), engine.version,
            list(engine.monitor.applied), repr(engine._ids), engine.paused,
            list(engine.running), {k: t.clone() for k, t in engine.model.state_dict().items()})


def same_state(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    *rest_a, weights_a = a
    *rest_b, weights_b = b
    return rest_a == rest_b and weights_a.keys() == weights_b.keys() and all(
        torch.equal(weights_a[k], weights_b[k]) for k in weights_a)


async def hold(lock: asyncio.Lock, release: asyncio.Event) -> None:
    async with lock:
        await release.wait()


def refused_at_once(engine: Engine, call: Call, error: type[Exception], pattern: str,
                    serving: bool = True) -> Exception:
    """On a controlled loop (daemons running if ``serving``, CL held by another task):
    ``call(engine)`` fails in its first step with ``error`` matching ``pattern``, and
    nothing changed."""
    with ControlledLoop() as loop:
        if serving:
            loop.spawn(engine.scheduler_loop(), "sched")
            loop.spawn(engine.batch_loop(), "batch")
            loop.spawn(engine.reply_loop(), "reply")
            loop.step("sched")
            loop.step("reply")
        release = asyncio.Event()
        loop.spawn(hold(engine.is_pause_cond._lock, release), "holder")
        loop.step("holder")
        assert engine.is_pause_cond.locked()
        before = state(engine)
        task = loop.spawn(call(engine), "call")
        loop.step("call")
        assert task.done(), "the call did not fail at once"
        exc = task.exception()
        assert isinstance(exc, error), repr(exc)
        assert isinstance(exc, EngineError)
        with pytest.raises(error, match=pattern):
            raise exc
        assert same_state(state(engine), before), "the refused call changed something"
        assert not engine.is_pause_cond._lock._waiters, "the refused call queued on CL"
        assert engine.is_pause_cond._lock.owner is loop.task("holder")
        rw = engine.rwlock
        assert not (rw.readers or rw.writer_active or rw.waiting_writers or rw.lock.locked())
        release.set()
        loop.step("holder")
        assert engine.locks_free()
        return exc


# ---------------------------------------------------------------------- generate
BAD_MAX_TOKENS = {
    "nan": (math.nan, r"got nan \(a float\)"),
    "inf": (math.inf, r"got inf \(a float\)"),
    "-inf": (-math.inf, r"got -inf \(a float\)"),
    "2.5": (2.5, r"got 2\.5 \(a float\)"),
    "2.0": (2.0, r"got 2\.0 \(a float\)"),
    "None": (None, r"got None \(a NoneType\)"),
    "str": ("3", r"got '3' \(a str\)"),
    "True": (True, r"got True \(a bool\)"),
    "False": (False, r"got False \(a bool\)"),
    "0": (0, r"got 0$"),
    "-1": (-1, r"got -1$"),
    "tensor": (torch.tensor(3), r"got tensor\(3\) \(a Tensor\)"),
}


@pytest.mark.parametrize("case", BAD_MAX_TOKENS)
def test_generate_refuses_a_bad_max_tokens_at_once_changing_nothing(case):
    value, got = BAD_MAX_TOKENS[case]
    exc = refused_at_once(make(), lambda e: e.generate(prompt=3, max_tokens=value),
                          EngineInputError, r"^max_tokens must be an int >= 1, " + got)
    assert isinstance(exc, ValueError)  # one family: a wrong type is a ValueError too


BAD_PROMPTS = {
    "str": ("3", r"got '3' \(a str\)"),
    "float": (3.0, r"got 3\.0 \(a float\)"),
    "nan": (math.nan, r"got nan \(a float\)"),
    "None": (None, r"got None \(a NoneType\)"),
    "tensor": (torch.tensor(3), r"got tensor\(3\) \(a Tensor\)"),
    "True": (True, r"got True \(a bool\)"),
    "list": ([3], r"got \[3\] \(a list\)"),
    "-1": (-1, r"got -1$"),
    "vocab": (32, r"got 32$"),
    "huge": (10**30, r"got 10{30}$"),
}


@pytest.mark.parametrize("case", BAD_PROMPTS)
def test_generate_refuses_a_bad_prompt_at_once_naming_the_valid_range(case):
    value, got = BAD_PROMPTS[case]
    refused_at_once(make(), lambda e: e.generate(prompt=value, max_tokens=2),
                    EngineInputError, r"^prompt must be an int token id in 0\.\.31, " + got)


def test_generate_accepts_the_edges_of_the_valid_ranges():
    async def main():
        engine = make()
        async with engine.serving():
            outs = [await engine.generate(prompt=p, max_tokens=1) for p in (0, 31)]
        return [len(o.tokens) for o in outs], engine.locks_free()

    assert asyncio.run(main()) == ([1, 1], True)


def test_a_long_bad_value_is_shown_cut_short():
    refused_at_once(make(), lambda e: e.generate(prompt="x" * 1000), EngineInputError,
                    r"got 'x{36}\.\.\. \(a str\)$")


# ---------------------------------------------------------------------- pause mode
@pytest.mark.parametrize(("mode", "shown"), [("soft", "'soft'"), (None, r"None \(a NoneType\)"),
                                             (1, r"1 \(an int\)"), ("", "''")])
def test_pause_refuses_an_unknown_mode_at_once(mode, shown):
    refused_at_once(make(), lambda e: e.pause_generation(mode), EngineInputError,
                    rf"^unknown pause mode {shown}; valid modes: abort, in_place, retract$")


# ---------------------------------------------------------------------- not serving
CALLS: dict[str, Call] = {
    "generate": lambda e: e.generate(prompt=3, max_tokens=2),
    **{f"pause_generation[{m}]": (lambda m: lambda e: e.pause_generation(m))(m) for m in MODES},
    "continue_generation": lambda e: e.continue_generation(),
    "update_weights_from_tensor": lambda e: e.update_weights_from_tensor(perturbed(e.model, 5)),
    "update_weights_from_distributed":
        lambda e: e.update_weights_from_distributed(perturbed(e.model, 5)),
    "update_weights_from_ipc": lambda e: e.update_weights_from_ipc(perturbed(e.model, 5)),
}


def disk_call(path: Path) -> Call:
    def call(engine: Engine) -> Coroutine[Any, Any, Any]:
        torch.save(perturbed(engine.model, 5), path)
        return engine.update_weights_from_disk(path)
    return call


def method(name: str) -> str:
    return name.split("[")[0]


@pytest.mark.parametrize("name", [*CALLS, "update_weights_from_disk"])
def test_every_call_outside_a_serving_engine_fails_at_once_instead_of_hanging(name, tmp_path):
    call = CALLS.get(name) or disk_call(tmp_path / "w.pt")
    exc = refused_at_once(make(), call, EngineNotRunning,
                          rf"^{method(name)}: the engine is not serving \(its scheduler was "
                          r"never started; its batch runner was never started; its reply "
                          r"handler was never started\): call it "
                          r"inside `async with engine\.serving\(\):`", serving=False)
    assert isinstance(exc, RuntimeError)


@pytest.mark.parametrize("name", [*CALLS, "update_weights_from_disk"])
def test_every_call_after_serving_ended_fails_saying_the_daemons_were_cancelled(name, tmp_path):
    call = CALLS.get(name) or disk_call(tmp_path / "w.pt")

    async def main():
        engine = make()
        async with engine.serving():
            await engine.generate(prompt=1, max_tokens=1)
        before = state(engine)
        with pytest.raises(EngineNotRunning, match=r"\(its scheduler was cancelled; its batch "
                                                   r"runner was cancelled; its reply handler "
                                                   r"was cancelled\)"):
            await call(engine)
        assert same_state(state(engine), before) and engine.locks_free()

    asyncio.run(main())


def test_a_call_after_the_reply_handler_failed_names_the_failure():
    async def main():
        engine = make()
        async with engine.serving():
            engine._reply(("ack", None, None))   # an update reply for no update: it fails
            for _ in range(5):
                await asyncio.sleep(0)
            before = state(engine)
            # the scheduler still runs, but no output could ever be delivered
            with pytest.raises(EngineNotRunning, match=r"^generate: the engine is not serving "
                                                       r"\(its reply handler failed with "
                                                       r"AttributeError\([^;]*\): call it"):
                await engine.generate(prompt=1, max_tokens=1)
            assert same_state(state(engine), before) and engine.locks_free()

    asyncio.run(main())


def test_daemons_spawned_but_not_yet_started_count_as_serving():
    # serving() returns before its tasks run, and the harness spawns the daemons itself:
    # a call in that window goes through, and the daemons then serve it.
    engine = make()
    with ControlledLoop() as loop:
        loop.spawn(engine.scheduler_loop(), "sched")
        loop.spawn(engine.batch_loop(), "batch")
        loop.spawn(engine.reply_loop(), "reply")
        pause = loop.spawn(engine.pause_generation("in_place"), "pause")
        loop.step("pause")
        assert pause.done() and pause.exception() is None and engine.is_pause
        loop.step("sched")
        assert engine.paused


def test_daemon_coroutines_that_are_not_tasks_of_this_loop_do_not_count():
    engine = make()
    sched, batch, reply = engine.scheduler_loop(), engine.batch_loop(), engine.reply_loop()
    try:
        with ControlledLoop() as loop:
            task = loop.spawn(engine.continue_generation(), "cont")
            loop.step("cont")
            with pytest.raises(EngineNotRunning, match=r"its scheduler was created but is not a "
                                                       r"task of this event loop"):
                raise task.exception()  # type: ignore[misc]
    finally:
        sched.close()
        batch.close()
        reply.close()


def test_a_call_from_another_event_loop_is_refused():
    engine = make()
    with ControlledLoop() as loop:
        loop.spawn(engine.scheduler_loop(), "sched")
        loop.spawn(engine.batch_loop(), "batch")
        loop.spawn(engine.reply_loop(), "reply")
        loop.step("sched")
        loop.step("batch")
        loop.step("reply")

        async def elsewhere():
            await engine.generate(prompt=1, max_tokens=1)

        with pytest.raises(EngineNotRunning, match=r"its scheduler runs on another event loop; "
                                                   r"its batch runner runs on another event "
                                                   r"loop; its reply handler runs on another"):
            asyncio.run(elsewhere())
        assert engine.locks_free() and not engine.inbox


class Untracked(PostFixEngine):
    """The engine as it was: daemons without the tracking wrapper."""

    scheduler_loop = PostFixEngine.scheduler_loop.__wrapped__  # type: ignore[attr-defined]
    batch_loop = PostFixEngine.batch_loop.__wrapped__          # type: ignore[attr-defined]
    reply_loop = PostFixEngine.reply_loop.__wrapped__          # type: ignore[attr-defined]


def trace(engine: Engine, seed: int) -> list[tuple[str, dict[str, str | None]]]:
    """A seeded random schedule of a small run: each step's task and every label after it."""
    chooser = RandomChooser(seed)
    steps = []
    with ControlledLoop() as loop:
        loop.spawn(engine.scheduler_loop(), "sched")
        loop.spawn(engine.batch_loop(), "batch")
        loop.spawn(engine.reply_loop(), "reply")
        for i in range(2):
            loop.spawn(engine.generate(prompt=i, max_tokens=3), f"gen{i}")
        loop.spawn(control(engine), "ctl")
        while runnable := loop.runnable():
            name = chooser(runnable, loop)
            loop.step(name)
            steps.append((name, loop.labels()))
        assert all(loop.task(n).done() for n in ("gen0", "gen1", "ctl"))
    return steps


async def control(engine: Engine) -> None:
    await engine.pause_generation("in_place")
    await engine.update_weights_from_tensor(perturbed(engine.model, 4))
    await engine.continue_generation()


@pytest.mark.parametrize("seed", range(10))
def test_the_tracking_changes_no_step_of_any_task(seed, monkeypatch):
    # the same seeded schedule, step by step, with and without the daemons' tracking (and
    # the serving check, which needs it): every task takes the same steps, labelled the same
    tracked = trace(make(), seed)
    monkeypatch.setattr(validate, "require_running", lambda engine, call: None)
    assert trace(Untracked(seed=1, abort_poll_interval=0.001), seed) == tracked
    assert len(tracked) >= 15


# ---------------------------------------------------------------------- weights
def quiet(make_tensor: Callable[[], torch.Tensor]) -> Callable[[], torch.Tensor]:
    """Build a tensor whose constructor warns that its kind is a beta/prototype feature."""
    def build() -> torch.Tensor:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return make_tensor()
    return build


def fake(device: str) -> torch.Tensor:
    from torch._subclasses.fake_tensor import FakeTensorMode  # a tensor with no real storage
    with FakeTensorMode():
        return torch.empty(32, device=device)


# name -> (builder of a bad out.bias (shape (32,)), message, serialisable by torch.save)
BAD_TENSORS: dict[str, tuple[Callable[[], torch.Tensor], str, bool]] = {
    "meta": (lambda: torch.empty(32, device="meta"),
             r"out\.bias: on device meta, expected cpu \(the weights' device\); a meta "
             r"tensor has no values", True),
    "cuda (fake)": (lambda: fake("cuda"), r"out\.bias: on device cuda:0, expected cpu", False),
    "fake cpu": (lambda: fake("cpu"), r"out\.bias: its values cannot be read "
                 r"\(DataDependentOutputException\); expected a dense cpu tensor", False),
    "sparse": (lambda: torch.zeros(32).to_sparse(),
               r"out\.bias: layout torch\.sparse_coo, expected a dense \(torch\.strided\) "
               r"tensor", True),
    "mkldnn": (lambda: torch.zeros(32).to_mkldnn(),
               r"out\.bias: layout torch\._mkldnn, expected a dense \(torch\.strided\)", False),
    "nested": (quiet(lambda: torch.nested.nested_tensor([torch.zeros(32)])),
               r"out\.bias: a nested tensor, expected a dense \(torch\.strided\) tensor", False),
}
ENTRY_POINTS = ["tensor", "distributed", "ipc-dict", "ipc-bytes", "disk"]


def entry(kind: str, weights: dict[str, torch.Tensor], path: Path) -> Call:
    """The call of entry point ``kind`` with ``weights`` (serialised first for the byte
    and file transports)."""
    if kind == "tensor":
        return lambda e: e.update_weights_from_tensor(weights)
    if kind == "distributed":
        return lambda e: e.update_weights_from_distributed(weights)
    if kind == "ipc-dict":
        return lambda e: e.update_weights_from_ipc(weights)
    if kind == "ipc-bytes":
        data = to_bytes(weights)
        return lambda e: e.update_weights_from_ipc(data)
    torch.save(weights, path)
    return lambda e: e.update_weights_from_disk(path)


# a tensor torch.save cannot write cannot arrive as bytes or as a file
UNUSABLE = [(case, kind) for case, (_, _, serialisable) in BAD_TENSORS.items()
            for kind in ENTRY_POINTS if serialisable or kind not in ("ipc-bytes", "disk")]


@pytest.mark.parametrize("variant", ["POST_FIX", "PRE_FIX"])
@pytest.mark.parametrize(("case", "kind"), UNUSABLE, ids=[f"{c}-{k}" for c, k in UNUSABLE])
def test_an_unusable_tensor_is_refused_by_name_at_once(case, kind, variant, tmp_path):
    build, message, _ = BAD_TENSORS[case]
    good = perturbed(TinyLM(seed=1), seed=3)
    call = entry(kind, {**good, "out.bias": build()}, tmp_path / "w.pt")
    exc = refused_at_once(make(variant), call, WeightUpdateError,
                          r"^invalid weight update, nothing was changed: " + message)
    assert isinstance(exc, EngineInputError)


def test_a_bad_tensor_is_refused_before_any_transport_touches_it():
    # an mkldnn tensor cannot even be serialised: the ipc entry point names it first
    refused_at_once(make(), lambda e: e.update_weights_from_ipc({"out.bias": BAD_TENSORS[
        "mkldnn"][0]()}), WeightUpdateError, r"out\.bias: layout torch\._mkldnn")


@pytest.mark.parametrize("kind", ENTRY_POINTS)
def test_tensors_that_require_grad_are_valid_and_leave_no_grad_behind(kind, tmp_path):
    async def main():
        engine = make()
        new = {k: torch.nn.Parameter(t) for k, t in perturbed(engine.model, seed=9).items()}
        call = entry(kind, new, tmp_path / "w.pt")
        async with engine.serving():
            reply = await call(engine)
        return engine, new, reply

    engine, new, reply = asyncio.run(main())
    assert reply.ok and engine.version == 1
    for name, tensor in engine.model.state_dict().items():
        assert torch.equal(tensor, new[name].detach()) and not tensor.requires_grad
    assert not any(p.requires_grad for p in engine.model.parameters())


def test_an_update_built_from_the_weights_themselves_reads_them_all_before_writing():
    # embed.weight and out.weight have the same shape: swap them, as views of the weights
    model = TinyLM(seed=1)
    current = model.state_dict()
    embed, out = current["embed.weight"].clone(), current["out.weight"].clone()
    model.apply_update({"embed.weight": current["out.weight"],
                        "out.weight": current["embed.weight"]})
    assert torch.equal(model.state_dict()["embed.weight"], out)
    assert torch.equal(model.state_dict()["out.weight"], embed)


def test_a_swap_through_the_engine_is_a_swap():
    async def main():
        engine = make()
        current = engine.model.state_dict()
        embed, out = current["embed.weight"].clone(), current["out.weight"].clone()
        async with engine.serving():
            await engine.update_weights_from_tensor({"embed.weight": current["out.weight"],
                                                     "out.weight": current["embed.weight"]})
        after = engine.model.state_dict()
        return torch.equal(after["embed.weight"], out) and torch.equal(after["out.weight"], embed)

    assert asyncio.run(main())


# ---------------------------------------------------------------------- disk paths
class NotWeights:
    """A pickled object of a class: ``torch.load(weights_only=True)`` refuses it."""


def bad_path(case: str, tmp_path: Path) -> tuple[Any, str]:
    """A bad ``path`` argument and the message it must get."""
    if case == "directory":
        return tmp_path, rf"^invalid weight update: '{tmp_path}' is a directory, expected a file"
    if case == "missing":
        return tmp_path / "nope.pt", rf"^invalid weight update: no such file '{tmp_path}/nope\.pt'"
    if case == "missing parent":
        return tmp_path / "no" / "w.pt", r"no such file '.*/no/w\.pt'"
    if case == "text":
        (tmp_path / "w.txt").write_text("not weights\n")
        return tmp_path / "w.txt", (r"^invalid weight update: cannot load '.*/w\.txt' \(12 bytes\):"
                                    r" not a torch\.save'd dict of name -> tensor")
    if case == "empty":
        (tmp_path / "w.pt").write_bytes(b"")
        return tmp_path / "w.pt", r"cannot load '.*/w\.pt' \(0 bytes\): not a torch\.save'd dict"
    if case == "a tensor":
        torch.save(torch.zeros(3), tmp_path / "w.pt")
        return tmp_path / "w.pt", r"'.*/w\.pt' holds a Tensor, expected a dict of name -> tensor"
    if case == "a pickled object":
        (tmp_path / "w.pt").write_bytes(pickle.dumps({"out.bias": NotWeights()}))
        return tmp_path / "w.pt", r"cannot load '.*/w\.pt' \(\d+ bytes\): not a torch\.save'd"
    if case == "a device":
        return os.devnull, r"^invalid weight update: '/dev/null' is not a regular file"
    if case == "None":
        return None, r"the path must be a str or os\.PathLike, got None \(a NoneType\)"
    if case == "bytes":
        return b"w.pt", r"the path must be a str or os\.PathLike, got b'w\.pt' \(a bytes\)"
    if case == "too long":
        return tmp_path / ("x" * 5000), r"^invalid weight update: cannot read '.*xxx': "
    raise AssertionError(case)


DISK_CASES = ["directory", "missing", "missing parent", "text", "empty", "a tensor",
              "a pickled object", "a device", "None", "bytes", "too long"]


@pytest.mark.parametrize("paused", [False, True], ids=["unpaused", "paused"])
@pytest.mark.parametrize("case", DISK_CASES)
def test_a_disk_update_from_a_bad_path_is_refused_naming_it(case, paused, tmp_path):
    path, pattern = bad_path(case, tmp_path)

    async def main():
        engine = make("POST_FIX")
        async with engine.serving():
            if paused:
                await engine.pause_generation("in_place")
            before = state(engine)
            with pytest.raises(WeightUpdateError, match=pattern):
                await engine.update_weights_from_disk(path)
            assert same_state(state(engine), before) and engine.locks_free()
            good = tmp_path / "good.pt"
            torch.save(perturbed(engine.model, seed=4), good)
            assert (await engine.update_weights_from_disk(good)).version == 1  # still usable

    asyncio.run(main())


def test_load_file_names_a_directory():
    with pytest.raises(WeightUpdateError, match=r"'/' is a directory"):
        load_file("/")


# ---------------------------------------------------------------------- impl.engine.load flags
FLAG_CASES = [
    ("--stall-timeout", "0", "a finite number of seconds > 0"),
    ("--stall-timeout", "-1", "a finite number of seconds > 0"),
    ("--stall-timeout", "nan", "a finite number of seconds > 0"),
    ("--stall-timeout", "inf", "a finite number of seconds > 0"),
    ("--stall-timeout", "soon", "a finite number of seconds > 0"),
    ("--abort-poll-interval", "-0.5", "a finite number of seconds > 0"),
    ("--abort-poll-interval", "0", "a finite number of seconds > 0"),
    ("--abort-poll-interval", "nan", "a finite number of seconds > 0"),
    ("--abort-poll-interval", "inf", "a finite number of seconds > 0"),
    ("--requests", "0", "an int >= 1"),
    ("--requests", "1e3", "an int >= 1"),
    ("--cycles", "-1", "an int >= 0"),
    ("--cycles", "2.5", "an int >= 0"),
    ("--max-tokens", "0", "an int >= 1"),
    ("--torch-threads", "0", "an int >= 1"),
    ("--seed", "-1", f"an int in 0..{MAX_SEED}"),
    ("--seed", str(MAX_SEED + 1), f"an int in 0..{MAX_SEED}"),
]


@pytest.mark.parametrize(("flag", "value", "valid"), FLAG_CASES,
                         ids=[f"{f}={v}" for f, v, _ in FLAG_CASES])
def test_load_cli_refuses_a_bad_number_with_exit_2_and_a_usage_line(flag, value, valid, capsys):
    with pytest.raises(SystemExit) as info:
        main(["--requests", "5", "--cycles", "1", flag, value])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m impl.engine.load ")
    shown = repr(value) if value in ("soon", "1e3", "2.5") else value
    assert f"error: argument {flag}: must be {valid}, got {shown}" in err


def test_load_cli_accepts_the_edges_of_the_valid_ranges(capsys):
    assert main(["--requests", "4", "--cycles", "1", "--mode", "abort", "--seed", str(MAX_SEED),
                 "--abort-poll-interval", "1e-9", "--stall-timeout", "30"]) == 0
    assert "lost=0" in capsys.readouterr().out


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"stall_timeout": 0}, r"stall_timeout must be a finite number of seconds > 0, got 0"),
    ({"stall_timeout": math.nan}, r"stall_timeout must be .* > 0, got nan"),
    ({"abort_poll_interval": -1}, r"abort_poll_interval must be .* > 0, got -1"),
    ({"abort_poll_interval": math.inf}, r"abort_poll_interval must be .* > 0, got inf"),
    ({"seed": -1}, rf"seed must be an int in 0\.\.{MAX_SEED}, got -1"),
])
def test_run_load_refuses_bad_numbers_before_starting(kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_load(requests=2, cycles=1, **kwargs)
