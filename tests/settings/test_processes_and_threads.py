"""gunicorn's processes and threads come from the environment, and every process's torch gets its share of the cores."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT, worker_environment

# A machine of eight cores, whatever this one has, so the shares are the same everywhere.
EIGHT_CORES = "import os; os.sched_getaffinity = lambda pid: set(range(8))\n"


def python(code: str, **env: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=worker_environment(**env), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def threads_for_torch_after(setup: str, **env: str) -> int:
    """The thread count handed to torch after ``setup`` ran on an eight-core machine (torch reads it when imported)."""
    return int(python(EIGHT_CORES + setup + "\nprint(os.environ['OMP_NUM_THREADS'])", **env).split()[-1])


def gunicorn_settings(**env: str) -> dict[str, str]:
    printed = python(
        "import sys; from gunicorn.app.wsgiapp import run\n"
        "sys.argv = ['gunicorn', '--config', 'gunicorn.conf.py', '--print-config', 'sentimentsite.wsgi']; run()",
        **env,
    )
    pairs = (line.split("=", 1) for line in printed.splitlines() if "=" in line)
    return {name.strip(): value.strip() for name, value in pairs}


def test_gunicorn_runs_the_processes_and_threads_the_environment_asks_for() -> None:
    settings = gunicorn_settings(WEB_CONCURRENCY="3", GUNICORN_THREADS="5")

    assert settings["workers"] == "3" and settings["threads"] == "5"
    assert settings["bind"] == "['0.0.0.0:8000']"


def test_gunicorn_defaults_to_several_processes_of_several_threads() -> None:
    for unset in ({}, {"WEB_CONCURRENCY": "0"}):
        settings = gunicorn_settings(**unset)

        assert int(settings["workers"]) >= 2 and settings["threads"] == "4"


def test_each_gunicorn_process_gets_its_share_of_the_cores_for_torch() -> None:
    load_config = "import runpy; runpy.run_path('gunicorn.conf.py')"

    assert threads_for_torch_after(load_config, WEB_CONCURRENCY="4") == 2
    assert threads_for_torch_after(load_config, WEB_CONCURRENCY="16") == 1


def test_torch_threads_overrides_the_share() -> None:
    load_config = "import runpy; runpy.run_path('gunicorn.conf.py')"

    assert threads_for_torch_after(load_config, WEB_CONCURRENCY="4", TORCH_THREADS="3") == 3


def test_torch_in_a_web_process_uses_the_bound() -> None:
    printed = python(
        "import runpy; runpy.run_path('gunicorn.conf.py')\nimport torch; print(torch.get_num_threads())",
        WEB_CONCURRENCY="1", TORCH_THREADS="1",
    )  # fmt: skip

    assert printed.split()[-1] == "1"


def test_each_celery_pool_process_gets_its_share_of_the_cores_for_torch() -> None:
    start_worker = (
        "from sentimentsite.celery import app; from celery.signals import celeryd_init\n"
        "celeryd_init.send(sender='test@host', instance=None, conf=app.conf, options={{'pool': {pool!r}, 'concurrency': {n}}})"
    )

    assert threads_for_torch_after(start_worker.format(pool="prefork", n=2)) == 4
    assert threads_for_torch_after(start_worker.format(pool="prefork", n=None)) == 1
    assert threads_for_torch_after(start_worker.format(pool="solo", n=None)) == 8
