"""The step-through HTML page in a real headless Chromium (Debian's ``chromium`` package,
driven by Playwright with that browser's path; Playwright's own browser download is never
used).

Without the browser these tests skip, saying why; with ``TOCTOU_REQUIRE_BROWSER=1`` (set by
``.ci/run``, which installs the browser) a missing browser is a failure instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("TOCTOU_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def _missing() -> str | None:
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        return f"no browser at {CHROMIUM} (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = _missing()
    if reason:
        if os.environ.get("TOCTOU_REQUIRE_BROWSER") == "1":
            pytest.fail(f"TOCTOU_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def page_for(tmp_path: Path, *args: str) -> Path:
    path = tmp_path / "trace.html"
    proc = subprocess.run([sys.executable, "-m", "model_check", *args, "--quiet", "--html",
                           str(path)], cwd=REPO, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 1 and path.is_file(), proc.stderr
    return path


def open_page(browser: Any, path: Path) -> tuple[Any, list[str]]:
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"{m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on("request", lambda r: problems.append(f"network: {r.url}")
            if not r.url.startswith(("file:", "data:", "about:")) else None)
    page.goto(path.as_uri())
    return page, problems


def test_protocol_page_steps_with_the_keys_and_ends_in_the_violation(browser: Any, tmp_path: Path) -> None:
    path = page_for(tmp_path, "spec:PRE_FIX", "-D", "scenario=concurrent", "-D", "requests=1", "-D", "updates=2",
                    "--property", "update_safety", "--no-deadlock")
    page, problems = open_page(browser, path)
    where = page.locator("#where")
    assert where.inner_text().startswith("step 0 of ")
    last = int(where.inner_text().split(" of ")[1].split(":")[0])
    assert not page.locator("#verdict").is_visible()
    page.keyboard.press("ArrowRight")
    assert where.inner_text().startswith("step 1 of ") and "pause.start" in where.inner_text()
    assert page.locator("#state td.changed").count() >= 2  # a changed variable: name and value
    page.keyboard.press("ArrowLeft")
    assert where.inner_text().startswith("step 0 of ")
    assert page.locator("#state td.changed").count() == 0
    for _ in range(last + 3):  # past the end stays at the end
        page.keyboard.press("ArrowRight")
    assert where.inner_text().startswith(f"step {last} of {last}")
    verdict = page.locator("#verdict")
    assert verdict.is_visible()
    assert "violation: always update_safety" in verdict.inner_text()
    assert "mixed" in page.locator("#state td.changed").all_inner_texts()
    assert page.locator("#lanes tr").count() == last + 2  # header + every step
    assert problems == []


def test_buttons_and_deadlock_explanation(browser: Any, tmp_path: Path) -> None:
    path = page_for(tmp_path, "tests.gate_specs:Philosophers")
    page, problems = open_page(browser, path)
    assert page.locator("#prev").is_disabled()
    page.click("#next")
    page.click("#next")
    assert page.locator("#next").is_disabled()
    assert page.locator("#where").inner_text() == "step 2 of 2: B take"
    text = page.locator("#verdict").inner_text()
    assert "deadlock" in text and "A waits for fork y, held by B" in text
    headers = page.locator("#lanes th").all_inner_texts()
    assert headers == ["#", "A", "fork x", "B", "fork y"]
    page.click("#prev")
    assert page.locator("#where").inner_text() == "step 1 of 2: A take"
    assert problems == []


# -- Mermaid, rendered by Mermaid itself in the same browser ------------------------------------

MERMAID_JS = Path(os.environ.get(
    "TOCTOU_MERMAID_JS", REPO / ".ci" / "node" / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"))

RENDER = """async (text) => {
  mermaid.initialize({startOnLoad: false});
  try {
    const {svg} = await mermaid.render("d" + Math.floor(Math.random() * 1e9), text);
    return {svg: svg};
  } catch (e) { return {error: String(e.message || e)}; }
}"""


@pytest.fixture(scope="module")
def mermaid_page(browser: Any) -> Iterator[Any]:
    if not MERMAID_JS.is_file():
        reason = (f"no Mermaid at {MERMAID_JS} (npm install --prefix .ci/node mermaid@11.17.2, "
                  "as .ci/run does)")
        if os.environ.get("TOCTOU_REQUIRE_MERMAID") == "1":
            pytest.fail(f"TOCTOU_REQUIRE_MERMAID=1 but {reason}")
        pytest.skip(reason)
    page = browser.new_page()
    page.set_content("<!DOCTYPE html><html><body></body></html>")
    page.add_script_tag(path=str(MERMAID_JS))
    yield page
    page.close()


def mermaid_for(tmp_path: Path, *args: str) -> str:
    path = tmp_path / "trace.mmd"
    proc = subprocess.run([sys.executable, "-m", "model_check", *args, "--quiet", "--mermaid",
                           str(path)], cwd=REPO, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 1, proc.stderr
    return path.read_text()


@pytest.mark.parametrize(
    "args",
    [pytest.param(["spec:PRE_FIX", "-D", "scenario=concurrent", "-D", "updates=2"], id="protocol"),
     pytest.param(["tests.gate_specs:Philosophers"], id="lanes-hook")],
)
def test_mermaid_renders(mermaid_page: Any, tmp_path: Path, args: list[str]) -> None:
    text = mermaid_for(tmp_path, *args)
    out = mermaid_page.evaluate(RENDER, text)
    assert "error" not in out, out
    participants = text.count("\n  participant ")
    # each participant is drawn twice (top and bottom) as an actor box with its name
    assert out["svg"].count('class="actor actor-top"') == participants
    # the renderer has teeth: a broken arrow is a parse error
    broken = mermaid_page.evaluate(RENDER, text.replace("->>", "->>>", 1))
    assert "error" in broken
