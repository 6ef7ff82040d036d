"""The platform as production runs it, on servers of its own that a scenario may stop, kill and restart.

A ``Stack`` is a PostgreSQL cluster (``pg_createcluster`` on a free port, trust auth on 127.0.0.1), a
``redis-server`` without persistence on a free port, gunicorn with two workers and a few Celery workers,
all pointed at them, with every folder in a temporary directory. The tests in this folder and
``bench/faults.py`` both drive it; nothing here needs pytest.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

REPO_ROOT = Path(__file__).resolve().parents[2]
PG_VERSION = "15"
CLUSTER_PREFIX = "faults_"
ADMIN_USERNAME = "faults-admin"
ADMIN_PASSWORD = "faults-admin-password"
DATABASE_NAME = "faults"

# Short enough that a scenario sees the reaper and the sweeper at work within seconds.
JOB_TIMINGS = {
    "RUN_HEARTBEAT_SECONDS": "2",
    "RUN_STALE_AFTER_SECONDS": "10",
    "JOB_SWEEP_SECONDS": "2",
    "JOB_REDISPATCH_SECONDS": "5",
    "JOB_DB_OUTAGE_SECONDS": "120",
}

T = TypeVar("T")


class HarnessError(RuntimeError):
    """The stack could not be brought up, or something it waited for did not happen in time."""


def wait_for(predicate: Callable[[], T], *, timeout: float, what: str, interval: float = 0.2) -> T:
    """Poll ``predicate`` until it returns something truthy; ``HarnessError`` naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise HarnessError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def missing_tools() -> list[str]:
    """The programs a stack needs that this machine lacks (the tests skip, naming them)."""
    return [tool for tool in ("pg_createcluster", "pg_ctlcluster", "pg_dropcluster", "redis-server") if not shutil.which(tool)]


def _run(command: list[str], *, what: str, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=timeout)
    if result.returncode != 0:
        raise HarnessError(f"{what} failed ({result.returncode}): {' '.join(command)}\n{result.stdout}\n{result.stderr}")
    return result.stdout


class PostgresCluster:
    """A cluster of its own, so a scenario can stop it without touching anyone else's database."""

    def __init__(self, *, name: str, port: int) -> None:
        self.name = name
        self.port = port

    @classmethod
    def create(cls) -> PostgresCluster:
        _drop_abandoned_clusters()
        cluster = cls(name=f"{CLUSTER_PREFIX}{os.getpid()}", port=free_port())
        _run(
            [
                "pg_createcluster", PG_VERSION, cluster.name, "--port", str(cluster.port), "--start-conf", "manual",
                # Durability buys nothing in a throw-away cluster; speed on a shared machine does.
                "-o", "fsync=off", "-o", "synchronous_commit=off", "-o", "full_page_writes=off",
                "-o", "max_connections=200",
                "--", "--auth-host=trust", "--auth-local=trust",
            ],
            what="pg_createcluster",
        )
        try:
            cluster.start()
            import psycopg

            with psycopg.connect(cluster.url("postgres"), autocommit=True) as connection:
                connection.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
        except BaseException:
            cluster.drop()
            raise
        return cluster

    def url(self, database: str = DATABASE_NAME) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        _run(["pg_ctlcluster", "--skip-systemctl-redirect", PG_VERSION, self.name, "start"], what="starting PostgreSQL")

    def stop(self) -> None:
        """Stop it the way a crash or a failover looks to clients: every connection is cut at once."""
        _run(["pg_ctlcluster", "--skip-systemctl-redirect", PG_VERSION, self.name, "stop", "-m", "fast"], what="stopping PostgreSQL")

    def is_up(self) -> bool:
        return subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.port)]).returncode == 0

    def drop(self) -> None:
        subprocess.run(["pg_dropcluster", "--stop", PG_VERSION, self.name], capture_output=True)


def _drop_abandoned_clusters() -> None:
    """Drop clusters left by a harness whose process is gone (killed before it could clean up)."""
    clusters = Path("/etc/postgresql") / PG_VERSION
    for folder in clusters.glob(f"{CLUSTER_PREFIX}*") if clusters.is_dir() else []:
        owner = folder.name.removeprefix(CLUSTER_PREFIX)
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            subprocess.run(["pg_dropcluster", "--stop", PG_VERSION, folder.name], capture_output=True)


@dataclass
class ServiceProcess:
    """A process of the platform (gunicorn, a Celery worker) with its output in a log file."""

    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL the whole process group, as the out-of-memory killer or a lost machine would."""
        if self.alive():
            os.killpg(self.pid, signal.SIGKILL)
            assert self.process is not None
            self.process.wait(timeout=30)

    def stop(self, timeout: float = 30) -> None:
        if not self.alive():
            return
        assert self.process is not None
        os.killpg(self.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()


class RedisServer:
    """``redis-server`` without persistence: a restart comes back empty, as a lost broker does."""

    def __init__(self, *, port: int, log_path: Path) -> None:
        self.port = port
        self.service = ServiceProcess(
            name="redis",
            command=[
                "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--daemonize", "no",
            ],
            env=dict(os.environ),
            log_path=log_path,
        )

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.service.start()
        wait_for(self.is_up, timeout=30, what="redis-server to answer")

    def stop(self) -> None:
        self.service.stop()

    def is_up(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=1).ping())
        except redis.exceptions.RedisError:
            return False


@dataclass
class Stack:
    """PostgreSQL, Redis, gunicorn and Celery workers of the platform, each one a scenario can stop or kill."""

    root: Path
    postgres: PostgresCluster
    redis: RedisServer
    env: dict[str, str]
    web_port: int
    web: ServiceProcess | None = None
    workers: list[ServiceProcess] = field(default_factory=list)

    @classmethod
    def create(cls, root: Path, *, worker_count: int = 3) -> Stack:
        """Bring the whole stack up in ``root`` and migrate its database; ``close()`` tears it all down."""
        root.mkdir(parents=True, exist_ok=True)
        (root / "logs").mkdir(exist_ok=True)
        postgres = PostgresCluster.create()
        stack = cls(root=root, postgres=postgres, redis=RedisServer(port=free_port(), log_path=root / "logs" / "redis.log"),
                    env={}, web_port=free_port())
        try:
            stack.redis.start()
            stack.env = stack._environment()
            stack.manage("migrate", "--noinput", "-v0")
            stack.manage("collectstatic", "--noinput", "-v0")
            stack.manage("bootstrap", "--skip-import")
            stack.start_web()
            for number in range(worker_count):
                stack.workers.append(stack._worker(number))
            for worker in stack.workers:
                worker.start()
            for worker in stack.workers:
                stack.wait_worker_ready(worker)
        except BaseException:
            stack.close()
            raise
        return stack

    def _environment(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PYTEST", "DATABASE_", "CELERY_"))
        }
        var = self.root / "var"
        env.update(
            DATABASE_URL=self.postgres.url(),
            CELERY_BROKER_URL=self.redis.url,
            VAR_DIR=str(var),
            ARTIFACT_ROOT=str(var / "artifacts"),
            SECRET_KEY="faults-harness-secret-key-not-for-production",
            DEBUG="0",
            ADMIN_USERNAME=ADMIN_USERNAME,
            ADMIN_PASSWORD=ADMIN_PASSWORD,
            HF_HUB_OFFLINE="1",
            TOKENIZERS_PARALLELISM="false",
            # Two cores are shared by the web, the workers and the harness itself.
            OMP_NUM_THREADS="1",
            # The traffic scenario asks far more often than a person would; throttles are not under test.
            API_THROTTLE_PREDICT="1000000/minute",
            API_THROTTLE_BULK="1000000/minute",
            API_THROTTLE_LOGIN="1000/minute",
            **JOB_TIMINGS,
        )
        return env

    # --- Processes -------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def manage(self, *args: str, timeout: float = 300) -> str:
        return _run([sys.executable, "manage.py", *args], what=f"manage.py {args[0]}", env=self.env, timeout=timeout)

    def start_web(self) -> None:
        self.web = ServiceProcess(
            name="web",
            command=[
                sys.executable, "-m", "gunicorn", "sentimentsite.wsgi", "--workers", "2",
                "--bind", f"127.0.0.1:{self.web_port}", "--timeout", "60", "--access-logfile", "-",
            ],
            env=self.env,
            log_path=self.root / "logs" / "web.log",
        ).start()
        wait_for(self._web_answers, timeout=90, what="gunicorn to answer")

    def _web_answers(self) -> bool:
        import requests

        assert self.web is not None
        if not self.web.alive():
            raise HarnessError(f"gunicorn exited:\n{self.web.log()[-4000:]}")
        try:
            return requests.get(f"{self.base_url}/accounts/login/", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def _worker(self, number: int) -> ServiceProcess:
        name = f"faults{number}-{os.getpid()}"
        return ServiceProcess(
            name=name,
            command=[
                sys.executable, "-m", "celery", "-A", "sentimentsite", "worker", "-Q", "default,gpu",
                "--pool", "solo", "--concurrency", "1", "--prefetch-multiplier", "1", "--loglevel", "INFO",
                "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"{name}@%h",
            ],
            env=self.env,
            log_path=self.root / "logs" / f"{name}.log",
        )

    def wait_worker_ready(self, worker: ServiceProcess, *, since: int = 0) -> None:
        def ready() -> bool:
            if not worker.alive():
                raise HarnessError(f"Celery worker {worker.name} exited:\n{worker.log()[-4000:]}")
            return " ready." in worker.log()[since:]

        wait_for(ready, timeout=120, what=f"Celery worker {worker.name} to start")

    def worker_named(self, hostname: str) -> ServiceProcess:
        """The worker whose Celery hostname (``name@host``, as jobs record it) is ``hostname``."""
        for worker in self.workers:
            if hostname.startswith(f"{worker.name}@"):
                return worker
        raise HarnessError(f"no worker of this stack is called {hostname!r}")

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()

    def start_workers(self) -> None:
        """Start every worker that is not running, and wait until each of them is ready."""
        stopped = [worker for worker in self.workers if not worker.alive()]
        offsets = {worker.name: len(worker.log()) for worker in stopped}
        for worker in stopped:
            worker.start()
        for worker in stopped:
            self.wait_worker_ready(worker, since=offsets[worker.name])

    def heal(self) -> None:
        """Bring back whatever a scenario stopped, so the next one starts from a healthy stack."""
        if not self.postgres.is_up():
            self.postgres.start()
        if not self.redis.is_up():
            self.redis.start()
        if any(not worker.alive() for worker in self.workers):
            self.start_workers()

    # --- Looking at the database directly ----------------------------------------------------------------

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows of ``query`` on the stack's database: for the invariants no API shows (duplicates, leftovers)."""
        import psycopg

        with psycopg.connect(self.postgres.url(), autocommit=True, connect_timeout=5) as connection:
            return connection.execute(query, params).fetchall()

    def logs(self, lines: int = 25) -> str:
        """The last lines of every process's log, for a failure message; answered requests are left out."""
        parts = []
        for service in [self.web, *self.workers]:
            if service is not None:
                kept = [line for line in service.log().splitlines() if '" 200 ' not in line and '" 202 ' not in line]
                parts.append(f"--- {service.name} ({service.log_path}) ---\n" + "\n".join(kept[-lines:]))
        return "\n".join(parts)

    def close(self) -> None:
        for worker in self.workers:
            worker.stop(timeout=15)
        if self.web is not None:
            self.web.stop(timeout=15)
        self.redis.stop()
        self.postgres.drop()
