"""Import all 100,000 IMDb reviews into a fresh SQLite and a fresh PostgreSQL database, twice each.

The first import writes every review; the second finds them all present and writes nothing. Each
database is migrated and measured in a process of its own, configured as a user would configure it
(DATABASE_URL, VAR_DIR). Results go to bench/results/import.json, plus one line on stdout.

    .venv/bin/python bench/import_bench.py [SOURCE]
    .venv/bin/python bench/import_bench.py --smoke   # 2,000 reviews from a CSV, no results written

SOURCE defaults to ../shared/data/imdb; BENCH_POSTGRES_URL names the server (default
postgres://postgres@127.0.0.1:5432), where a database ``bench_import`` is created and dropped.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "data" / "imdb"
RESULTS = REPO_ROOT / "bench" / "results" / "import.json"
POSTGRES_SERVER = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
BENCH_DATABASE = "bench_import"
SMOKE_REVIEWS = 2000


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--measure":
        print(json.dumps(measure(sys.argv[2])))
        return
    smoke = sys.argv[1:] == ["--smoke"]
    if smoke:
        with tempfile.TemporaryDirectory(prefix="bench-import-smoke-") as folder:
            bench(smoke_csv(Path(folder)), results_path=None)
        return
    bench(sys.argv[1] if len(sys.argv) > 1 else str(DEFAULT_SOURCE), results_path=RESULTS)


def smoke_csv(folder: Path) -> str:
    """The first reviews of IMDb's train split as a CSV (review,sentiment), the smoke run's source."""
    import csv

    sys.path.insert(0, str(REPO_ROOT))
    from workers.ml.data import read_imdb_parquet

    # IMDb repeats a few reviews; the import stores each text once, and the bench checks every row is new.
    distinct = {example.text: example.label for example in read_imdb_parquet(DEFAULT_SOURCE, splits=("train",))}
    path = folder / "imdb-smoke.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["review", "sentiment"])
        for text, label in list(distinct.items())[:SMOKE_REVIEWS]:
            writer.writerow([text, ["negative", "positive"][label]])
    return str(path)


def bench(source: str, *, results_path: Path | None) -> None:
    results: dict[str, Any] = {
        "source": source,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "measured": "review_import() in a migrated database, Django set up beforehand",
    }
    with tempfile.TemporaryDirectory(prefix="bench-import-") as var_dir:
        results["sqlite"] = run_database(source, VAR_DIR=var_dir)
    with postgres_database() as database_url:
        results["postgresql"] = run_database(source, DATABASE_URL=database_url)
    if results_path is not None:
        results_path.parent.mkdir(parents=True, exist_ok=True)
        results_path.write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"import of {results['sqlite']['first']['rows_read']} reviews: "
        + "; ".join(
            f"{name} {runs['first']['seconds']:.1f}s ({runs['first']['rows_per_second']:,.0f} rows/s), "
            f"repeat {runs['repeat']['seconds']:.1f}s ({runs['repeat']['rows_created']} new)"
            for name, runs in (("SQLite", results["sqlite"]), ("PostgreSQL", results["postgresql"]))
        )
        + (f" -> {results_path.relative_to(REPO_ROOT)}" if results_path else " (smoke, no results written)")
    )


def run_database(source: str, **settings: str) -> dict[str, Any]:
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "VAR_DIR"}}
    env.update(SECRET_KEY="bench-only-secret-key", DEBUG="0", **settings)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO_ROOT, env=env, check=True)
    finished = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--measure", source],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(finished.stdout.strip().splitlines()[-1])


def measure(source: str) -> dict[str, Any]:
    """Import twice in this process; the first must create every review, the second none."""
    sys.path.insert(0, str(REPO_ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sentimentsite.settings")
    import django

    django.setup()
    from django.db import connection

    from apps.reviews.services import review_import

    runs: dict[str, Any] = {"vendor": connection.vendor}
    for name in ("first", "repeat"):
        started = time.perf_counter()
        result = review_import(source=source)
        seconds = time.perf_counter() - started
        runs[name] = {
            "seconds": round(seconds, 2),
            "rows_read": result.rows_read,
            "rows_created": result.rows_created,
            "rows_existing": result.rows_existing,
            "rows_per_second": round(result.rows_read / seconds),
        }
    if runs["first"]["rows_created"] != runs["first"]["rows_read"] or runs["repeat"]["rows_created"] != 0:
        raise SystemExit(f"unexpected counts: {runs}")
    return runs


class postgres_database:
    """A database of its own on the PostgreSQL server, dropped afterwards."""

    def __enter__(self) -> str:
        self._execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)", f"CREATE DATABASE {BENCH_DATABASE}")
        return f"{POSTGRES_SERVER}/{BENCH_DATABASE}"

    def __exit__(self, *exc_info: object) -> None:
        self._execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")

    def _execute(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as connection:
            for statement in statements:
                connection.execute(statement)


if __name__ == "__main__":
    main()
