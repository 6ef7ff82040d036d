"""``manage.py check --deploy`` warns about rate limits counted per process."""

from __future__ import annotations

from typing import Any

from django.core.checks import run_checks


def _ids(settings: Any, caches: dict[str, Any]) -> set[str]:
    settings.CACHES = caches
    return {message.id for message in run_checks(include_deployment_checks=True)}


def test_a_per_process_cache_is_warned_about_and_redis_is_not(settings: Any) -> None:
    locmem = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    redis = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://x:6379/1"}}

    assert "common.W001" in _ids(settings, locmem)
    assert "common.W001" not in _ids(settings, redis)
