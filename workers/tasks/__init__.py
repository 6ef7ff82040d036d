"""Celery tasks, one module per domain. Celery's autodiscovery imports this package."""

from __future__ import annotations

from workers.tasks import automation as automation  # noqa: F401
from workers.tasks import hub as hub  # noqa: F401
from workers.tasks import imports as imports  # noqa: F401
from workers.tasks import jobs as jobs  # noqa: F401
from workers.tasks import labelling as labelling  # noqa: F401
from workers.tasks import predictions as predictions  # noqa: F401
from workers.tasks import registry as registry  # noqa: F401
from workers.tasks import training as training  # noqa: F401
from workers.tasks import webhooks as webhooks  # noqa: F401
