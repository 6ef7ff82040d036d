"""One stack for the whole folder: its own PostgreSQL cluster, Redis, gunicorn and three Celery workers.

Bringing it up (a cluster, migrations, the seed data) takes most of a minute, so every scenario shares it;
each scenario heals what it broke before the next one starts.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.faults.client import Platform, build_tiny_bert
from tests.faults.harness import Stack, missing_tools


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    missing = missing_tools()
    if missing:
        pytest.skip(f"the fault tests start their own servers and need {', '.join(missing)} (apt-get install postgresql redis-server)")
    if os.geteuid() != 0:
        pytest.skip("the fault tests create a PostgreSQL cluster with pg_createcluster, which needs root")
    root = tmp_path_factory.mktemp("faults")
    stack = Stack.create(root)
    try:
        platform = Platform(stack)
        platform.sign_in()
        platform.seed(tiny_bert_dir=build_tiny_bert(root / "tiny-bert"))
        yield platform
    finally:
        stack.close()
