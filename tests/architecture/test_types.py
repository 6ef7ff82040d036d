"""mypy, with the Django and DRF plugins, over apps/ and workers/ (settings in pyproject.toml; `make typecheck`).

Every module type-checks clean; a type error anywhere in apps/ or workers/ fails the suite with mypy's report.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ERROR = re.compile(r"^[\w/.-]+\.py:\d+(?::\d+)?: error: ", re.MULTILINE)


def test_apps_and_workers_type_check(tmp_path: Path) -> None:
    mypy = Path(sys.executable).with_name("mypy")
    result = subprocess.run(
        [str(mypy), "--cache-dir", str(tmp_path / "cache"), "apps", "workers"],
        cwd=REPO,
        env={**os.environ, "SECRET_KEY": "typecheck-only"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    report = result.stdout + result.stderr
    assert "Traceback" not in report and result.returncode in (0, 1), f"mypy did not run:\n{report}"
    assert not ERROR.search(report) and result.returncode == 0, f"type errors in apps/ or workers/:\n{report}"
    assert "no issues found" in report, report
