"""Compiling SGLang's extracted methods into a driver object, against one stub surface.

The real methods (compiled at run time from the downloaded source text, line numbers kept,
annotations and decorators dropped) run unchanged as tasks; what they touch outside the
protocol is supplied by ONE documented stub surface (:data:`STUB_SURFACE`):

==============================  =============================================================
``send_to_scheduler``           ``send_pyobj(obj)`` turns SGLang's request objects into the
                                scheduler model's messages (``("pause", mode)``,
                                ``("continue",)``, ``("abort",)``, ``("update", Update)``,
                                ``("generate", Request)``) and returns a done future, so
                                ``await send_pyobj(...)`` never suspends (a zmq send on a
                                free socket does not either)
``server_args``                 ``dp_size=1``, ``enable_dp_attention=False``, ``enable_lora=False``,
                                ``tokenizer_worker_num=1``, ``language_only=False``,
                                ``load_format``, ``model_path``, ``weight_version``
``auto_create_handle_loop``     no-op (the reply loop is ours: :class:`SchedulerSide`)
``abort_request``               ``abort_all=True`` sends ``("abort",)``
logging                         ``logger`` (silent), ``request_logger``, ``enable_metrics=False``,
                                ``enable_trace=False``
the generate path               ``_validate_and_resolve_lora`` / ``_resolve_lora_path`` (no
                                LoRA: returns at once), ``_tokenize_one_request`` (suspends
                                ONCE: tokenization is awaited work between taking the reader
                                and sending), ``rid_to_state``, ``_send_one_request``,
                                ``_wait_one_response`` (yields the scheduler's output once),
                                ``_set_default_priority``, ``_validate_rid_not_in_flight``,
                                ``_req_stats_init`` / ``_init_req_state`` (no-ops: the
                                request's state is made by the tokenization stub),
                                ``tokenizer``
weight bookkeeping              ``_update_weight_version_if_provided``,
                                ``_update_model_path_info``, ``model_update_tmp``
dispatch (0.5.15 on)            ``_dispatch_to_scheduler`` (a plain send, as
                                ``send_pyobj``) and ``_async_dispatch_to_scheduler``
                                (awaits the send's done future, as ``await send_pyobj``
                                did before): see :data:`SELF_STUBS`
later bookkeeping (0.5.14 on)   ``elastic_worker_count`` (1), ``config_value``,
                                ``_discard_pending_req_states``,
                                ``_release_req_states_on_failure``, and from 0.5.20 an
                                awaited ``_send_one_request`` that never suspends: see
                                :data:`SELF_STUBS`
the real pieces                 ``is_pause``, ``is_pause_cond`` (asyncio.Condition),
                                ``model_update_lock`` (SGLang's RWLock, compiled from the
                                wheel), ``update_weights_from_{distributed,tensor,ipc}_
                                communicator`` (SGLang's communicator class, compiled from the
                                wheel), ``model_update_result`` (the disk slot)
globals                         ``asyncio``, ``nullcontext``, ``copy``, ``deque``, ``logging``,
                                ``time``, ``uuid``, ``GenerateReqInput``, ``EmbeddingReqInput``,
                                the communicator's and RWLock's class names, and the later
                                module-level helpers of :data:`GLOBAL_STUBS`
                                (``normalize_serialized_named_tensor_payloads``,
                                ``get_parallel``, ``get_disagg``, ``get_serving``)
==============================  =============================================================

Anything else a method touches is an :class:`Unsupported` ("unsupported: needs X"): a free
global name outside the list is found before running; an attribute outside it is recorded
when touched (the driver's ``__getattr__``) and the run is reported unsupported, even if the
real code swallowed the error.

The scheduler side is the reference engine's scheduler model (``Engine.scheduler_loop``,
``_handle``, ``_forward``), created and driven by :class:`SchedulerSide` only: it is the one
seam to re-point when the engine changes.
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import contextlib
import copy
import dataclasses
import inspect
import itertools
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from .extract import Extraction, Method

__all__ = ["CODE_PREFIX", "STUB_SURFACE", "Driver", "DriverFactory", "SchedulerSide",
           "Unsupported", "build_factory"]

#: compiled upstream code gets filenames ``<sglang>/sglang/srt/...``: how frames are told apart
CODE_PREFIX = "<sglang>/"

#: the attributes of ``self`` the real methods may touch (see the module doc)
STUB_SURFACE = frozenset({
    "send_to_scheduler", "server_args", "auto_create_handle_loop", "abort_request",
    "enable_metrics", "enable_trace", "request_logger", "tokenizer", "rid_to_state",
    "_validate_and_resolve_lora", "_resolve_lora_path", "_tokenize_one_request",
    "_send_one_request", "_wait_one_response", "_set_default_priority",
    "_validate_rid_not_in_flight", "_req_stats_init", "_init_req_state",
    "_update_weight_version_if_provided",
    "_update_model_path_info", "model_update_tmp", "is_pause", "is_pause_cond",
    "model_update_lock", "model_update_result",
    "update_weights_from_distributed_communicator", "update_weights_from_tensor_communicator",
    "update_weights_from_ipc_communicator",
    # later releases (one entry each in SELF_STUBS, with why each is faithful)
    "_dispatch_to_scheduler", "_async_dispatch_to_scheduler", "elastic_worker_count",
    "config_value", "_discard_pending_req_states", "_release_req_states_on_failure",
    "_raise_if_logical_request_aborted", "_raise_if_logical_rid_aborted",
})

#: The stubs later releases need on ``self``, one entry each: what the real thing does, and
#: why the stub is faithful for the lock protocol (none of them suspends where the real one
#: does not, takes a lock, or changes an await of the real methods).
SELF_STUBS: dict[str, str] = {
    "_dispatch_to_scheduler": (
        "0.5.15 on: the send every message goes through (stamps the HTTP worker's IPC name "
        "in multi-tokenizer mode only, then a non-blocking zmq send). A plain synchronous "
        "call in the real code too: the stub hands the object to send_pyobj, no suspension."),
    "_async_dispatch_to_scheduler": (
        "0.5.15 on: pause and continue send with `await async_sock_send(socket, obj)`, an "
        "awaited zmq.asyncio send. It replaces `await self.send_to_scheduler.send_pyobj(obj)` "
        "and keeps that await: the stub awaits send_pyobj's done future (a send on a free "
        "socket completes at once), so CL is held across the same non-suspending await."),
    "elastic_worker_count": (
        "0.5.16 on: the number of data-parallel ranks the tokenizer manager talks to (the "
        "disk slot's expected replies, routed_dp_rank checks); 1, as dp_size is 1."),
    "config_value": (
        "0.5.17 on: a config field in effect (control-plane updates first, then "
        "server_args); no control-plane updates here, so the server_args value. Plain call."),
    "_discard_pending_req_states": (
        "0.5.14 - 0.5.19: on a failure of generate_request, drop the request's rid_to_state "
        "entry (plain dict pops, no await). 0.5.17's version also aborts an already "
        "dispatched request by rid; the scheduler model has no per-request abort, so the "
        "stub records 'needs' if it is ever asked to drop a dispatched request."),
    "_release_req_states_on_failure": (
        "0.5.20 on: the same clean-up (argument: the request ids, later a dict of states): "
        "an undelivered state is deleted, a dispatched one is aborted by rid. Plain call; a "
        "dispatched request makes the stub record 'needs' (no per-request abort in the "
        "model); the scenarios never fail a request, so it never runs there."),
    "_send_one_request (awaited)": (
        "0.5.20 on: an async method (prepares multimodal features for dispatch, then the "
        "synchronous send). For a text request `prepare_for_dispatch_async` returns [] "
        "before any await and the rest is synchronous, so awaiting it never suspends: the "
        "stub is an async def with no await, chosen when generate_request awaits it."),
    "_raise_if_logical_request_aborted / _raise_if_logical_rid_aborted": (
        "0.5.17 only: raise RequestAbortedError when the request's state is gone or marked "
        "`abort_requested`; generate_request calls them after the pause gate, after LoRA "
        "resolution under the reader side and after tokenization. Plain checks, no await; "
        "the stub reads the marks the abort_request stub keeps."),
    "abort_request (marking)": (
        "an abort-all sends AbortReq(abort_all=True) with no await; 0.5.17's also marks "
        "every request state `abort_requested` first. Whether a release marks is read from "
        "its own abort_request (Extraction.abort_all_marks_states); the stub then marks "
        "every rid in rid_to_state, as the real loop over rid_to_state does."),
    "_init_req_state": (
        "creates the request's state in rid_to_state (0.5.11 on). 0.5.22 on reads "
        "`self.rid_to_state[rid]` right after it, so the stub stores a placeholder state "
        "(not yet dispatched); the tokenization stub puts the scheduler model's request in "
        "its place, as before. Plain call, no await."),
}

#: The module-level helpers later releases call, one entry each (name -> why faithful).
GLOBAL_STUBS_DOC: dict[str, str] = {
    "normalize_serialized_named_tensor_payloads": (
        "0.5.15 on, update_weights_from_tensor before taking CL: decodes each payload of "
        "`serialized_named_tensors` (base64 text or bytes) into bytes. Pure and synchronous; "
        "the stub returns the list unchanged (the scheduler model never reads payloads)."),
    "get_parallel": (
        "0.5.18 on, the update entry points' dp assertion: the process-wide parallel "
        "context. The stub: dp_size=1, enable_dp_attention=False, as server_args."),
    "get_disagg": (
        "0.5.19 on, generate_request: the disaggregation config bag. The stub: "
        "language_only=False (no encoder/language split), as server_args."),
    "get_serving": (
        "0.5.19 on, generate_request: the serving config bag. The stub: "
        "enable_strict_thinking=False, tokenizer_worker_num=1 (one tokenizer manager)."),
}


def _normalize_serialized_named_tensor_payloads(payloads: Any) -> Any:
    return payloads


_PARALLEL = SimpleNamespace(dp_size=1, enable_dp_attention=False)
_DISAGG = SimpleNamespace(language_only=False)
_SERVING = SimpleNamespace(enable_strict_thinking=False, tokenizer_worker_num=1)

#: the module-level helpers' stubs (see GLOBAL_STUBS_DOC)
GLOBAL_STUBS: dict[str, Any] = {
    "normalize_serialized_named_tensor_payloads": _normalize_serialized_named_tensor_payloads,
    "get_parallel": lambda: _PARALLEL,
    "get_disagg": lambda: _DISAGG,
    "get_serving": lambda: _SERVING,
}
GLOBAL_SURFACE = ("asyncio", "nullcontext", "copy", "deque", "logging", "logger", "time", "uuid",
                  "GenerateReqInput", "EmbeddingReqInput", "RWLock", *GLOBAL_STUBS)
_SAFE_IMPORTS = {"asyncio", "typing", "collections", "contextlib", "copy", "logging",
                 "dataclasses", "time", "uuid", "__future__", "enum", "abc"}

_LOG = logging.getLogger("impl.upstream.sglang")
_LOG.addHandler(logging.NullHandler())
_LOG.propagate = False


class RequestAbortedError(ValueError):
    """What 0.5.17's request path raises for a request an abort-all marked (SGLang's own
    class of that name is a ValueError too)."""


class Unsupported(BaseException):
    """The real code needs something outside the stub surface: ``str()`` is "needs X".

    A BaseException, so the real code's ``except Exception`` cannot swallow it.
    """


# ---------------------------------------------------------------------------- compiling
class _StripAnnotations(ast.NodeTransformer):
    """Drop annotations and decorators (but the builtin ones): they name SGLang types and
    helpers we never import; neither changes what the protocol's code does."""

    def _fn(self, node: Any) -> Any:
        self.generic_visit(node)
        node.decorator_list = [d for d in node.decorator_list if isinstance(d, ast.Name)
                               and d.id in ("property", "staticmethod", "classmethod")]
        node.returns = None
        for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs:
            a.annotation = None
        for a in (node.args.vararg, node.args.kwarg):
            if a is not None:
                a.annotation = None
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = _fn

    def visit_AnnAssign(self, node: ast.AnnAssign) -> Any:
        if node.value is None:
            return None
        return ast.copy_location(ast.Assign(targets=[node.target], value=node.value), node)

    def visit_ClassDef(self, node: ast.ClassDef) -> Any:
        self.generic_visit(node)
        node.bases, node.keywords, node.decorator_list = [], [], []
        return node


def free_globals(node: ast.AST) -> set[str]:
    """Names ``node`` loads that it never binds (its globals), builtins excluded.

    >>> sorted(free_globals(ast.parse("def f(a):\\n    b = a\\n    return asyncio.sleep(b) or x")))
    ['asyncio', 'x']
    """
    node = _StripAnnotations().visit(copy.deepcopy(node))
    bound: set[str] = set()
    loaded: set[str] = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            (loaded if isinstance(n.ctx, ast.Load) else bound).add(n.id)
        elif isinstance(n, ast.arg):
            bound.add(n.arg)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(n.name)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            for alias in n.names:
                bound.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(n, ast.ExceptHandler) and n.name:
            bound.add(n.name)
    return {x for x in loaded - bound if not hasattr(builtins, x)}


def compile_nodes(nodes: list[ast.stmt], rel: str, namespace: dict[str, Any],
                  transform: Callable[[ast.Module], ast.Module] | None = None) -> dict[str, Any]:
    """Compile ``nodes`` (copies) as one module named ``<sglang>/rel`` in ``namespace``."""
    module = ast.Module(body=[copy.deepcopy(n) for n in nodes], type_ignores=[])
    module = _StripAnnotations().visit(module)
    if transform is not None:
        module = transform(module)
    ast.fix_missing_locations(module)
    exec(compile(module, CODE_PREFIX + rel, "exec"), namespace)
    return namespace


# ---------------------------------------------------------------------------- stub objects
class _Obj:
    """A stub SGLang request object: known fields; anything else is recorded as needed."""

    _kind = "object"

    def __init__(self, needs: list[str], **fields: Any) -> None:
        object.__setattr__(self, "_needs", needs)
        self.__dict__.update(fields)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        msg = f"{self._kind}.{name}"
        self._needs.append(msg)
        raise Unsupported(f"needs {msg}")


class GenerateReqInput(_Obj):
    _kind = "GenerateReqInput"

    def normalize_batch_and_arguments(self) -> None:
        return None


class EmbeddingReqInput(_Obj):  # never instantiated: only for isinstance checks
    _kind = "EmbeddingReqInput"


class PauseReq(_Obj):
    _kind = "PauseGenerationReqInput"


class ContinueReq(_Obj):
    _kind = "ContinueGenerationReqInput"


class UpdateReq(_Obj):
    _kind = "UpdateWeightsReqInput"


class AbortAll(_Obj):
    _kind = "AbortReq"


class Tokenized(_Obj):
    _kind = "TokenizedGenerateReqInput"


class Recv(_Obj):
    _kind = "UpdateWeightsReqOutput"


# ---------------------------------------------------------------------------- the seam
class SchedulerSide:
    """The scheduler model and the reply path: the ONE place that knows the engine.

    Reuses the reference engine's scheduler (``scheduler_loop``, ``batch_loop``, ``_handle``,
    ``_forward``,
    weights, monitor) with its message tuples: in, ``("generate", Request)``,
    ``("pause", mode)``, ``("continue",)``, ``("abort",)``, ``("update", Update)``; out,
    ``("out", req, complete)`` and ``("ack", update, UpdateReply)``, which :meth:`reply_loop`
    hands to the real code (the communicator's ``handle_recv``, the disk reply branch).
    """

    def __init__(self, seed: int = 0) -> None:
        from impl.engine import PostFixEngine, Request, Update  # the seam: only here
        from impl.engine.weights import perturbed
        self.engine = PostFixEngine(seed=seed)
        self._Request, self._Update, self._perturbed = Request, Update, perturbed
        self._ids = itertools.count(1)
        self.sent: list[str] = []          # message kinds sent, in order (vacuity guards)
        self.update_owner: dict[int, str] = {}   # update uid -> the client task that sent it

    @property
    def monitor(self) -> Any:
        return self.engine.monitor

    def send(self, message: tuple[Any, ...]) -> None:
        """Queue ``message`` for the scheduler.  An abort-all right behind another one is not
        queued again, as in the spec: the scheduler would find nothing new to abort (no
        message can come between them), so it is a stutter step; this keeps the inbox finite
        when an abort-mode pause's timer may fire at any point."""
        self.sent.append(message[0] if message[0] != "pause" else f"pause:{message[1]}")
        inbox = self.engine.inbox
        if message == ("abort",) and inbox and inbox[-1] == ("abort",):
            return
        self.engine._send(message)

    def new_update(self, kind: str) -> Any:
        uid = next(self._ids)
        task = asyncio.current_task()
        self.update_owner[uid] = task.get_name() if task is not None else ""
        return self._Update(uid, kind, self._perturbed(self.engine.model, seed=100 + uid), task)

    def new_request(self, max_tokens: int) -> Any:
        return self._Request(next(self._ids), max_tokens, 1,
                             asyncio.get_running_loop().create_future(),
                             owner=asyncio.current_task())

    def scheduler_loop(self) -> Any:
        return self.engine.scheduler_loop()

    def batch_loop(self) -> Any:
        return self.engine.batch_loop()

    async def reply_loop(self, deliver_ack: Callable[[Any, Any], None]) -> None:
        """Deliver the scheduler's outputs; acks go to ``deliver_ack(update, reply)``."""
        engine = self.engine
        while True:
            if engine.replies:
                message = engine.replies.popleft()
                if message[0] == "out":
                    req = message[1]
                    if not req.future.done():
                        req.future.set_result((list(req.tokens), message[2]))
                else:
                    deliver_ack(message[1], message[2])
            if engine.replies:
                await asyncio.sleep(0)
            else:
                engine.replies_ready.clear()
                await engine.replies_ready.wait()

    def summary(self) -> tuple[Any, ...]:
        e = self.engine

        def req(r: Any) -> tuple[Any, ...]:
            return (r.rid, len(r.tokens), None if r.seen is None else r.seen[0], r.mixed)

        def msg(m: tuple[Any, ...]) -> Any:
            return (m[0], getattr(m[1], "rid", getattr(m[1], "uid", m[1]))) if len(m) > 1 else m
        return (e.paused, tuple(map(req, e.running)), tuple(map(req, e.waiting)), e.batch_ready.is_set(), e.version,
                tuple(map(msg, e.inbox)), tuple((m[0],) for m in e.replies),
                tuple(e.monitor.mixed), len(e.monitor.applied))


# ---------------------------------------------------------------------------- the driver
class _Sender:
    def __init__(self, driver: Driver) -> None:
        self._d = driver

    def send_pyobj(self, obj: Any) -> asyncio.Future[None]:
        d = self._d
        side = d._side
        if isinstance(obj, PauseReq):
            side.send(("pause", obj.mode))
        elif isinstance(obj, ContinueReq):
            side.send(("continue",))
        elif isinstance(obj, AbortAll):
            side.send(("abort",))
        elif isinstance(obj, UpdateReq):
            update = side.new_update(obj.kind)
            d._updates[update.uid] = obj.kind
            d._in_flight += 1
            d._max_in_flight = max(d._max_in_flight, d._in_flight) if not d.is_pause else \
                d._max_in_flight
            side.send(("update", update))
        elif isinstance(obj, Tokenized):
            side.send(("generate", obj.req))
        else:
            d._needs.append(f"send_to_scheduler of {type(obj).__name__}")
            raise Unsupported(f"needs send_to_scheduler of {type(obj).__name__}")
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut

    __call__ = send_pyobj


class Driver:
    """Base of the compiled tokenizer manager: the stub surface (see the module doc)."""

    _comm_cls: Any = None
    _rwlock_cls: Any = None
    _comm_arg: str = "sender"

    def __init__(self, side: SchedulerSide, max_tokens: int = 2) -> None:
        self._needs: list[str] = []
        self._side = side
        self._updates: dict[int, str] = {}
        self._in_flight = 0          # updates sent and not yet replied to
        self._max_in_flight = 0      # the most at once, counted at sends made unpaused
        self._max_tokens = max_tokens
        self.send_to_scheduler = _Sender(self)
        self.server_args = SimpleNamespace(dp_size=1, enable_dp_attention=False,
                                           tokenizer_worker_num=1, language_only=False,
                                           load_format="auto", model_path="model",
                                           enable_lora=False,
                                           weight_version="default")
        self.enable_metrics = False
        self.enable_trace = False
        self.request_logger = SimpleNamespace(log_received_request=lambda *a, **k: None)
        self.tokenizer = None
        self.rid_to_state: dict[str, Any] = {}
        self.model_update_tmp: list[Any] = []
        self.is_pause = False
        self.is_pause_cond = asyncio.Condition()
        self.model_update_lock = self._rwlock_cls()
        self.model_update_result = None
        self.elastic_worker_count = 1        # SELF_STUBS
        self._dispatched: set[str] = set()   # rids handed to the scheduler
        self._aborted: set[str] = set()      # rids whose state an abort-all marked (0.5.17)
        for kind in ("distributed", "tensor", "ipc"):
            setattr(self, f"update_weights_from_{kind}_communicator", self._new_comm())

    def _new_comm(self) -> Any:
        if self._comm_arg == "send":
            return self._comm_cls(self.send_to_scheduler.send_pyobj, 1)
        return self._comm_cls(self.send_to_scheduler, 1)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        self.__dict__.setdefault("_needs", []).append(f"self.{name}")
        raise Unsupported(f"needs self.{name}")

    # -- stubs --------------------------------------------------------------
    def auto_create_handle_loop(self) -> None:
        return None

    def abort_request(self, rid: str = "", abort_all: bool = False) -> None:
        if abort_all:
            # 0.5.17's abort_request also marks every request state aborted: the compiled
            # class's _marks_aborted, read from the release (abort_all_marks_states)
            if any(c.__dict__.get("_marks_aborted", False) for c in type(self).__mro__):
                self._aborted.update(self.rid_to_state)
            self.send_to_scheduler.send_pyobj(AbortAll(self._needs))

    def _raise_if_logical_rid_aborted(self, logical_rid: str) -> None:   # SELF_STUBS
        if logical_rid not in self.rid_to_state or logical_rid in self._aborted:
            raise RequestAbortedError(f"Request {logical_rid} was aborted")

    def _raise_if_logical_request_aborted(self, obj: Any) -> None:   # SELF_STUBS
        for logical_rid in ([obj.rid] if obj.is_single else list(obj.rid)):
            self._raise_if_logical_rid_aborted(logical_rid)

    def _set_default_priority(self, obj: Any) -> None:
        return None

    def _validate_rid_not_in_flight(self, obj: Any) -> None:
        return None

    def _req_stats_init(self, *args: Any) -> None:
        return None

    async def _validate_and_resolve_lora(self, obj: Any) -> None:
        return None

    async def _resolve_lora_path(self, obj: Any) -> None:
        return None

    def _dispatch_to_scheduler(self, obj: Any) -> None:   # SELF_STUBS
        self.send_to_scheduler.send_pyobj(obj)

    async def _async_dispatch_to_scheduler(self, obj: Any) -> None:   # SELF_STUBS
        await self.send_to_scheduler.send_pyobj(obj)

    def config_value(self, name: str) -> Any:   # SELF_STUBS
        return getattr(self.server_args, name)

    def _discard_pending_req_states(self, obj: Any, *lifecycles: Any) -> None:   # SELF_STUBS
        _drop_states(self, [obj.rid] if obj.is_single else list(obj.rid))

    def _release_req_states_on_failure(self, request_states: Any) -> None:   # SELF_STUBS
        _drop_states(self, list(request_states))

    async def _tokenize_one_request(self, obj: Any) -> Any:
        await asyncio.sleep(0)   # tokenization: awaited work between the reader and the send
        req = self._side.new_request(self._max_tokens)
        self.rid_to_state[obj.rid] = req
        return Tokenized(self._needs, req=req, rid=obj.rid)

    def _send_one_request(self, *args: Any) -> Any:
        # (tokenized) from 0.5.8 on; (obj, tokenized, created_time) before, returning the state
        tokenized = next(a for a in args if isinstance(a, Tokenized))
        self.send_to_scheduler.send_pyobj(tokenized)
        self._dispatched.add(tokenized.rid)
        return tokenized.req

    async def _wait_one_response(self, obj: Any, *args: Any) -> Any:
        # (obj, state, request) up to 0.5.10, (obj, request) from 0.5.11: the state is ours
        out = await self.rid_to_state[obj.rid].future
        yield out

    def _init_req_state(self, obj: Any = None, *args: Any) -> None:
        # a placeholder state until tokenization makes the scheduler's request (SELF_STUBS)
        if obj is not None and getattr(obj, "is_single", False):
            self.rid_to_state.setdefault(obj.rid, SimpleNamespace(dispatched=False))
        return None

    def _update_weight_version_if_provided(self, version: Any) -> None:
        return None

    def _update_model_path_info(self, *args: Any) -> None:
        return None

    # -- the reply path (called by SchedulerSide.reply_loop) ---------------------
    def deliver_ack(self, update: Any, reply: Any) -> None:
        recv = Recv(self._needs, success=reply.ok, message=reply.message or "ok",
                    num_paused_requests=0)
        kind = self._updates[update.uid]
        self._in_flight -= 1
        if kind == "disk":
            self._handle_update_weights_from_disk_req_output(recv)
        else:
            getattr(self, f"update_weights_from_{kind}_communicator").handle_recv(recv)


@dataclasses.dataclass
class DriverFactory:
    """The driver class compiled once for one extraction; ``new(side)`` makes an instance."""

    cls: type[Driver]
    extraction: Extraction
    unsupported: list[str]

    def new(self, side: SchedulerSide, max_tokens: int = 2) -> Driver:
        return self.cls(side, max_tokens)


def _module_imports_ok(tree: ast.Module) -> list[str]:
    bad = []
    for n in tree.body:
        if isinstance(n, ast.Import):
            bad += [a.name for a in n.names if a.name.split(".")[0] not in _SAFE_IMPORTS]
        elif isinstance(n, ast.ImportFrom):
            if (n.module or "").split(".")[0] not in _SAFE_IMPORTS:
                bad.append(n.module or ".")
    return bad


def _awaits_send_one_request(ex: Extraction) -> bool:
    """Whether this release's generate_request awaits ``self._send_one_request`` (0.5.20 on)."""
    m = ex.methods.get("generate_request")
    return m is not None and any(
        isinstance(n, ast.Await) and isinstance(n.value, ast.Call)
        and isinstance(n.value.func, ast.Attribute) and n.value.func.attr == "_send_one_request"
        for n in ast.walk(m.node))


def _drop_states(d: Driver, rids: list[str]) -> None:
    """The failure clean-up's stub: drop undelivered states; a dispatched request would be
    aborted by rid in the real code, which the scheduler model has no message for."""
    for rid in rids:
        if rid in d._dispatched:
            d._needs.append("an abort of one dispatched request (by rid)")
            raise Unsupported("needs an abort of one dispatched request (by rid)")
        d.rid_to_state.pop(rid, None)


async def _send_one_request_awaited(self: Driver, *args: Any) -> Any:
    """The awaited ``_send_one_request`` of 0.5.20 on (SELF_STUBS): no suspension."""
    return Driver._send_one_request(self, *args)


def build_factory(ex: Extraction,
                  transform: Callable[[ast.Module], ast.Module] | None = None) -> DriverFactory:
    """Compile ``ex``'s methods, RWLock and communicator into a :class:`Driver` subclass.

    ``transform`` (a mutant) is applied to the methods' module AST before compiling.
    Raises Unsupported naming what is missing.
    """
    if ex.missing:
        raise Unsupported("needs " + ", ".join(ex.missing))
    # the RWLock module, compiled whole (it imports only asyncio)
    rw_tree = ast.parse(ex.rwlock_text, filename=ex.rwlock_rel)
    bad = _module_imports_ok(rw_tree)
    if bad:
        raise Unsupported(f"needs imports {bad} in {ex.rwlock_rel}")
    rw_ns: dict[str, Any] = {"__name__": "sglang_rwlock"}
    compile_nodes(rw_tree.body, ex.rwlock_rel, rw_ns, transform)
    # the communicator class, compiled alone
    assert ex.comm_class is not None
    comm_ns: dict[str, Any] = {"__name__": "sglang_comm", "asyncio": asyncio, "copy": copy,
                               "deque": deque, "logging": logging, "logger": _LOG, "time": time,
                               "uuid": uuid}
    missing = free_globals(ex.comm_class) - set(comm_ns) - {ex.comm_class.name}
    if missing:
        raise Unsupported(f"needs globals {sorted(missing)} in {ex.comm_class.name}")
    compile_nodes([ex.comm_class], ex.comm_rel, comm_ns, transform)
    comm_cls = comm_ns[ex.comm_class.name]
    params = list(inspect.signature(comm_cls.__init__).parameters)[1:]
    comm_arg = "send" if params and params[0] == "send" else "sender"
    # the tokenizer manager's methods, one module per file
    ns: dict[str, Any] = {"__name__": "sglang_tm", "asyncio": asyncio,
                          "nullcontext": contextlib.nullcontext, "copy": copy, "deque": deque,
                          "logging": logging, "logger": _LOG, "time": time, "uuid": uuid,
                          "GenerateReqInput": GenerateReqInput,
                          "EmbeddingReqInput": EmbeddingReqInput,
                          "RWLock": rw_ns["RWLock"], ex.comm_class.name: comm_cls,
                          **GLOBAL_STUBS}
    attrs: dict[str, Any] = {"_comm_cls": comm_cls, "_rwlock_cls": rw_ns["RWLock"],
                             "_comm_arg": comm_arg}
    by_file: dict[str, list[Method]] = {}
    for m in ex.methods.values():
        by_file.setdefault(m.rel, []).append(m)
    unsupported = []
    for rel, methods in by_file.items():
        for m in methods:
            missing = free_globals(m.node) - set(ns)
            if missing:
                unsupported.append(f"{m.name} needs globals {sorted(missing)}")
        file_ns = dict(ns)
        compile_nodes([m.node for m in methods], rel, file_ns, transform)
        for m in methods:
            attrs[m.name] = file_ns[m.name]
    attrs["_marks_aborted"] = ex.abort_all_marks_states
    if _awaits_send_one_request(ex):
        attrs["_send_one_request"] = _send_one_request_awaited
    cls = type("UpstreamTokenizerManager", (Driver,), attrs)
    return DriverFactory(cls, ex, unsupported)
