"""Deployment checks (``manage.py check --deploy``) for what a production site must not leave at its default."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def check_shared_rate_limit_counts(app_configs: Any, **kwargs: Any) -> list[Warning]:
    """Rate limits count in the cache: a per-process cache gives each web process its own count."""
    backend = settings.CACHES["default"]["BACKEND"]
    if backend != "django.core.cache.backends.locmem.LocMemCache":
        return []
    return [
        Warning(
            "CACHE_URL is locmem://: each web process counts API rate limits on its own, so N processes allow N "
            "times the rate.",
            hint="Set CACHE_URL=redis://host:6379/1 so every web process shares the counts. (Sign-in lockout "
            "counts in the database and is shared either way.)",
            id="common.W001",
        )
    ]
