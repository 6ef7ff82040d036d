"""The layering drawn in docs/architecture.md, as the contracts in .importlinter: those the code keeps stay kept.

import-linter reads every import in apps/, workers/ and sentimentsite/ (those inside functions too), so an
import that breaks the drawing fails here with the chain that breaks it.
"""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / ".importlinter"
# "No module past ~500 lines": a little slack over the round number.
MAX_MODULE_LINES = 550
# Every contract in .importlinter: the code keeps them all, and a new contract joins this list once it is kept.
ENFORCED = ("ml-library", "enqueue-by-name", "app-layers", "web-serves-no-training")
# Modules allowed over the limit (none today), each at most as long as it was: they may shrink, never grow.
OVERSIZED: dict[str, int] = {}


def contract(name: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser()
    parser.read(CONFIG)
    return parser[f"importlinter:contract:{name}"]


def test_the_enforced_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--config", str(CONFIG), "--no-cache", *(f"--contract={name}" for name in ENFORCED)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, f"An import breaks the layering of docs/architecture.md:\n{report}"
    assert f"{len(ENFORCED)} kept, 0 broken" in report, report


def test_every_app_is_in_the_layering() -> None:
    """A new app cannot sit outside the drawing: each package under apps/ is one of the layers."""
    layers = {line.strip() for line in contract("app-layers")["layers"].splitlines() if line.strip()}
    apps = {f"apps.{path.parent.name}" for path in (REPO / "apps").glob("*/apps.py")}
    assert apps, "no Django apps found under apps/"
    assert apps <= layers, f"apps missing from the app-layers contract: {sorted(apps - layers)}"


def test_no_module_grows_past_the_size_limit() -> None:
    long = {
        str(path.relative_to(REPO)): lines
        for root in ("apps", "workers", "sentimentsite")
        for path in (REPO / root).rglob("*.py")
        if "migrations" not in path.parts and (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    grown = {path: lines for path, lines in long.items() if lines > OVERSIZED.get(path, MAX_MODULE_LINES)}
    assert not grown, f"modules over {MAX_MODULE_LINES} lines (or longer than they were), to split by concept: {grown}"
