"""The README's set-up commands are exactly what CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the README's set-up section has no sh code block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_setup_is_two_commands_that_ci_runs_verbatim():
    commands = setup_commands()
    assert len(commands) == 2
    assert "pip install torch==2.13.0" in commands[0]
    assert "pytest" in commands[1]
    ci = [line for line in (ROOT / ".ci/run").read_text().splitlines()
          if line.strip() and not line.startswith("#")]
    assert ci[-2:] == commands


def test_readme_pinned_entry_count_is_current():
    from spec import expected

    assert f"all {len(expected.load())} pinned entries" in (ROOT / "README.md").read_text()
