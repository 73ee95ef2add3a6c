"""The explored state graph: networkx, DOT and JSON.

Nodes are the states themselves (hashable); each node has ``index`` (discovery order) and
``init``; each edge has ``actions``: the sorted labels of the actions that lead from its
source to its target (usually one).  The DOT and JSON writers number nodes by ``index``.
"""

from __future__ import annotations

import json
from typing import Any

from .checker import Result
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


def to_dot(result: Result) -> str:
    """The graph in Graphviz DOT: node labels are the state's fields, edges their actions."""
    spec = result.spec
    lines = [f"digraph {json.dumps(spec.title)} {{", "  node [shape=box fontname=monospace];"]
    for i, s in enumerate(result.state_list):
        text = "\\l".join(f"{k}={v}" for k, v in spec.fields(s).items()) + "\\l"
        style = " peripheries=2" if i < result.initial else ""
        lines.append(f"  n{i} [label={json.dumps(text).replace(chr(92) * 2, chr(92))}{style}];")
    for i, j, a in _require_edges(result):
        lines.append(f"  n{i} -> n{j} [label={json.dumps(spec.format_action(a))}];")
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
