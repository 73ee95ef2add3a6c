"""The explored state graph: networkx, DOT and JSON.

Nodes are the states themselves (hashable); each node has ``index`` (discovery order) and
``init``; each edge has ``actions``: the sorted labels of the actions that lead from its
source to its target (usually one).  The DOT and JSON writers number nodes by ``index``.
"""

from __future__ import annotations

import json
from typing import Any

from .checker import Discovery, Result
from .report import jsonable
from .spec import ModelCheckError


def _require_edges(result: Result) -> list[tuple[int, int, Any]]:
    if result.edges is None:
        raise ModelCheckError("the state graph was not kept: call check(..., keep_graph=True)")
    return result.edges


def to_networkx(result: Result) -> Any:
    """A ``networkx.DiGraph`` of the explored states.

    >>> from model_check.spec import Spec
    >>> class Flip(Spec):
    ...     def init_states(self): return [0]
    ...     def actions(self, s): return ["flip"]
    ...     def next_state(self, s, a): return 1 - s
    >>> from model_check.checker import check
    >>> G = to_networkx(check(Flip(), keep_graph=True))
    >>> sorted(G.edges(data="actions"))
    [(0, 1, ['flip']), (1, 0, ['flip'])]
    """
    import networkx as nx

    edges = _require_edges(result)
    spec = result.spec
    states = result.state_list
    G = nx.DiGraph(spec=spec.title)
    for i, s in enumerate(states):
        G.add_node(s, index=i, init=i < result.initial)
    for i, j, a in edges:
        source, target = states[i], states[j]
        label = spec.format_action(a)
        if G.has_edge(source, target):
            labels = G.edges[source, target]["actions"]
            if label not in labels:
                labels.append(label)
                labels.sort()
        else:
            G.add_edge(source, target, actions=[label])
    return G


def _label(text: str) -> str:
    # DOT label with \l (left-justified line ends) kept as escapes
    return json.dumps(text).replace(chr(92) * 2 + "l", chr(92) + "l")


def to_dot(result: Result, discovery: Discovery | None = None) -> str:
    """The graph in Graphviz DOT: node labels are the state's fields, edges their actions;
    initial states have a double border.  With ``discovery``, its trace is drawn in red
    (nodes and edges) and its last state filled, so the error path stands out."""
    spec = result.spec
    on_path: dict[int, int] = {}
    path_edges: set[tuple[int, int]] = set()
    if discovery is not None and discovery.trace:
        index = {s: i for i, s in enumerate(result.state_list)}
        ids = [index[step.state] for step in discovery.trace]
        on_path = {j: k for k, j in enumerate(ids)}
        path_edges = set(zip(ids, ids[1:]))
    lines = [f"digraph {json.dumps(spec.title)} {{", "  node [shape=box fontname=monospace];"]
    last = max(on_path, key=on_path.__getitem__) if on_path else None
    for i, s in enumerate(result.state_list):
        text = "\\l".join(f"{k}={v}" for k, v in spec.fields(s).items()) + "\\l"
        style = " peripheries=2" if i < result.initial else ""
        if i in on_path:
            text = f"step {on_path[i]}\\l" + text
            style += " color=red penwidth=2"
            if i == last:
                style += ' style=filled fillcolor="#ffd0d0"'
        lines.append(f"  n{i} [label={_label(text)}{style}];")
    for i, j, a in _require_edges(result):
        style = " color=red penwidth=2 fontcolor=red" if (i, j) in path_edges else ""
        lines.append(f"  n{i} -> n{j} [label={json.dumps(spec.format_action(a))}{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_dot_path(result: Result, discovery: Discovery) -> str:
    r"""Only the error path, readable at any graph size: the initial state in full, then one
    node per step listing just the variables that step changed.

    >>> from model_check import Spec, always, check
    >>> class Flip(Spec):
    ...     def init_states(self): return [0]
    ...     def actions(self, s): return ["flip"]
    ...     def next_state(self, s, a): return 1 - s
    ...     def properties(self): return [always("zero", lambda s: s == 0)]
    >>> r = check(Flip())
    >>> print(to_dot_path(r, r.primary), end="")
    digraph "Flip()" {
      node [shape=box fontname=monospace];
      s0 [label="step 0\lstate=0\l" peripheries=2];
      s1 [label="step 1\lstate: 0 -> 1\lviolation: always zero (1 step)\l" color=red penwidth=2];
      s0 -> s1 [label="flip"];
    }
    """
    from .report import changes, headline

    spec = result.spec
    lines = [f"digraph {json.dumps(spec.title)} {{", "  node [shape=box fontname=monospace];"]
    previous = None
    for k, step in enumerate(discovery.trace):
        if previous is None:
            body = [f"{name}={v}" for name, v in spec.fields(step.state).items()]
            style = " peripheries=2"
        else:
            body = [f"{name}: {old} -> {new}" for name, old, new in
                    changes(spec, previous, step.state)] or ["(no variable changed)"]
            style = ""
        if k == len(discovery.trace) - 1:
            body.append(headline(result, discovery))
            style += " color=red penwidth=2"
        text = "\\l".join([f"step {k}"] + body) + "\\l"
        lines.append(f"  s{k} [label={_label(text)}{style}];")
        if previous is not None:
            lines.append(f"  s{k - 1} -> s{k} [label={json.dumps(spec.format_action(step.action))}];")
        previous = step.state
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_graph_json(result: Result) -> dict[str, Any]:
    """The graph as plain data: ``{"nodes": [{id, init, state}], "edges": [{source, target,
    action}]}``, readable by any tool."""
    spec = result.spec
    return {
        "spec": spec.title,
        "nodes": [
            {"id": i, "init": i < result.initial, "state": jsonable(spec.fields(s))}
            for i, s in enumerate(result.state_list)
        ],
        "edges": [
            {"source": i, "target": j, "action": spec.format_action(a)}
            for i, j, a in _require_edges(result)
        ],
    }
