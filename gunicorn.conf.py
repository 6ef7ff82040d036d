"""Gunicorn's settings for the web container (``gunicorn --config gunicorn.conf.py sentimentsite.wsgi``).

Every value comes from an environment variable with a default that suits a small machine; see the
README's configuration table.
"""

from __future__ import annotations

import os

from sentimentsite.env import env_int, env_str
from sentimentsite.threads import torch_threads_bound

bind = env_str("GUNICORN_BIND", "0.0.0.0:8000")
# One process per core (at least two, so one slow request never stalls the site) unless WEB_CONCURRENCY
# says otherwise (0 also means that default); each loads the current model once and answers several
# requests at a time from its threads.
workers = env_int("WEB_CONCURRENCY", 0) or max(2, len(os.sched_getaffinity(0)))
threads = env_int("GUNICORN_THREADS", 4)
# A prediction of a long review on a busy CPU takes seconds, never a minute.
timeout = env_int("GUNICORN_TIMEOUT", 60)
graceful_timeout = 30
accesslog = "-"
# The answering process's pid and the time taken, beside gunicorn's usual fields.
access_log_format = '%(h)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms %(p)s "%(a)s"'
errorlog = "-"
# Set in the master, before the workers fork, so each worker's torch starts with its share of the cores.
torch_threads_bound(processes=workers)


def post_worker_init(worker: object) -> None:
    """Each web process starts warming the current model as soon as it is up, not at its first request."""
    from apps.predictions.serving import warmer

    warmer.start()
