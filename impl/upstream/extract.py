"""Extracting SGLang's protocol methods with :mod:`ast` only (SGLang is never imported).

:func:`extract` reads one :class:`~impl.upstream.fetch.Source` and finds, wherever this
version keeps them:

* the entry points ``update_weights_from_distributed`` / ``_tensor`` / ``_ipc`` / ``_disk``,
  ``pause_generation``, ``continue_generation``, ``generate_request`` (the tokenizer manager
  and whichever mixin the version has);
* the disk path's helpers: ``_wait_for_model_update_from_disk`` (the shared reply slot
  ``model_update_result``) and ``_handle_update_weights_from_disk_req_output`` (the reply
  handler's branch that resolves it);
* the communicator class (the class defining ``queueing_call`` and ``handle_recv``:
  ``_Communicator``, later ``FanOutCommunicator``) and the RWLock module (``aio_rwlock.py``);

and classifies each update entry point's locking pattern (:func:`classify`):

``writer-always``  the writer side every time, no pause check (ipc before #22290; D1)
``pre-fix``        read ``is_pause`` under the condition lock, release it, then act (R1)
``post-fix``       when paused, act inside the ``async with is_pause_cond`` block (#22304)
``other``          anything else (reported, never guessed)

It also lists every await point of the extracted code (:class:`AwaitPoint`), so a task's
position can be read from its suspended coroutine stack (:mod:`impl.upstream.position`).

>>> fn = ast.parse('''
... async def update_weights_from_tensor(self, obj):
...     async with self.is_pause_cond:
...         seen = self.is_pause
...     async with (nullcontext() if seen else self.model_update_lock.writer_lock):
...         return await self.update_weights_from_tensor_communicator(obj)
... ''').body[0]
>>> classify(fn).pattern
'pre-fix'
"""

from __future__ import annotations

import ast
import dataclasses
from typing import Union

from .fetch import Source

__all__ = ["ENTRY_POINTS", "AwaitPoint", "Extraction", "Method", "Pattern", "classify",
           "extract", "PATTERN_OF_POLICY"]

FuncNode = Union[ast.FunctionDef, ast.AsyncFunctionDef]

ENTRY_POINTS = ("distributed", "tensor", "ipc", "disk")
MANAGER_METHODS = ("pause_generation", "continue_generation", "generate_request")
DISK_HELPERS = ("_wait_for_model_update_from_disk", "_handle_update_weights_from_disk_req_output")
RWLOCK_FILES = ("sglang/srt/utils/aio_rwlock.py", "sglang/srt/aio_rwlock.py")
METHOD_FILES = (
    "sglang/srt/managers/tokenizer_manager.py",
    "sglang/srt/managers/tokenizer_communicator_mixin.py",
    "sglang/srt/managers/tokenizer_control_mixin.py",
    "sglang/srt/managers/communicator.py",
)
#: the locking pattern each of the spec's update policies is written as upstream
PATTERN_OF_POLICY = {"check_then_act": "pre-fix", "decide_under_lock": "post-fix",
                     "always_writer": "writer-always"}


def variant_of(patterns: dict[str, str]) -> str:
    """The spec variant whose lock code of every entry point matches ``patterns`` (entry
    point kind -> locking pattern; a missing kind is ignored), or ``"none"``.

    A variant is the lock code of ALL entry points at one point of upstream history
    (``spec.protocol``), so a released version maps to exactly one variant.

    >>> variant_of({"tensor": "pre-fix", "ipc": "writer-always", "disk": "pre-fix"})
    'IPC_BEFORE_22290'
    >>> variant_of({"tensor": "post-fix", "ipc": "post-fix", "disk": "pre-fix"})
    'POST_FIX'
    >>> variant_of({"tensor": "other"})
    'none'
    """
    from spec.protocol import VARIANTS

    present = {k: p for k, p in patterns.items() if p != "missing"}
    for name, cls in VARIANTS.items():
        if present and all(PATTERN_OF_POLICY.get(cls.update_policy[k].name) == p
                           for k, p in present.items() if k in cls.update_policy):
            return name
    return "none"


@dataclasses.dataclass
class Method:
    """One extracted function: where it lives and its (unmodified) AST."""

    name: str
    owner: str          # class name
    rel: str            # file inside the tree
    node: FuncNode


@dataclasses.dataclass(frozen=True)
class AwaitPoint:
    """One suspension point of the real code: ``func`` line ``line`` (to ``end``)."""

    rel: str
    func: str
    line: int
    end: int
    text: str

    @property
    def label(self) -> str:
        return f"{self.func}:{self.line} {self.text}"


@dataclasses.dataclass
class Pattern:
    """How one update entry point locks: ``pattern`` and the evidence."""

    pattern: str
    detail: str
    gap_awaits: int = 0   # awaits between the check and the act (pre-fix only)


@dataclasses.dataclass
class Extraction:
    """Everything found in one tree; ``missing`` names what was looked for and not found."""

    label: str
    methods: dict[str, Method]
    comm_class: ast.ClassDef | None
    comm_rel: str
    rwlock_rel: str
    rwlock_text: str
    texts: dict[str, str]
    patterns: dict[str, Pattern]
    missing: list[str]
    await_points: list[AwaitPoint]

    def has(self, name: str) -> bool:
        return name in self.methods

    def entry(self, kind: str) -> Method | None:
        return self.methods.get(f"update_weights_from_{kind}")

    @property
    def disk_slot(self) -> bool:
        m = self.methods.get("_wait_for_model_update_from_disk")
        return m is not None and any(
            isinstance(n, ast.Attribute) and n.attr == "model_update_result"
            and isinstance(n.ctx, ast.Store) for n in ast.walk(m.node))

    @property
    def abort_all_marks_states(self) -> bool:
        """Whether the tokenizer manager's ``abort_request`` marks request states aborted
        (assigns ``.abort_requested``; 0.5.17 does it for every state on an abort-all)."""
        text = self.texts.get("sglang/srt/managers/tokenizer_manager.py")
        if not text:
            return False
        for cls in _classes(ast.parse(text)):
            for n in cls.body:
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                        and n.name == "abort_request":
                    return any(isinstance(t, ast.Attribute) and t.attr == "abort_requested"
                               for a in ast.walk(n) if isinstance(a, ast.Assign)
                               for t in a.targets)
        return False

    @property
    def reply_branch(self) -> bool:
        m = self.methods.get("_handle_update_weights_from_disk_req_output")
        return m is not None and "model_update_result" in ast.unparse(m.node)


def _attr_chain(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # pragma: no cover - unparse handles every expression
        return ""


def _uses(node: ast.AST, attr: str) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr == attr for n in ast.walk(node))


def _awaits(nodes: list[ast.stmt]) -> list[ast.AST]:
    found = []
    for stmt in nodes:
        for n in ast.walk(stmt):
            if isinstance(n, (ast.Await, ast.AsyncWith, ast.AsyncFor)):
                found.append(n)
    return found


def _is_pause_with(node: ast.AST) -> bool:
    return isinstance(node, ast.AsyncWith) and any(
        _uses(item.context_expr, "is_pause_cond") for item in node.items)


def classify(fn: FuncNode) -> Pattern:
    """Classify an update entry point's locking pattern from its AST (see module doc)."""
    withs = [n for n in ast.walk(fn) if _is_pause_with(n)]
    if not withs:
        if _uses(fn, "writer_lock") or _uses(fn, "acquire_writer"):
            return Pattern("writer-always", "takes the writer side with no pause check")
        return Pattern("other", "neither the condition lock nor the writer side")
    block = withs[0]
    paused_names = {t.id for n in ast.walk(block) if isinstance(n, ast.Assign)
                    and _uses(n.value, "is_pause") for t in n.targets if isinstance(t, ast.Name)}
    for n in ast.walk(block):
        if isinstance(n, ast.If):
            test_reads = _uses(n.test, "is_pause") or any(
                isinstance(x, ast.Name) and x.id in paused_names for x in ast.walk(n.test))
            if test_reads and _awaits(n.body):
                return Pattern("post-fix", f"line {n.lineno}: acts inside `async with "
                               f"is_pause_cond` (line {block.lineno}) when paused")
    if paused_names and not _awaits(block.body):
        # the act: the first await after the block that sends the update
        body = _enclosing_body(fn, block)
        after = body[body.index(block) + 1:] if body is not None else []
        acts = [n for n in _awaits(after) if _is_act(n)]
        if not acts:
            return Pattern("other", f"reads is_pause at line {block.lineno} but never acts on it")
        act = acts[0]
        gap = [n for n in _awaits(after) if n.lineno < act.lineno and not _is_lock_with(n)]
        return Pattern("pre-fix", f"checks is_pause under CL at line {block.lineno}, releases "
                       f"CL, acts at line {act.lineno}", gap_awaits=len(gap))
    return Pattern("other", f"`async with is_pause_cond` at line {block.lineno} matches no "
                   f"known pattern")


def _is_lock_with(n: ast.AST) -> bool:
    return isinstance(n, ast.AsyncWith)


def _is_act(n: ast.AST) -> bool:
    if isinstance(n, ast.AsyncWith):
        return any(_is_act(s) for s in _awaits(n.body))
    if isinstance(n, ast.Await):
        text = _attr_chain(n.value)
        return "communicator" in text or "_wait_for_model_update" in text
    return False


def _enclosing_body(fn: ast.AST, target: ast.stmt) -> list[ast.stmt] | None:
    for n in ast.walk(fn):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(n, field, None)
            if isinstance(body, list) and target in body:
                return body
        for h in getattr(n, "handlers", []) or []:
            if target in h.body:
                return h.body
    return None


def _point_text(n: ast.AST) -> str:
    if isinstance(n, ast.AsyncWith):
        text = "async with " + ", ".join(_attr_chain(i.context_expr) for i in n.items)
    elif isinstance(n, ast.AsyncFor):
        text = "async for " + _attr_chain(n.iter)
    else:
        text = "await " + _attr_chain(n.value)  # type: ignore[attr-defined]
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."


def await_points(rel: str, fn: FuncNode) -> list[AwaitPoint]:
    """Every await / async with / async for of ``fn`` (nested functions excluded)."""
    points = []
    for n in ast.walk(fn):
        if isinstance(n, (ast.Await, ast.AsyncWith, ast.AsyncFor)):
            if isinstance(n, (ast.AsyncWith, ast.AsyncFor)):
                end = n.lineno if isinstance(n, ast.AsyncFor) else max(
                    i.context_expr.end_lineno or n.lineno for i in n.items)
            else:
                end = n.end_lineno or n.lineno
            points.append(AwaitPoint(rel, fn.name, n.lineno, end, _point_text(n)))
    return points


def _classes(tree: ast.Module) -> list[ast.ClassDef]:
    return [n for n in tree.body if isinstance(n, ast.ClassDef)]


def extract(source: Source) -> Extraction:
    """Find the protocol's pieces in ``source`` and classify the update entry points."""
    texts: dict[str, str] = {}
    methods: dict[str, Method] = {}
    comm: ast.ClassDef | None = None
    comm_rel = ""
    wanted = {f"update_weights_from_{k}" for k in ENTRY_POINTS} | set(MANAGER_METHODS) | set(DISK_HELPERS)
    for rel in METHOD_FILES:
        text = source.read(rel)
        if text is None:
            continue
        texts[rel] = text
        tree = ast.parse(text, filename=rel)
        for cls in _classes(tree):
            names = {n.name for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
            if comm is None and {"queueing_call", "handle_recv"} <= names:
                comm, comm_rel = cls, rel
            for n in cls.body:
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name in wanted \
                        and n.name not in methods:
                    methods[n.name] = Method(n.name, cls.name, rel, n)
    rw_rel, rw_text = "", ""
    for rel in RWLOCK_FILES:
        text = source.read(rel)
        if text is not None:
            rw_rel, rw_text = rel, text
            texts[rel] = text
            break
    missing = []
    if not texts.get("sglang/srt/managers/tokenizer_manager.py"):
        missing.append("sglang/srt/managers/tokenizer_manager.py")
    for name in MANAGER_METHODS:
        if name not in methods:
            missing.append(f"method {name}")
    if not rw_text:
        missing.append("the RWLock module (aio_rwlock.py)")
    elif "class RWLock" not in rw_text:
        missing.append(f"class RWLock in {rw_rel}")
    if comm is None:
        missing.append("the communicator class (queueing_call + handle_recv)")
    patterns = {}
    for kind in ENTRY_POINTS:
        m = methods.get(f"update_weights_from_{kind}")
        if m is not None:
            patterns[kind] = classify(m.node)
    points: list[AwaitPoint] = []
    for m in methods.values():
        points += await_points(m.rel, m.node)
    if comm is not None:
        for n in comm.body:
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                points += await_points(comm_rel, n)
    if rw_text:
        for cls in _classes(ast.parse(rw_text)):
            for n in cls.body:
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    points += await_points(rw_rel, n)
    return Extraction(source.label, methods, comm, comm_rel, rw_rel, rw_text, texts,
                      patterns, missing, points)
