"""Browser tests: Debian's Chromium, driven by Playwright, against the site served by a live server.

The fixtures here are meant for every browser test of the project; use them rather than starting
browsers or logging in by hand.

- ``chromium_path`` (session): the path of Debian's ``/usr/bin/chromium``. When it is missing, the
  fixture installs the ``chromium`` package with apt-get (the tests run as root); only when that is
  impossible are browser tests skipped, with the reason. Playwright never downloads a browser.
- ``browser`` (package): one headless Chromium for the tests of this folder, closed after them.
- ``live_server`` (pytest-django, session): the site served from a thread of the test process on the
  test database. A test that uses it (every page fixture below does) gets a transactional database:
  it starts empty and what it writes is committed, so the server thread, and a Celery worker process
  (``celery_worker_process`` from tests/conftest.py), see it.
- ``make_user(username, *roles)``: a user with role groups (``apps.common.roles.ANALYST``,
  ``ML_ADMIN``) and the password ``PASSWORD``.
- ``analyst``, ``ml_admin``: users ``ana`` and ``mia`` with those roles.
- ``page_for(user)``: a new page in a browser context of its own (own cookies), logged in as ``user``
  through a session cookie, or not logged in for ``None``. Relative URLs go to the live server
  (``page.goto("/runs/")``); waits time out after ``TIMEOUT_MS``.
- ``analyst_page``, ``ml_admin_page``: pages logged in as ``analyst`` and ``ml_admin``.
- ``log_in(page, username, password)``: log in through the login form, as a person does.
- ``poll_fast``: HTMX polling every second instead of the default, for tests that watch a live part.

Assert with Playwright's ``expect`` (it waits); to prove a change came without a reload, mark the
window (``page.evaluate("window.marker = 1")``) and check the mark is still there afterwards.
Static files are served from the apps, so no ``collectstatic`` is needed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings as django_settings
from django.test import Client

from tests.registry.factories import UserFactory

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "a-long-browser-test-password"
TIMEOUT_MS = 15_000
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"


def _install_chromium() -> str | None:
    """Install Debian's chromium if it is missing; the reason it cannot be had, or None once it is there."""
    if CHROMIUM.exists():
        return None
    if shutil.which("apt-get") is None:
        return f"{CHROMIUM} is missing and this system has no apt-get to install it with"
    if os.geteuid() != 0:
        return f"{CHROMIUM} is missing and installing it with apt-get needs root: run `apt-get install chromium`"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]
    attempts = [install, ["apt-get", "update", "-q"], install]
    output = ""
    for command in attempts:
        finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200, check=False)
        output = finished.stdout[-2000:] + finished.stderr[-2000:]
        if command is install and finished.returncode == 0 and CHROMIUM.exists():
            return None
    return f"{CHROMIUM} is missing and `apt-get install chromium` failed:\n{output}"


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    reason = _install_chromium()
    if reason is not None:
        pytest.skip(f"browser tests need Chromium: {reason}")
    return CHROMIUM


@pytest.fixture(scope="package")
def browser(chromium_path: Path) -> Iterator[Browser]:
    """One Chromium for the browser tests, stopped when they are done (so is Playwright's event loop)."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="browser tests need the playwright package: `make install` (the dev extra)"
    )
    # Playwright's sync API keeps an event loop in this thread; Django refuses ORM calls from a thread
    # with a running loop unless told that this test process knows what it does. Only while the browser
    # tests run: `manage.py check --deploy` in a later test's subprocess rightly refuses the variable.
    previous = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    playwright = sync_api.sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(chromium_path), headless=True)
        yield chromium
        chromium.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop(ASYNC_UNSAFE, None)
        else:
            os.environ[ASYNC_UNSAFE] = previous


@pytest.fixture(autouse=True)
def _static_files_as_in_development(settings: Any, tmp_path: Path) -> None:
    """Pages link static files; tests have no collectstatic manifest, so they are served as in development."""
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def make_user(transactional_db: None) -> Callable[..., Any]:
    def make(username: str, *roles: str) -> Any:
        return UserFactory(username=username, password=PASSWORD, roles=list(roles))

    return make


@pytest.fixture
def analyst(make_user: Callable[..., Any]) -> Any:
    from apps.common.roles import ANALYST

    return make_user("ana", ANALYST)


@pytest.fixture
def ml_admin(make_user: Callable[..., Any]) -> Any:
    from apps.common.roles import ML_ADMIN

    return make_user("mia", ML_ADMIN)


@pytest.fixture
def page_for(browser: Browser, live_server: Any) -> Iterator[Callable[[Any], Page]]:
    contexts = []

    def open_page(user: Any) -> Page:
        context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        if user is not None:
            client = Client()
            client.force_login(user)
            cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
            context.add_cookies(
                [{"name": django_settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url}]
            )
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def analyst_page(page_for: Callable[[Any], Page], analyst: Any) -> Page:
    return page_for(analyst)


@pytest.fixture
def ml_admin_page(page_for: Callable[[Any], Page], ml_admin: Any) -> Page:
    return page_for(ml_admin)


def log_in(page: Page, username: str, password: str = PASSWORD) -> None:
    """Fill and send the login form the page shows."""
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


@pytest.fixture
def poll_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    from apps.dashboard.views import common

    monkeypatch.setattr(common, "POLL_SECONDS", 1)
