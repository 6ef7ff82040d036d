from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from sentimentsite.env import env_bool, env_int
from tests.conftest import REPO_ROOT, worker_environment


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = worker_environment(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        HTTPS="1",
        ALLOWED_HOSTS="sentiment.example.com",
        CACHE_URL="redis://cache.example.com:6379/1",
        VAR_DIR=str(tmp_path),
        **extra,
    )
    env.pop("DATABASE_URL", None)
    env.pop("CELERY_BROKER_URL", None)
    return env


def test_deploy_check_is_clean_with_production_settings(tmp_path: Path) -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_missing_secret_key_with_debug_off_is_refused_with_advice(tmp_path: Path) -> None:
    env = production_env(tmp_path)
    del env["SECRET_KEY"]
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY is required when DEBUG is off" in result.stderr


def test_a_command_asked_for_its_help_without_secret_key_says_what_to_set_without_a_traceback(
    tmp_path: Path,
) -> None:
    env = production_env(tmp_path)
    del env["SECRET_KEY"]
    del env["DEBUG"]
    result = manage("train", "--help", env=env)
    assert result.returncode == 1
    assert "SECRET_KEY is required when DEBUG is off" in result.stderr
    assert "DEBUG=1 for local work" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_boolean_names_the_variable_and_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match=r"DEBUG='maybe' is not a boolean"):
        env_bool("DEBUG")


def test_a_bad_number_names_the_variable_and_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUN_HEARTBEAT_SECONDS", "ten")
    with pytest.raises(ImproperlyConfigured, match=r"RUN_HEARTBEAT_SECONDS='ten' is not a whole number"):
        env_int("RUN_HEARTBEAT_SECONDS", 15)


def test_the_embedded_default_uses_sqlite_and_the_filesystem_broker_under_var_dir(tmp_path: Path) -> None:
    env = production_env(tmp_path)
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.DATABASES['default']['NAME'], s.CELERY_BROKER_URL)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "sentimentsite.settings"},
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    engine, name, broker = result.stdout.split()
    assert engine == "django.db.backends.sqlite3"
    assert Path(name) == tmp_path / "db.sqlite3"
    assert broker == "filesystem://"
