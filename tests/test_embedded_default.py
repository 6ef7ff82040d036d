"""The platform on its embedded default: SQLite and the filesystem broker, with a real worker process."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, start_worker, worker_environment

pytestmark = pytest.mark.embedded


def embedded_env(var_dir: Path) -> dict[str, str]:
    env = worker_environment(DEBUG="0", SECRET_KEY="embedded-test-key", VAR_DIR=str(var_dir))
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "ARTIFACT_ROOT"):
        env.pop(name, None)
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_an_import_runs_on_a_worker_with_sqlite_and_the_filesystem_broker(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    env = embedded_env(var_dir)
    reviews = tmp_path / "reviews.csv"
    reviews.write_text(
        'review,sentiment\n"A warm, funny film.",positive\n"Dull from start to finish.",negative\n', encoding="utf-8"
    )
    migrated = manage("migrate", "--noinput", env=env)
    assert migrated.returncode == 0, migrated.stderr

    worker = start_worker(env=env, log_path=tmp_path / "worker.log", name="embedded")
    try:
        first = manage("import_reviews", str(reviews), "--background", "--timeout", "120", env=env)
        again = manage("import_reviews", str(reviews), "--background", "--timeout", "120", env=env)
    finally:
        worker.stop()

    assert first.returncode == 0, first.stderr + worker.log()
    assert "succeeded" in first.stdout and "2 new, 0 already present" in first.stdout
    assert again.returncode == 0, again.stderr
    assert "0 new, 2 already present" in again.stdout
    assert "reviews.run_import" in worker.log()
    assert any((var_dir / "broker" / "queue").parent.iterdir()), "the broker keeps its files under VAR_DIR"
    with sqlite3.connect(var_dir / "db.sqlite3") as db:
        rows = db.execute("select text, gold_label from reviews_review order by gold_label").fetchall()
    assert rows == [("Dull from start to finish.", 0), ("A warm, funny film.", 1)]
