"""Counterexamples for people: Mermaid sequence diagrams, a step-through HTML page, ITF.

All three take a :class:`~model_check.checker.Result` and one of its discoveries (with a
trace) and return text.  They draw on the spec's optional report hooks:
:meth:`~model_check.Spec.lanes` (the arrows of a step, between tasks, locks, queues and the
scheduler), :meth:`~model_check.Spec.fields` (the state as named variables) and
:meth:`~model_check.Spec.legend`.  Without those hooks every step is one self-arrow on the
acting task and the state is one variable.
"""

from __future__ import annotations

import json
from typing import Any

from .checker import Discovery, Result
from .report import _fmt, changes, explanation, headline


def _lanes(result: Result, discovery: Discovery) -> list[list[tuple[str, str, str]]]:
    """The arrows of each step (the initial state has none)."""
    spec = result.spec
    out: list[list[tuple[str, str, str]]] = [[]]
    for before, step in zip(discovery.trace, discovery.trace[1:]):
        arrows = [(str(a), str(b), str(t)) for a, b, t in
                  spec.lanes(step.action, before.state, step.state)]
        out.append(arrows)
    return out


def participants(result: Result, discovery: Discovery) -> list[str]:
    """Every lane, in order of first appearance: actors before the lanes they talk to."""
    seen: dict[str, None] = {}
    for arrows in _lanes(result, discovery):
        for src, dst, _ in arrows:
            seen.setdefault(src)
            seen.setdefault(dst)
    return list(seen)


def _mermaid_text(text: str) -> str:
    # '#' starts an entity and ';' ends a statement in Mermaid: write both as entities.
    return (text.replace("#", "#35;").replace(";", "#59;").replace("\n", " ")
            .replace("<", "#lt;").replace(">", "#gt;"))


def to_mermaid(result: Result, discovery: Discovery) -> str:
    """A Mermaid ``sequenceDiagram`` of the trace: one participant per lane, each step's
    arrows numbered by step, the broken property as a final note.  Renders on GitHub
    inside a ```` ```mermaid ```` block.

    >>> from model_check import Spec, always, check
    >>> class Flip(Spec):
    ...     def init_states(self): return [0]
    ...     def actions(self, s): return [("t", "flip")]
    ...     def next_state(self, s, a): return 1 - s
    ...     def properties(self): return [always("zero", lambda s: s == 0)]
    >>> r = check(Flip())
    >>> print(to_mermaid(r, r.primary), end="")
    sequenceDiagram
      participant L0 as t
      L0->>L0: 1. t flip
      Note over L0: violation: always zero (1 step)
    """
    if not discovery.trace:
        raise ValueError(f"{discovery.property}: a missed sometimes property has no trace to draw")
    names = participants(result, discovery) or ["spec"]
    ids = {name: f"L{i}" for i, name in enumerate(names)}
    lines = ["sequenceDiagram"]
    lines += [f"  participant {ids[n]} as {_mermaid_text(n)}" for n in names]
    for number, arrows in enumerate(_lanes(result, discovery)):
        for k, (src, dst, text) in enumerate(arrows):
            label = f"{number}. {text}" if k == 0 else text
            lines.append(f"  {ids[src]}->>{ids[dst]}: {_mermaid_text(label)}")
    span = ids[names[0]] if len(names) == 1 else f"{ids[names[0]]},{ids[names[-1]]}"
    lines.append(f"  Note over {span}: {_mermaid_text(headline(result, discovery))}")
    for line in explanation(result, discovery):
        lines.append(f"  Note over {span}: {_mermaid_text(line)}")
    return "\n".join(lines) + "\n"


# -- step-through HTML ----------------------------------------------------------------------------

def page_data(result: Result, discovery: Discovery) -> dict[str, Any]:
    """The data the HTML page steps through (also handy as JSON)."""
    spec = result.spec
    steps = []
    previous = None
    lanes = _lanes(result, discovery)
    for number, step in enumerate(discovery.trace):
        fields = {k: _fmt(v) for k, v in spec.fields(step.state).items()}
        changed = [] if previous is None else [k for k, _, _ in changes(spec, previous, step.state)]
        steps.append({
            "label": "initial state" if step.action is None else spec.format_action(step.action),
            "lanes": [list(a) for a in lanes[number]],
            "fields": fields,
            "changed": changed,
        })
        previous = step.state
    doc = next((p.doc for p in spec.properties() if p.name == discovery.property), "")
    return {
        "title": spec.title,
        "headline": headline(result, discovery),
        "property": discovery.property,
        "doc": doc,
        "explain": explanation(result, discovery),
        "participants": participants(result, discovery),
        "legend": spec.legend(),
        "steps": steps,
    }


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>__TITLE__</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.2em; }
button { font-size: 1em; padding: .3em 1em; }
#where { margin: 0 1em; font-weight: bold; }
table { border-collapse: collapse; margin: .8em 0; }
td, th { border: 1px solid #bbb; padding: .15em .5em; font-family: monospace; vertical-align: top; }
th { background: #eee; }
tr.current td { background: #e8f0ff; }
td.changed { background: #ffe08a; font-weight: bold; }
#verdict { border: 2px solid #c00; background: #fee; padding: .5em; margin: .8em 0; }
#verdict[hidden] { display: none; }
.panes { display: flex; gap: 2em; flex-wrap: wrap; align-items: flex-start; }
.muted { color: #777; }
</style>
</head>
<body>
<h1 id="title"></h1>
<p class="muted">Step with the buttons or the left and right arrow keys.</p>
<div><button id="prev" type="button">&larr; back</button><span id="where"></span><button id="next" type="button">forward &rarr;</button></div>
<div id="verdict" hidden></div>
<div class="panes">
<div><h2>Lanes</h2><table id="lanes"></table></div>
<div><h2>State after <span id="action"></span></h2><table id="state"></table></div>
</div>
<div id="legend"></div>
<script type="application/json" id="data">__DATA__</script>
<script>
"use strict";
const data = JSON.parse(document.getElementById("data").textContent);
let step = 0;
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}
function arrowText(a) { return a[0] === a[1] ? a[2] : a[2] + " \u2192 " + a[1]; }
function render() {
  const s = data.steps[step];
  document.getElementById("where").textContent = "step " + step + " of " + (data.steps.length - 1) + ": " + s.label;
  document.getElementById("action").textContent = s.label;
  document.getElementById("prev").disabled = step === 0;
  document.getElementById("next").disabled = step === data.steps.length - 1;
  const lanes = document.getElementById("lanes");
  lanes.replaceChildren();
  const head = el("tr");
  head.appendChild(el("th", "#"));
  for (const p of data.participants) head.appendChild(el("th", p));
  lanes.appendChild(head);
  data.steps.forEach((t, i) => {
    const row = el("tr", undefined, i === step ? "current" : "");
    row.appendChild(el("td", String(i)));
    for (const p of data.participants) {
      const here = t.lanes.filter(a => a[0] === p).map(arrowText).join("; ");
      row.appendChild(el("td", i <= step ? here : ""));
    }
    lanes.appendChild(row);
  });
  const table = document.getElementById("state");
  table.replaceChildren();
  const top = el("tr");
  top.appendChild(el("th", "variable"));
  top.appendChild(el("th", "value"));
  table.appendChild(top);
  for (const [k, v] of Object.entries(s.fields)) {
    const row = el("tr");
    const changed = s.changed.includes(k);
    row.appendChild(el("td", k, changed ? "changed" : ""));
    row.appendChild(el("td", v, changed ? "changed" : ""));
    table.appendChild(row);
  }
  const verdict = document.getElementById("verdict");
  if (step === data.steps.length - 1) {
    verdict.replaceChildren(el("strong", data.headline));
    if (data.doc) verdict.appendChild(el("div", data.property + ": " + data.doc));
    for (const line of data.explain) verdict.appendChild(el("div", line));
    verdict.hidden = false;
  } else {
    verdict.hidden = true;
  }
}
function go(delta) {
  step = Math.min(Math.max(step + delta, 0), data.steps.length - 1);
  render();
}
document.getElementById("title").textContent = data.title;
document.getElementById("prev").addEventListener("click", () => go(-1));
document.getElementById("next").addEventListener("click", () => go(1));
document.addEventListener("keydown", e => {
  if (e.key === "ArrowRight") { go(1); e.preventDefault(); }
  if (e.key === "ArrowLeft") { go(-1); e.preventDefault(); }
});
const legend = Object.entries(data.legend);
if (legend.length) {
  const box = document.getElementById("legend");
  box.appendChild(el("h2", "Legend"));
  const t = el("table");
  for (const [k, v] of legend) { const r = el("tr"); r.appendChild(el("td", k)); r.appendChild(el("td", v)); t.appendChild(r); }
  box.appendChild(t);
}
render();
</script>
</body>
</html>
"""


def to_html(result: Result, discovery: Discovery) -> str:
    """A self-contained page (inline CSS and JavaScript, no network) that steps through the
    trace: buttons and arrow keys, the lanes, the state with changed cells marked, and the
    broken property at the last step."""
    if not discovery.trace:
        raise ValueError(f"{discovery.property}: a missed sometimes property has no trace to show")
    import html

    data = json.dumps(page_data(result, discovery)).replace("</", "<\\/")
    return (_PAGE.replace("__TITLE__", html.escape(f"{result.spec.title}: {discovery.property}"))
            .replace("__DATA__", data))


# -- ITF (the Apalache / Quint trace format) ------------------------------------------------------

def itf_value(value: Any) -> Any:
    """A Python value in ITF: ints as ``{"#bigint": "..."}``, tuples ``{"#tup": [...]}``,
    (frozen)sets ``{"#set": [...]}``, dicts ``{"#map": [[k, v], ...]}``, named tuples and
    dataclasses as records, anything else as ``{"#unserializable": repr}``.

    >>> itf_value((1, frozenset({True}), "a"))
    {'#tup': [{'#bigint': '1'}, {'#set': [True]}, 'a']}
    """
    import dataclasses

    if isinstance(value, bool) or isinstance(value, str):
        return value
    if isinstance(value, int):
        return {"#bigint": str(value)}
    if hasattr(value, "_asdict"):
        return {k: itf_value(v) for k, v in value._asdict().items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: itf_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return {"#tup": [itf_value(v) for v in value]}
    if isinstance(value, list):
        return [itf_value(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return {"#set": sorted((itf_value(v) for v in value), key=repr)}
    if isinstance(value, dict):
        return {"#map": [[itf_value(k), itf_value(v)] for k, v in value.items()]}
    return {"#unserializable": repr(value)}


def to_itf(result: Result, discovery: Discovery) -> dict[str, Any]:
    """The trace in ITF: ``vars`` are the spec's field names, each state carries its index
    and the action that reached it in ``#meta``."""
    if not discovery.trace:
        raise ValueError(f"{discovery.property}: a missed sometimes property has no trace")
    spec = result.spec
    states = []
    names: list[str] = []
    for i, step in enumerate(discovery.trace):
        fields = spec.fields(step.state)
        for k in fields:
            if k not in names:
                names.append(k)
        meta: dict[str, Any] = {"index": i}
        if step.action is not None:
            meta["action"] = spec.format_action(step.action)
        states.append({"#meta": meta, **{k: itf_value(v) for k, v in fields.items()}})
    return {
        "#meta": {
            "format": "ITF",
            "format-description": "https://apalache-mc.org/docs/adr/015adr-trace.html",
            "source": spec.title,
            "description": headline(result, discovery),
        },
        "params": [],
        "vars": names,
        "states": states,
    }
