"""Break the platform on purpose and record what its users saw: the fault scenarios of tests/faults, tabulated.

Brings up a stack of its own (a PostgreSQL cluster from ``pg_createcluster`` and a ``redis-server`` on free
ports, gunicorn with two workers, three Celery workers; the harness of ``tests/faults``), runs every
scenario once and writes one row per scenario to bench/results/faults.json: whether it held, what
fell short, seconds to detect and to recover, and the requests answered / 5xx / 503. One line of text
per scenario goes to stdout. Needs root (``pg_createcluster``), PostgreSQL 15 and redis-server.

    .venv/bin/python bench/faults.py [--only NAME ...]

NAME is a scenario function of tests/faults/scenarios.py or traffic.py, e.g. ``broker_down_at_submit``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform as host
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "bench" / "results" / "faults.json"
sys.path.insert(0, str(REPO_ROOT))

from tests.faults import scenarios, traffic  # noqa: E402
from tests.faults.outcome import OUTAGE_SECONDS  # noqa: E402
from tests.faults.client import Platform, build_tiny_bert  # noqa: E402
from tests.faults.harness import JOB_TIMINGS, Stack, missing_tools  # noqa: E402

SCENARIOS = [
    "broker_down_at_submit",
    "broker_restarted_empty",
    "database_outage_during_jobs",
    "database_down_during_traffic",
    "worker_killed_mid_import",
    "import_cancelled",
    "duplicate_delivery",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, help="Run these scenarios only (results not written).")
    args = parser.parse_args()
    missing = missing_tools()
    if missing or os.geteuid() != 0:
        sys.exit(f"bench/faults.py needs root and {', '.join(missing) or 'PostgreSQL 15 and redis-server'}.")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sentimentsite.settings")
    started = time.monotonic()
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as folder:
        stack = Stack.create(Path(folder) / "stack")
        try:
            platform = Platform(stack)
            platform.sign_in()
            platform.seed(tiny_bert_dir=build_tiny_bert(Path(folder) / "tiny-bert"))
            for name in args.only or SCENARIOS:
                result = getattr(traffic if name == "database_down_during_traffic" else scenarios, name)(platform)
                for outcome in result if isinstance(result, list) else [result]:
                    print(outcome.line() if outcome.held else outcome.report(), flush=True)
                    rows.append({"function": name, **outcome.as_dict()})
            leftovers = _unfinished_jobs(stack)
        finally:
            stack.close()
    held = sum(1 for row in rows if row["held"])
    summary = (
        f"{held} of {len(rows)} fault scenarios held; {sum(int(row['server_errors']) - int(row['unavailable']) for row in rows)} "
        f"5xx other than 503; {leftovers} jobs left queued or running after recovery"
    )
    print(summary)
    if args.only:
        return
    RESULTS.write_text(
        json.dumps(
            {
                "measured": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "machine": f"{os.cpu_count()} CPUs ({host.machine()}), shared with other work",
                "python": host.python_version(),
                "stack": "PostgreSQL 15 cluster and redis-server of their own, gunicorn --workers 2, 3 Celery solo workers",
                "job_timings": JOB_TIMINGS,
                "outage_seconds": OUTAGE_SECONDS,
                "seconds": round(time.monotonic() - started, 1),
                "summary": summary,
                "jobs_left_unfinished": leftovers,
                "scenarios": rows,
            },
            indent=2,
        )
        + "\n"
    )


def _unfinished_jobs(stack: Stack) -> int:
    """Jobs of any kind still queued or running once every scenario has healed the stack."""
    return sum(
        int(stack.sql(f"SELECT count(*) FROM {table} WHERE status IN ('queued', 'running')")[0][0])
        for table in scenarios.JOB_TABLES.values()
    )


if __name__ == "__main__":
    main()
