"""Fixtures shared by the whole suite: a real Celery worker process and a polling helper."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connections

REPO_ROOT = Path(__file__).resolve().parent.parent
IMDB_DIR = REPO_ROOT.parent / "shared" / "data" / "imdb"


def wait_until(predicate: Callable[[], Any], *, timeout: float = 60.0, interval: float = 0.1, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


@dataclass
class WorkerProcess:
    """A ``celery worker`` started as a separate process, as production runs it."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def start_worker(
    *, env: dict[str, str], log_path: Path, queues: str = "default,gpu", name: str = "test", pool: str = "solo"
) -> WorkerProcess:
    log = log_path.open("wb")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "sentimentsite", "worker",
            "-Q", queues, "--pool", pool, "--concurrency", "1", "--loglevel", "INFO",
            "--without-gossip", "--without-mingle", "-n", f"{name}-{os.getpid()}@%h",
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    worker = WorkerProcess(process=process, log_path=log_path)

    def ready() -> bool:
        if process.poll() is not None:
            pytest.fail(f"the Celery worker exited with {process.returncode}:\n{worker.log()}")
        return " ready." in worker.log()

    wait_until(ready, timeout=90, what="the Celery worker to start")
    return worker


def worker_environment(**overrides: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.update(overrides)
    return env


@pytest.fixture(scope="session")
def artifact_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("artifacts")


@dataclass
class SharedWorker:
    """One worker process for the whole session that consumes only while a test that asked for it runs.

    Starting a worker takes many seconds, so one process serves every test that needs it. Between those
    tests it consumes nothing: a later test that only sends a message (and never meant it to run) then
    finds its row as it left it, and no job of another test writes to the database while the test's
    teardown flushes it. A worker that does not answer the remote control is stopped and started anew.
    """

    env: dict[str, str]
    log_path: Path
    name: str = "test"
    worker: WorkerProcess | None = None

    @property
    def nodename(self) -> str:
        return f"{self.name}-{os.getpid()}@{socket.gethostname()}"

    def attach(self) -> WorkerProcess:
        _purge_broker()
        if self.worker is not None and self.worker.process.poll() is None:
            if self._control("add_consumer"):
                return self.worker
            self.worker.stop()
        self.worker = start_worker(env=self.env, log_path=self.log_path, name=self.name)
        return self.worker

    def detach(self) -> None:
        if self.worker is None or self.worker.process.poll() is not None:
            return
        if not self._control("cancel_consumer"):
            self.worker.stop()

    def _control(self, command: str) -> bool:
        """Send ``command`` for both queues; True when the worker confirmed each."""
        from sentimentsite.celery import app

        for queue in ("default", "gpu"):
            replies = getattr(app.control, command)(queue, destination=[self.nodename], reply=True, timeout=10)
            if not replies:
                return False
        return True


@pytest.fixture(scope="session")
def _shared_worker(
    django_db_setup: None, django_db_blocker: Any, artifact_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SharedWorker]:
    db = connections["default"].settings_dict
    if db["ENGINE"] != "django.db.backends.postgresql" or not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("the worker tests run on PostgreSQL and Redis: use `make test`")
    database_url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    shared = SharedWorker(
        # No maintenance rounds: between its tests the worker must not touch other tests' rows. The
        # tests of reaping and re-sending start workers of their own.
        env=worker_environment(DATABASE_URL=database_url, ARTIFACT_ROOT=str(artifact_root), JOB_SWEEP_SECONDS="86400"),
        log_path=tmp_path_factory.mktemp("worker") / "worker.log",
    )
    yield shared
    if shared.worker is not None:
        shared.worker.stop()


@pytest.fixture
def celery_worker_process(_shared_worker: SharedWorker) -> Iterator[WorkerProcess]:
    """A real worker on the tests' PostgreSQL database and Redis broker, consuming both queues.

    Tests that use it need ``@pytest.mark.django_db(transaction=True)``: the worker is another
    process and only sees committed rows.
    """
    worker = _shared_worker.attach()
    yield worker
    _shared_worker.detach()


def _purge_broker() -> None:
    from sentimentsite.celery import app

    with app.connection_for_write() as connection:
        for queue in ("default", "gpu"):
            connection.default_channel.queue_purge(queue)


@pytest.fixture(autouse=True)
def _artifact_root_setting(request: pytest.FixtureRequest, artifact_root: Path) -> None:
    # tests/workers runs without Django too (-p no:django); there is no settings fixture then.
    if request.config.pluginmanager.hasplugin("django"):
        settings = request.getfixturevalue("settings")
        settings.ARTIFACT_ROOT = artifact_root
        # No warming thread in the tests' own process: it would hold a connection to the test database.
        settings.PREDICTION_WARM_SECONDS = 0


def pytest_report_header(config: pytest.Config) -> list[str]:
    db = settings.DATABASES["default"]
    return [
        f"database: {db['ENGINE'].rsplit('.', 1)[-1]} {db.get('HOST') or ''} (tests use test_{db['NAME']})",
        f"celery broker: {settings.CELERY_BROKER_URL}",
    ]


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised two-label BERT a few MB large, with the real MiniLM tokenizer, saved as a local base model.

    Runs use it as ``base_model=<this folder>``: the same path any local model takes, so the worker
    process needs no test hook to train it.
    """
    from workers.ml.tiny_models import save_tiny_bert

    folder = tmp_path_factory.mktemp("tiny-bert")
    save_tiny_bert(folder)
    return folder


@pytest.fixture
def static_files_as_in_development(settings: Any, tmp_path: Path) -> None:
    """Pages link static files; tests have no collectstatic manifest, so they are served as in development.

    Test folders whose pages render templates use it from an autouse fixture of their conftest.
    """
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
