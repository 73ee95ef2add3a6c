"""Benchmark of the checker: ``python -m spec.bench [--compare] [--max-clients 10] [--max-requests 4]``.

Without ``--compare`` it prints, one line per run: states, transitions, seconds, states/s and
the peak memory of the process that ran it (each run is a fresh child process, so peaks do
not add up):

* POST_FIX (the protocol spec, ``scenario=concurrent``, one update) for N = 1..4 requests;
* PAUSE-UPDATE (``spec/PROTOCOL.md section 7``, scenario B, full exploration) for G = 1..10 clients,
  pre-fix and post-fix, without and with client symmetry reduction.

``--compare`` measures the goals of the performance work side by side in one run, each run a
fresh process, median of ``--repeat`` (default 3):

* PAUSE-UPDATE post-fix, scenario B, G = ``--clients`` (default 10), full space: our fast
  path, our plain path, musil (an encoding for its API, :mod:`spec.peers`, run by a Python
  3.12+ that has musil: ``--musil-python`` or ``$MUSIL_PYTHON``, else a venv at
  ``.bench-venv``, created by ``--setup-musil``) and Spin (a generated Promela model, ``pan``
  compiled with gcc, full state storage, no partial-order reduction), with their state
  counts side by side and our ratios;
* the same at G = 12: peak memory;
* the pre-fix counterexample at G = 10 with default flags: the whole CLI process;
* symmetry at G = 30 and G = 100: search seconds;
* BREAKER (:mod:`spec.breaker`, a structurally different spec): fast path against plain path.

``--protocol`` measures the protocol spec (POST_FIX, ``scenario=concurrent``, ``--requests``
N, default 4, full space: ``check(spec, deadlock=False, properties=[])``) on the plain path
(``memo=False``, the reference) and on the memo path (:mod:`model_check.memo`), each run a
fresh process, the two alternating, median of ``--repeat``; it prints the load average
before and after (the machine is shared).

Figures are measured, never asserted: the machine is shared and noisy.  A peer that cannot
be found is skipped with a message saying why and how to install it.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from model_check import check

from .expected import TARGETS

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".bench-venv"


def _one(name: str, params: dict[str, Any], symmetry: bool, out: Any) -> None:
    spec = TARGETS[name](**params)
    # Full exploration: no property checks that could stop the search early.
    result = check(spec, deadlock=False, properties=[], validate=0, symmetry=symmetry)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out.send((result.states, result.transitions, result.seconds, peak_kib))


def measure(name: str, params: dict[str, Any], symmetry: bool = False) -> tuple[int, int, float, int]:
    """Run one exploration in a fresh child process; (states, transitions, seconds, peak KiB)."""
    ctx = multiprocessing.get_context("fork")
    here, there = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_one, args=(name, params, symmetry, there))
    child.start()
    figures = here.recv()
    child.join()
    return figures


def table(args: argparse.Namespace) -> int:
    runs: list[tuple[str, str, dict[str, Any], bool]] = []
    for n in range(1, args.max_requests + 1):
        runs.append((f"POST_FIX concurrent N={n}", "POST_FIX",
                     {"scenario": "concurrent", "requests": n}, False))
    for g in range(1, args.max_clients + 1):
        for variant in ("PRE_FIX", "POST_FIX"):
            for symmetry in (False, True):
                label = f"PAUSE_UPDATE_{variant} B G={g}" + (" symmetry" if symmetry else "")
                runs.append((label, f"PAUSE_UPDATE_{variant}", {"clients": g, "scenario": "B"},
                             symmetry))
    print(f"{'run':44} {'states':>9} {'transitions':>11} {'sec':>8} {'states/s':>10} "
          f"{'trans/s':>10} {'peak MiB':>8}")
    for label, name, params, symmetry in runs:
        samples = [measure(name, params, symmetry) for _ in range(args.repeat)]
        states, transitions = samples[0][0], samples[0][1]
        seconds = statistics.median(s[2] for s in samples)
        peak = max(s[3] for s in samples) / 1024
        rate = states / seconds if seconds else float("inf")
        trate = transitions / seconds if seconds else float("inf")
        print(f"{label:44} {states:9d} {transitions:11d} {seconds:8.3f} {rate:10,.0f} "
              f"{trate:10,.0f} {peak:8.0f}", flush=True)
    return 0


# --- one run in a fresh process: python -m spec.bench --run PATH SPEC k=v ... ----------------

def _run_ours(path: str, name: str, params: dict[str, Any], symmetry: bool) -> dict[str, Any]:
    """Full exploration checking every property and deadlocks, like the peers do."""
    from model_check.checker import _search, _select_properties

    spec = TARGETS[name](**params) if name in TARGETS else _extra(name)(**params)
    if path == "plain":
        props = _select_properties(spec, None)
        r = _search(spec, props, True, None, False, None, 1.5,
                    spec.canonical if symmetry else None, stop_first=False)
    else:
        r = check(spec, symmetry=symmetry, all_discoveries=True, validate=0)
        if not r.fast:
            raise SystemExit(f"{spec.title}: the fast path did not run")
    return {"states": r.states, "transitions": r.transitions, "seconds": r.seconds,
            "verdict": r.verdict, "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def _run_protocol(path: str, requests: int) -> dict[str, Any]:
    """One full POST_FIX concurrent exploration on ``path`` (plain or memo), no properties."""
    spec = TARGETS["POST_FIX"](scenario="concurrent", requests=requests)
    cpu = time.process_time()
    r = check(spec, deadlock=False, properties=[], memo=path == "memo")
    cpu = time.process_time() - cpu
    if r.path != path:
        raise SystemExit(f"{spec.title}: the {path} path did not run ({r.path} did)")
    return {"states": r.states, "transitions": r.transitions, "seconds": r.seconds,
            "cpu": cpu, "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def protocol(args: argparse.Namespace) -> int:
    """The protocol spec on the plain path and on the memo path, side by side."""
    print(f"POST_FIX scenario=concurrent requests={args.requests}, full space, "
          f"check(spec, deadlock=False, properties=[]); median of {args.repeat} fresh "
          f"processes per path, alternating; load average before: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    samples: dict[str, list[dict[str, Any]]] = {"plain": [], "memo": []}
    for _ in range(args.repeat):
        for path in samples:
            run = _spawn([sys.executable, "-m", "spec.bench", "--run-protocol", path,
                          str(args.requests)], cwd=str(ROOT))
            if run["rc"] != 0 or "states" not in run:
                print(run["stderr"], file=sys.stderr)
                return 1
            samples[path].append(run)
    figures = {path: (runs[0]["states"], runs[0]["transitions"], _median(runs, "seconds"),
                      _median(runs, "cpu"), max(r["peak_kib"] for r in runs) / 1024)
               for path, runs in samples.items()}
    if len({(f[0], f[1]) for f in figures.values()}) != 1:
        print("the two paths disagree on the counts", file=sys.stderr)
        return 1
    print(f"{'path':28} {'states':>9} {'transitions':>11} {'search s':>9} {'CPU s':>7} "
          f"{'states/s':>9} {'peak MiB':>8}")
    for path, label in (("plain", "plain (memo=False)"), ("memo", "memo (model_check.memo)")):
        states, transitions, seconds, cpu, peak = figures[path]
        print(f"{label:28} {states:9,d} {transitions:11,d} {seconds:9.2f} {cpu:7.2f} "
              f"{states / seconds:9,.0f} {peak:8.0f}")
    ratio = figures["plain"][2] / figures["memo"][2]
    print(f"memo path: {ratio:.2f}x the plain path's states/s; load average after: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


def _extra(name: str) -> Any:
    from .breaker import BREAKER

    return {"BREAKER": BREAKER}[name]


def _spawn(cmd: list[str], cwd: str | None = None) -> dict[str, Any]:
    """Run ``cmd`` in a fresh process; its JSON line plus wall seconds and peak KiB."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
                            text=True)
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # fallback only
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except ChildProcessError:
        status = proc.returncode
    figures: dict[str, Any] = {"wall": wall, "stdout": out, "stderr": err,
                               "rc": proc.returncode}
    for line in reversed(out.splitlines()):
        if line.startswith("{"):
            figures.update(json.loads(line))
            break
    figures.setdefault("peak_kib", usage.ru_maxrss)
    return figures


def _median(samples: list[dict[str, Any]], key: str) -> float:
    return statistics.median(s[key] for s in samples)


class Peer:
    """A checker to compare with: ``available()`` says why not when it cannot run."""

    name = ""

    def available(self) -> str | None:
        return None

    def prepare(self, g: int, tmp: Path) -> None:
        pass

    def run(self, g: int, tmp: Path) -> dict[str, Any]:
        raise NotImplementedError


class Ours(Peer):
    def __init__(self, path: str) -> None:
        self.path = path
        self.name = f"ours ({path} path)"

    def run(self, g: int, tmp: Path) -> dict[str, Any]:
        return _spawn([sys.executable, "-m", "spec.bench", "--run", self.path,
                       "PAUSE_UPDATE_POST_FIX", f"clients={g}", "scenario=B"], cwd=str(ROOT))


class Musil(Peer):
    name = "musil"

    def __init__(self, python: str | None) -> None:
        self.python = python or os.environ.get("MUSIL_PYTHON") or str(VENV / "bin" / "python")

    def available(self) -> str | None:
        if not Path(self.python).exists():
            return (f"no Python with musil at {self.python}: run `python -m spec.bench "
                    "--setup-musil` (creates .bench-venv from a Python 3.12+ and pip-installs "
                    "musil), or pass --musil-python PATH")
        probe = subprocess.run([self.python, "-c", "import musil"], capture_output=True, text=True)
        if probe.returncode:
            return (f"{self.python} cannot import musil ({probe.stderr.strip().splitlines()[-1:]}):"
                    f" `{self.python} -m pip install musil` (needs Python 3.12+)")
        return None

    def prepare(self, g: int, tmp: Path) -> None:
        from .peers import musil_source

        (tmp / "musil_pause_update.py").write_text(musil_source())

    def run(self, g: int, tmp: Path) -> dict[str, Any]:
        return _spawn([self.python, str(tmp / "musil_pause_update.py"), str(g), "B", "post"])


class Spin(Peer):
    name = "spin"

    def available(self) -> str | None:
        missing = [tool for tool in ("spin", "gcc") if shutil.which(tool) is None]
        if missing:
            return (f"{' and '.join(missing)} not found: `apt-get install -y spin gcc` "
                    "(Debian packages)")
        return None

    def prepare(self, g: int, tmp: Path) -> None:
        from .peers import promela_source

        (tmp / "pause_update.pml").write_text(promela_source(g, "B", post_fix=True))
        for cmd in (["spin", "-a", "pause_update.pml"],
                    ["gcc", "-O2", "-DSAFETY", "-DNOREDUCE", "-o", "pan", "pan.c"]):
            done = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
            if done.returncode:
                raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr or done.stdout}")

    def run(self, g: int, tmp: Path) -> dict[str, Any]:
        figures = _spawn([str(tmp / "pan"), "-m1000000"], cwd=str(tmp))
        text = figures["stdout"]
        for line in text.splitlines():
            words = line.split()
            if line.strip().endswith("states, stored"):
                figures["states"] = int(words[0])
            elif "transitions (= stored+matched)" in line:
                # Spin counts the initial state as one transition more than the benchmark definition's edges.
                figures["transitions"] = int(words[0]) - 1
            elif line.startswith("pan: elapsed time"):
                figures["seconds"] = float(words[3])
            elif line.strip().startswith("errors:") or "errors:" in line:
                figures["verdict"] = "ok" if line.split("errors:")[1].split()[0] == "0" else "error"
        if "states" not in figures or "seconds" not in figures:
            raise RuntimeError(f"unexpected pan output: {text[-500:]}")
        return figures


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def compare(args: argparse.Namespace) -> int:
    g, repeat = args.clients, args.repeat
    peers: list[Peer] = [Ours("fast"), Ours("plain"), Musil(args.musil_python), Spin()]
    print(f"machine: {os.cpu_count()} cores ({_cpu()}), shared; median of {repeat} fresh "
          "processes per line; seconds = the checker's own search time, wall = process start "
          "to exit")
    print(f"\nPAUSE-UPDATE (spec/PROTOCOL.md section 7) post-fix, scenario B, G={g}, full space, invariant "
          "and deadlock checked")
    print(f"{'checker':22} {'states':>9} {'transitions':>11} {'seconds':>8} {'wall':>7} "
          f"{'states/s':>10} {'peak MiB':>8} {'ours fast is':>14}")
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="pause-update-bench-") as name:
        tmp = Path(name)
        for peer in peers:
            why = peer.available()
            if why:
                print(f"{peer.name:22} skipped: {why}")
                continue
            try:
                peer.prepare(g, tmp)
                samples = [peer.run(g, tmp) for _ in range(repeat)]
            except (RuntimeError, OSError, json.JSONDecodeError) as exc:
                print(f"{peer.name:22} skipped: {exc}")
                continue
            bad = [s for s in samples if "seconds" not in s]
            if bad:
                print(f"{peer.name:22} skipped: it failed: {bad[0]['stderr'][-300:]}")
                continue
            fig = {"states": samples[0]["states"], "transitions": samples[0].get("transitions"),
                   "seconds": _median(samples, "seconds"), "wall": _median(samples, "wall"),
                   "peak": max(s["peak_kib"] for s in samples) / 1024,
                   "verdict": samples[0].get("verdict")}
            results[peer.name] = fig
            mine = results.get("ours (fast path)")
            ratio = (f"{fig['seconds'] / mine['seconds']:.1f}x faster"
                     if mine and peer.name != "ours (fast path)" else "")
            print(f"{peer.name:22} {fig['states']:9d} {_fmt(fig['transitions'], '11d'):>11} "
                  f"{fig['seconds']:8.2f} {fig['wall']:7.2f} "
                  f"{fig['states'] / fig['seconds']:10,.0f} {fig['peak']:8.0f} {ratio:>14}",
                  flush=True)
    counts = {n: (f["states"], f["transitions"]) for n, f in results.items()}
    same = len({c[0] for c in counts.values()}) == 1
    print("state counts " + ("agree" if same else "DIFFER") + ": " + ", ".join(
        f"{n} {s}" + (f"/{t}" if t is not None else "") for n, (s, t) in counts.items())
        + " (states/transitions; musil reports no transition count)")
    goals: list[tuple[str, bool | None, str]] = []
    mine = results.get("ours (fast path)")
    for peer, factor in (("musil", 5.0), ("spin", 1.0)):
        if mine and peer in results:
            r = results[peer]["seconds"] / mine["seconds"]
            goals.append((f"G={g} full space: ours >= {factor:g}x {peer}'s speed",
                          r >= factor, f"{r:.2f}x"))
        else:
            goals.append((f"G={g} full space: ours >= {factor:g}x {peer}'s speed", None,
                          "peer skipped"))
    if not args.quick:
        goals += _other_goals(repeat)
    print("\ngoals")
    for text, ok, figure in goals:
        status = "n/a" if ok is None else ("met" if ok else "SHORT")
        print(f"  {status:6} {text}: {figure}")
    return 0


def _other_goals(repeat: int) -> list[tuple[str, bool | None, str]]:
    goals: list[tuple[str, bool | None, str]] = []
    here = str(ROOT)
    big = _spawn([sys.executable, "-m", "spec.bench", "--run", "fast", "PAUSE_UPDATE_POST_FIX",
                  "clients=12", "scenario=B"], cwd=here)
    gb = big["peak_kib"] * 1024 / 1e9
    goals.append(("G=12 full space: peak memory < 0.3 GB (states "
                  f"{big['states']}, transitions {big['transitions']}, {big['seconds']:.1f} s)",
                  gb < 0.3, f"{gb:.3f} GB"))
    cli = [sys.executable, "-m", "model_check", "spec:PAUSE_UPDATE_PRE_FIX", "-D", "clients=10",
           "-D", "scenario=B"]
    wall, uncached = _cli_walls(cli, here, repeat)
    goals.append(("pre-fix G=10 counterexample, default flags, whole process (`python -m "
                  "model_check spec:PAUSE_UPDATE_PRE_FIX -D clients=10 -D scenario=B`) < 0.25 s",
                  wall < 0.25, f"{wall:.3f} s (bytecode cached, as after any first run; "
                  f"{uncached:.3f} s in this environment, PYTHONDONTWRITEBYTECODE="
                  f"{os.environ.get('PYTHONDONTWRITEBYTECODE', '(unset)')})"))
    for clients, bound in ((30, 0.2), (100, 1.0)):
        runs = [_spawn([sys.executable, "-m", "spec.bench", "--run", "fast-symmetry",
                        "PAUSE_UPDATE_POST_FIX", f"clients={clients}", "scenario=B"], cwd=here)
                for _ in range(repeat)]
        sec = _median(runs, "seconds")
        goals.append((f"symmetry G={clients} ({runs[0]['states']} states): search < {bound} s",
                      sec < bound, f"{sec:.3f} s (process {_median(runs, 'wall'):.2f} s)"))
    params = ["workers=9", "cap=4", "limit=4"]
    fig = {}
    for path in ("fast", "plain"):
        runs = [_spawn([sys.executable, "-m", "spec.bench", "--run", path, "BREAKER", *params],
                       cwd=here) for _ in range(repeat)]
        fig[path] = (runs[0]["states"], runs[0]["transitions"], _median(runs, "seconds"))
    ratio = fig["plain"][2] / fig["fast"][2]
    goals.append((f"a second spec, BREAKER {' '.join(params)} ({fig['fast'][0]} states, "
                  f"{fig['fast'][1]} transitions; plain {fig['plain'][0]}/{fig['plain'][1]}): "
                  f"fast path >= 4x the plain path's states/s "
                  f"({fig['fast'][2]:.2f} s vs {fig['plain'][2]:.2f} s)", ratio >= 4,
                  f"{ratio:.1f}x"))
    goals.append(_protocol_goal(repeat))
    return goals


#: states/s of the protocol spec (POST_FIX concurrent, 4 requests, full space) before the
#: performance work, measured on this machine (README, Speed): the baseline of the 4x goal,
#: which no longer exists as code to run beside the new paths
PROTOCOL_BEFORE = 47_000


def _protocol_goal(repeat: int) -> tuple[str, bool | None, str]:
    runs = {path: [_spawn([sys.executable, "-m", "spec.bench", "--run-protocol", path, "4"],
                          cwd=str(ROOT)) for _ in range(repeat)] for path in ("plain", "memo")}
    for path, samples in runs.items():
        if any("states" not in r for r in samples):
            return (f"protocol spec on the {path} path", False, "the run failed")
    rate = {path: samples[0]["states"] / _median(samples, "seconds")
            for path, samples in runs.items()}
    return (f"protocol spec, POST_FIX concurrent requests=4 ({runs['memo'][0]['states']} "
            f"states): >= 4x the {PROTOCOL_BEFORE:,} states/s before the work",
            rate["memo"] >= 4 * PROTOCOL_BEFORE,
            f"{rate['memo']:,.0f} states/s, {rate['memo'] / PROTOCOL_BEFORE:.1f}x "
            f"(plain path in this run: {rate['plain']:,.0f}, memo {rate['memo'] / rate['plain']:.2f}x it)")


def _cli_walls(cmd: list[str], cwd: str, repeat: int) -> tuple[float, float]:
    """Median wall seconds of ``cmd`` as whole processes: with Python's bytecode cache (in a
    temporary directory, filled by one uncounted run first), and in this environment as it
    is (where ``PYTHONDONTWRITEBYTECODE`` may leave the project's modules uncompiled)."""
    with tempfile.TemporaryDirectory(prefix="bench-pyc-") as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        subprocess.run(cmd, cwd=cwd, env=env, capture_output=True)
        cached = [_timed(cmd, cwd, env) for _ in range(repeat)]
    as_is = [_timed(cmd, cwd, dict(os.environ)) for _ in range(repeat)]
    return statistics.median(cached), statistics.median(as_is)


def _timed(cmd: list[str], cwd: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, capture_output=True)
    return time.perf_counter() - start


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def setup_musil() -> int:
    """Create .bench-venv from a Python 3.12+ found on the machine and install musil."""
    candidates = [os.environ.get("MUSIL_BASE_PYTHON", ""), "python3.13", "python3.12",
                  str(Path.home() / ".pyenv/versions/3.13.0/bin/python3.13"),
                  str(Path.home() / ".pyenv/versions/3.12.1/bin/python3.12")]
    for c in candidates:
        exe: str | None = shutil.which(c) if c and "/" not in c else (c if c and Path(c).exists() else None)
        probe = [exe, "-c", "import sys; assert sys.version_info >= (3, 12)"] if exe else None
        if probe and subprocess.run(probe, capture_output=True).returncode == 0:
            subprocess.run([exe, "-m", "venv", str(VENV)], check=True)
            subprocess.run([str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", "musil"],
                           check=True)
            print(f"musil installed in {VENV} (from {exe})")
            return 0
    print("no Python 3.12+ found (musil needs one): set MUSIL_BASE_PYTHON=/path/to/python3.12",
          file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spec.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compare", action="store_true",
                        help="ours against musil and Spin, and the other goals, side by side")
    parser.add_argument("--quick", action="store_true",
                        help="with --compare: only the side-by-side table")
    parser.add_argument("--clients", type=int, default=10, help="--compare: PAUSE-UPDATE G")
    parser.add_argument("--musil-python", metavar="PATH",
                        help="a Python 3.12+ with musil installed (default: .bench-venv)")
    parser.add_argument("--setup-musil", action="store_true",
                        help="create .bench-venv with musil from a Python 3.12+, and exit")
    parser.add_argument("--max-clients", type=int, default=10, help="PAUSE-UPDATE G up to this")
    parser.add_argument("--max-requests", type=int, default=4, help="POST_FIX N up to this")
    parser.add_argument("--repeat", type=int, default=3, help="runs per line; medians shown")
    parser.add_argument("--protocol", action="store_true",
                        help="the protocol spec: plain path against memo path")
    parser.add_argument("--requests", type=int, default=4, help="--protocol: POST_FIX N")
    parser.add_argument("--run", nargs="+", metavar="ARG", help=argparse.SUPPRESS)
    parser.add_argument("--run-protocol", nargs=2, metavar="ARG", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_protocol:
        print(json.dumps(_run_protocol(args.run_protocol[0], int(args.run_protocol[1]))))
        return 0
    if args.run:
        path, name, *pairs = args.run
        params: dict[str, Any] = {}
        for pair in pairs:
            key, _, value = pair.partition("=")
            params[key] = int(value) if value.isdigit() else value
        print(json.dumps(_run_ours(path.removesuffix("-symmetry"), name, params,
                                   path.endswith("-symmetry"))))
        return 0
    if args.setup_musil:
        return setup_musil()
    if args.repeat < 1 or args.max_clients < 1 or args.max_requests < 1 or args.clients < 1:
        parser.error("--repeat, --clients, --max-clients and --max-requests must be >= 1")
    if args.protocol:
        return protocol(args)
    return compare(args) if args.compare else table(args)


if __name__ == "__main__":
    sys.exit(main())
