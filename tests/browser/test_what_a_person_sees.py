"""What a person sees: every page audited by axe-core and photographed at a desktop and a phone width,
label buttons whose text can be read, a run page whose header follows the run's end, and a first start
from an empty database to an answered prediction.

axe-core comes from the npm registry into the git-ignored ``var/npm`` (``axe_source`` below) and is
injected into each page by Playwright: nothing is fetched while the pages are audited. The screenshots
land in ``var/screenshots/`` (git-ignored), one per page and width, to be looked at by a person.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from apps.common.choices import JobStatus
from apps.common.roles import ANALYST, ML_ADMIN
from apps.labelling.services import queue_create
from apps.predictions.models import Prediction
from apps.predictions.serving import predictor
from apps.registry.models import ModelVersion
from apps.reviews.models import Review
from apps.training.models import TrainingRun
from tests.browser.conftest import PASSWORD, TIMEOUT_MS, log_in
from tests.conftest import REPO_ROOT, start_worker, wait_until, worker_environment
from tests.dashboard.factories import make_run, make_snapshot, snapshot_test_review_ids
from tests.registry.factories import make_version, train_tfidf_artifact

AXE_VERSION = "4.10.3"
NPM_PREFIX = REPO_ROOT / "var" / "npm"
SCREENSHOTS = REPO_ROOT / "var" / "screenshots"
WIDTHS = {"desktop": 1366, "phone": 390}
# axe's own scale; "serious" and "critical" are the ones that stop a person from reading or using a page.
BLOCKING = ("serious", "critical")


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's script, installed once from the npm registry into var/npm (git-ignored)."""
    script = NPM_PREFIX / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("the accessibility audit needs npm to install axe-core: apt-get install npm")
        NPM_PREFIX.mkdir(parents=True, exist_ok=True)
        command = [npm, "install", "--prefix", str(NPM_PREFIX), "--no-save", "--no-audit", "--no-fund"]
        installed = subprocess.run(
            [*command, f"axe-core@{AXE_VERSION}"], capture_output=True, text=True, timeout=600, check=False
        )
        if installed.returncode != 0 or not script.exists():
            output = installed.stdout[-2000:] + installed.stderr[-2000:]
            pytest.fail(f"npm could not install axe-core {AXE_VERSION}:\n{output}")
    return script.read_text(encoding="utf-8")


def blocking_violations(page: Page, axe_source: str) -> list[str]:
    """The serious and critical axe-core violations of the page as shown, one line per element."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Evaluated through the devtools protocol: the pages' Content-Security-Policy rightly refuses an
        # inline <script>, and the audit must see the pages under their real policy.
        page.evaluate(f"{axe_source}\n;undefined")
    results = page.evaluate("() => axe.run(document, { resultTypes: ['violations'] })")
    lines = []
    for violation in results["violations"]:
        if violation["impact"] not in BLOCKING:
            continue
        for node in violation["nodes"]:
            summary = node.get("failureSummary", "").replace("\n", " ")
            lines.append(f"{violation['id']} ({violation['impact']}) at {node['target']}: {summary}")
    return lines


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def admin_analyst(make_user: Callable[..., Any]) -> Any:
    """An ML admin who labels too, so that every page, the labelling ones included, opens for them."""
    return make_user("mia", ML_ADMIN, ANALYST)


@pytest.fixture
def pages_to_see(admin_analyst: Any, tmp_path: Path) -> dict[str, str]:
    """A platform with something on every page; page names to their URLs."""
    snapshot = make_snapshot(60)
    ids = snapshot_test_review_ids(snapshot)
    first = make_run(snapshot, flip={ids[0], ids[1]}, base_model="sentence-transformers/all-MiniLM-L6-v2")
    second = make_run(snapshot, kind="tfidf", flip={ids[2]}, losses=[(0.69, 0.66)])
    make_run(snapshot, status=JobStatus.RUNNING)
    make_run(snapshot, status=JobStatus.QUEUED)
    failed = make_run(snapshot, status=JobStatus.FAILED, error="CUDA out of memory: try a smaller batch size.")
    current = make_version(train_tfidf_artifact(tmp_path), accuracy=0.9, snapshot=snapshot)
    ModelVersion.objects.filter(pk=current.pk).update(is_current=True)
    predictor.clear()
    Prediction.objects.create(
        text="A warm and funny film.", label=1, confidence=0.93, prob_positive=0.93, prob_negative=0.07,
        model_version=current, latency_ms=4.2,
    )  # fmt: skip
    queue, _ = queue_create(name="Most uncertain first", pool="all", strategy="uncertainty", annotators=[admin_analyst])
    return {
        "home": "/",
        "runs": "/runs/",
        "run": f"/runs/{first.pk}/",
        "run-one-epoch": f"/runs/{second.pk}/",
        "run-failed": f"/runs/{failed.pk}/",
        "run-cell": f"/runs/{first.pk}/cells/0/1/",
        "run-start": "/runs/new/",
        "compare": f"/compare/?runs={first.pk}&runs={second.pk}",
        "models": "/models/",
        "model": f"/models/{first.model_version.pk}/",
        "reviews": "/reviews/",
        "review": f"/reviews/{ids[0]}/",
        "predict": "/predict/",
        "labelling": "/labelling/",
        "queue": f"/labelling/queues/{queue.pk}/",
        "label": f"/labelling/queues/{queue.pk}/label/",
        "queue-new": "/labelling/queues/new/",
        "conflicts": "/labelling/conflicts/",
        "agreement": "/labelling/agreement/",
        "upload": "/labelling/upload/",
        "snapshot": "/labelling/snapshot/",
    }


@pytest.mark.parametrize("width_name", list(WIDTHS))
def test_every_page_passes_the_accessibility_audit_and_is_photographed(
    width_name: str,
    browser: Browser,
    live_server: Any,
    page_for: Callable[[Any], Page],
    admin_analyst: Any,
    pages_to_see: dict[str, str],
    axe_source: str,
) -> None:
    width = WIDTHS[width_name]
    page = page_for(admin_analyst)
    page.set_viewport_size({"width": width, "height": 900})
    problems: dict[str, list[str]] = {}

    for name, url in pages_to_see.items():
        response = page.goto(url)
        status = response.status if response is not None else None
        assert status == 200, f"{name} ({url}) answered {status}"
        if name == "predict":
            page.get_by_label("Review").fill("The acting was wonderful and the ending superb: a brilliant film.")
            page.get_by_role("button", name="Predict").click()
            expect(page.locator("#prediction-result")).to_contain_text("confidence")
        screenshot(page, f"{name}-{width}")
        found = blocking_violations(page, axe_source)
        if found:
            problems[f"{name} ({url})"] = found

    login = browser.new_context(base_url=live_server.url, viewport={"width": width, "height": 900})
    anonymous = login.new_page()
    anonymous.goto("/accounts/login/")
    screenshot(anonymous, f"login-{width}")
    if found := blocking_violations(anonymous, axe_source):
        problems["login"] = found
    login.close()

    assert not problems, "serious or critical accessibility violations:\n" + json.dumps(problems, indent=1)


CONTRAST = """(selector) => {
  const channel = (value) => { const c = value / 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  const luminance = (colour) => {
    const [r, g, b] = colour.match(/[\\d.]+/g).map(Number);
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  };
  const style = getComputedStyle(document.querySelector(selector));
  const [light, dark] = [luminance(style.color), luminance(style.backgroundColor)].sort((a, b) => b - a);
  return (light + 0.05) / (dark + 0.05);
}"""


def test_the_label_buttons_text_stands_out_from_their_colour(
    page_for: Callable[[Any], Page], analyst: Any
) -> None:
    # A long review: the buttons must stay in sight without scrolling past it.
    Review.objects.create(text=" ".join(["A long, winding review of a long, winding film."] * 150), source="browser")
    queue, _ = queue_create(name="Readable", pool="all", annotators=[analyst])
    page = page_for(analyst)

    page.goto(f"/labelling/queues/{queue.pk}/label/")

    for action in ("negative", "positive"):
        button = page.locator(f'#labelling-card button[value="{action}"]')
        expect(button).to_be_visible()
        ratio = page.evaluate(CONTRAST, f'#labelling-card button[value="{action}"]')
        assert ratio >= 4.5, f"the {action} button's text has a contrast of {ratio:.2f}:1 with its background"
        box = button.bounding_box()
        assert box is not None and box["y"] + box["height"] <= 900, f"the {action} button is below the fold"


def test_the_run_page_header_follows_the_runs_end_without_a_reload(
    ml_admin_page: Page, poll_fast: None
) -> None:
    run = make_run(make_snapshot(), status=JobStatus.RUNNING)
    page = ml_admin_page

    page.goto(f"/runs/{run.pk}/")
    page.evaluate("window.loadedOnce = true")
    page.get_by_role("button", name="Cancel run").click()
    expect(page.get_by_role("status")).to_contain_text(f"Cancellation of run {run.pk} requested")
    page.evaluate("window.loadedOnce = true")
    TrainingRun.objects.filter(pk=run.pk).update(status=JobStatus.CANCELLED, finished_at=run.started_at)

    expect(page.get_by_role("button", name="Retry")).to_be_visible()
    expect(page.get_by_role("link", name="New run like this")).to_be_visible()
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
    expect(page.locator("main")).not_to_contain_text("Cancellation of run")
    assert page.evaluate("window.loadedOnce") is True, "the header changed without a reload"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


FIRST_RUN_REVIEWS = 200


@pytest.fixture
def first_start(tmp_path: Path) -> Iterator[tuple[str, str, Callable[[], None]]]:
    """``make run`` on an empty embedded default (SQLite, filesystem broker): (site URL, bootstrap's output,
    a function that starts the worker). The worker starts when the test says, so the page is sure to see
    the site before the baseline (a second's work on these reviews) has become the current model."""
    reviews = tmp_path / "imdb.jsonl"
    words = {1: "wonderful moving brilliant superb", 0: "dull awful boring dreadful"}
    with reviews.open("w", encoding="utf-8") as out:
        for n in range(FIRST_RUN_REVIEWS):
            label = n % 2
            out.write(json.dumps({"text": f"Review {n}: a {words[label]} film, {n % 7} stars.", "label": label}) + "\n")
    port = _free_port()
    env = worker_environment(
        DEBUG="1", AUTO_PROMOTE="1", VAR_DIR=str(tmp_path / "var"), IMDB_SOURCE=str(reviews),
        ADMIN_PASSWORD=PASSWORD, SITE_URL=f"http://127.0.0.1:{port}/",
    )  # fmt: skip
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "ARTIFACT_ROOT", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE"):
        env.pop(name, None)

    def manage(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    manage("migrate", "--noinput", "-v0")
    output = manage("bootstrap")
    workers = []

    def start() -> None:
        workers.append(start_worker(env=env, log_path=tmp_path / "worker.log", queues="default", name="first-start"))

    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until(lambda: _answers(port), timeout=60, what="the first start's web server")
        yield f"http://127.0.0.1:{port}", output, start
    finally:
        server.terminate()
        server.wait(timeout=30)
        for worker in workers:
            worker.stop()


def _answers(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_a_first_start_on_an_empty_database_ends_in_a_model_that_answers(
    browser: Browser, first_start: tuple[str, str, Callable[[], None]]
) -> None:
    site, output, start_the_worker = first_start
    assert "Made the default snapshot 'default'" in output
    assert re.search(r"Queued run \d+, the TF-IDF baseline, on the default worker", output)
    assert "becomes the current model when it succeeds" in output
    context = browser.new_context(base_url=site, viewport={"width": 1366, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()

    page.goto("/")
    log_in(page, "admin")
    screenshot(page, "first-start-home-1366")
    expect(page.get_by_role("heading", name="Next steps")).to_have_count(0)
    start_the_worker()
    # Home follows the baseline until its model is current, without a reload.
    expect(page.locator("#current-model-card")).to_contain_text("Test accuracy", timeout=240_000)
    expect(page.get_by_role("heading", name="Next steps")).to_have_count(0)
    page.reload()
    expect(page.get_by_role("heading", name="Next steps")).to_be_visible()
    screenshot(page, "first-start-home-current-1366")
    page.get_by_role("link", name="Try the model").click()
    page.get_by_label("Review").fill("A wonderful, moving film: brilliant and superb.")
    page.get_by_role("button", name="Predict").click()

    expect(page.locator("#prediction-result")).to_contain_text("Positive")
    expect(page.locator("#prediction-result")).to_contain_text("confidence")
    context.close()
