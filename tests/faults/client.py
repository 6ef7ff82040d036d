"""What the fault scenarios do to the platform: through its REST API and pages, as an integrator or an analyst would.

``Platform`` signs in with the stack's admin account, seeds the data the scenarios need (reviews
imported from generated files, a snapshot, a TF-IDF model made current, a tiny transformer base model)
and submits and follows jobs.
"""

from __future__ import annotations

import io
import json
import random
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.faults.harness import ADMIN_PASSWORD, ADMIN_USERNAME, HarnessError, Stack, wait_for

TERMINAL = {"succeeded", "failed", "cancelled"}
# The API path of each kind of job.
JOB_PATHS = {
    "import": "/api/imports/",
    "training": "/api/training-runs/",
    "batch": "/api/batch-predictions/",
}

_SUBJECTS = ["The plot", "The acting", "The score", "The ending", "The cast", "The script", "The camera work"]
_POSITIVE = ["wonderful", "superb", "moving", "brilliant", "a delight", "gripping", "beautifully made"]
_NEGATIVE = ["dreadful", "boring", "a mess", "painful", "clumsy", "forgettable", "badly made"]


def review_text(label: int, rng: random.Random, *, words: int = 3) -> str:
    """A review whose sentiment is plain from its words, so a tiny model learns it."""
    choices = _POSITIVE if label else _NEGATIVE
    return " ".join(f"{rng.choice(_SUBJECTS)} was {rng.choice(choices)}." for _ in range(words))


def reviews_jsonl(count: int, *, tag: str, labelled: bool, seed: int = 0) -> bytes:
    """``count`` JSON Lines reviews, each unique to ``tag`` so a re-import of another file adds them all."""
    rng = random.Random(seed)
    lines = []
    for n in range(count):
        label = n % 2
        record = {"text": f"{review_text(label, rng)} ({tag} review {n})", "label": label if labelled else -1}
        lines.append(json.dumps(record))
    return ("\n".join(lines) + "\n").encode()


def build_tiny_bert(folder: Path) -> Path:
    """A randomly initialised two-label BERT a few MB large with the real MiniLM tokenizer: fast to fine-tune."""
    from workers.ml.tiny_models import save_tiny_bert

    return save_tiny_bert(folder)


@dataclass
class Answer:
    """One HTTP answer, or the failure to get one."""

    endpoint: str
    at: float
    status: int | None
    elapsed: float = 0.0
    retry_after: str | None = None
    replayed: bool = False
    content_type: str = ""
    body: str = ""
    error: str = ""

    @property
    def answered(self) -> bool:
        return self.status is not None

    def json(self) -> Any:
        return json.loads(self.body)


class Platform:
    """The platform of a ``Stack``, through its API (with a token) and its pages (with a signed-in session)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.api = requests.Session()
        self.pages = requests.Session()
        self.tiny_bert: Path | None = None
        self.snapshot_id: int | None = None
        self.tfidf_version: int | None = None
        self.unlabelled_reviews = 0

    @property
    def base_url(self) -> str:
        return self.stack.base_url

    # --- Signing in ------------------------------------------------------------------------------------

    def sign_in(self) -> None:
        answer = requests.post(
            f"{self.base_url}/api/auth/token/",
            json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD, "name": "fault scenarios"},
            timeout=30,
        )
        if answer.status_code != 201:
            raise HarnessError(f"token sign-in answered {answer.status_code}: {answer.text[:500]}")
        self.api.headers["Authorization"] = f"Token {answer.json()['key']}"
        login = f"{self.base_url}/accounts/login/"
        self.pages.get(login, timeout=30)
        signed_in = self.pages.post(
            login,
            data={
                "username": ADMIN_USERNAME, "password": ADMIN_PASSWORD,
                "csrfmiddlewaretoken": self.pages.cookies.get("csrftoken", ""),
            },
            headers={"Referer": login},
            timeout=30,
        )
        if "sessionid" not in self.pages.cookies:
            raise HarnessError(f"signing in to the pages failed ({signed_in.status_code}): {signed_in.text[:500]}")

    # --- Requests that never raise -------------------------------------------------------------------

    def call(self, method: str, path: str, *, session: requests.Session | None = None, timeout: float = 30,
             **kwargs: Any) -> Answer:
        """One request; a refused connection or a timeout is an ``Answer`` without a status, not an exception."""
        started = time.monotonic()
        try:
            response = (session or self.api).request(method, f"{self.base_url}{path}", timeout=timeout, **kwargs)
        except requests.RequestException as error:
            return Answer(
                endpoint=f"{method} {path}", at=started, status=None, elapsed=time.monotonic() - started,
                error=f"{type(error).__name__}: {error}",
            )
        return Answer(
            endpoint=f"{method} {path}",
            at=started,
            status=response.status_code,
            elapsed=time.monotonic() - started,
            retry_after=response.headers.get("Retry-After"),
            replayed=response.headers.get("Idempotent-Replayed") == "true",
            content_type=response.headers.get("Content-Type", ""),
            body=response.text,
        )

    def expect(self, method: str, path: str, status: int, **kwargs: Any) -> Any:
        answer = self.call(method, path, **kwargs)
        if answer.status != status:
            raise HarnessError(f"{method} {path} answered {answer.status} {answer.error}, not {status}: {answer.body[:800]}")
        return answer.json() if answer.body else None

    # --- Jobs ------------------------------------------------------------------------------------------

    def submit_import(self, content: bytes, *, filename: str, headers: dict[str, str] | None = None) -> Answer:
        return self.call(
            "POST", JOB_PATHS["import"], files={"file": (filename, io.BytesIO(content))}, headers=headers or {}
        )

    def submit_training(self, *, headers: dict[str, str] | None = None, **hyperparameters: Any) -> Answer:
        body = {"snapshot": self.snapshot_id, **hyperparameters}
        return self.call("POST", JOB_PATHS["training"], json=body, headers=headers or {})

    def submit_batch(self, *, headers: dict[str, str] | None = None, **fields: Any) -> Answer:
        body = {"model_version": self.tfidf_version, "pool": "unlabelled", **fields}
        return self.call("POST", JOB_PATHS["batch"], json=body, headers=headers or {})

    def tiny_transformer(self, *, epochs: int) -> dict[str, Any]:
        """Hyperparameters of a run of the tiny BERT on the snapshot; ``epochs`` sets how long it trains."""
        assert self.tiny_bert is not None
        return {"kind": "transformer", "base_model": str(self.tiny_bert), "epochs": epochs, "batch_size": 4,
                "max_length": 32, "learning_rate": 1e-3, "subset_size": 96}

    def job(self, kind: str, job_id: int) -> dict[str, Any] | None:
        """The job as the API shows it now; None while the API cannot answer."""
        answer = self.call("GET", f"{JOB_PATHS[kind]}{job_id}/", timeout=10)
        return answer.json() if answer.status == 200 else None

    def wait_job(self, kind: str, job_id: int, *, timeout: float, until: set[str] = TERMINAL) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            job = self.job(kind, job_id)
            return job if job is not None and job["status"] in until else None

        try:
            return wait_for(reached, timeout=timeout, what=f"{kind} job {job_id} to become {' or '.join(sorted(until))}")
        except HarnessError as error:
            raise HarnessError(f"{error}; it is {self.job(kind, job_id)}\n{self.stack.logs()}") from None

    def wait_running(self, kind: str, job_id: int, *, timeout: float = 120) -> dict[str, Any]:
        """Wait until the job runs and has done some of its work (so a fault lands in the middle of it)."""
        return self.wait_all_running({kind: job_id}, timeout=timeout)[kind]

    def wait_all_running(self, ids: dict[str, int], *, timeout: float = 120) -> dict[str, dict[str, Any]]:
        """Wait until every job of ``ids`` (kind: id) runs at once, each mid-way through its work."""
        def started() -> dict[str, dict[str, Any]] | None:
            jobs = {}
            for kind, job_id in ids.items():
                job = self.job(kind, job_id)
                if job is None:
                    return None
                if job["status"] in TERMINAL:
                    raise HarnessError(f"{kind} job {job_id} ended {job['status']} before the fault: {job.get('error')}")
                # An import stages its rows before it counts them; running is all it shows mid-way.
                if job["status"] != "running" or (kind != "import" and progress_of(kind, job) == 0):
                    return None
                jobs[kind] = job
            return jobs

        what = " and ".join(f"{kind} job {job_id}" for kind, job_id in ids.items())
        return wait_for(started, timeout=timeout, what=f"{what} to run", interval=0.1)

    # --- The data every scenario starts from ------------------------------------------------------------

    def seed(self, *, tiny_bert_dir: Path, labelled: int = 400, unlabelled: int = 12_000) -> None:
        """Reviews, a snapshot, a current TF-IDF model (for batch jobs and predictions), a tiny base model."""
        self.tiny_bert = tiny_bert_dir
        imported = self.submit_import(reviews_jsonl(labelled, tag="seed", labelled=True, seed=1), filename="seed.jsonl")
        self._succeeded("import", imported, timeout=180)
        corpus = self.submit_import(
            reviews_jsonl(unlabelled, tag="corpus", labelled=False, seed=2), filename="corpus.jsonl"
        )
        self._succeeded("import", corpus, timeout=300)
        self.unlabelled_reviews = unlabelled
        snapshot = self.expect("POST", "/api/snapshots/", 201, json={"name": "faults", "seed": 7})
        self.snapshot_id = snapshot["id"]
        run = self._succeeded("training", self.submit_training(kind="tfidf"), timeout=300)
        self.tfidf_version = run["model_version"]
        self.expect("POST", f"/api/models/{self.tfidf_version}/promote/", 200, json={"reason": "fault scenarios"})

    def _succeeded(self, kind: str, submitted: Answer, *, timeout: float) -> dict[str, Any]:
        if submitted.status != 202:
            raise HarnessError(f"submitting a {kind} job answered {submitted.status}: {submitted.body[:800]}")
        job = self.wait_job(kind, submitted.json()["id"], timeout=timeout)
        if job["status"] != "succeeded":
            raise HarnessError(f"the seed {kind} job {job['id']} ended {job['status']}: {job.get('error')}")
        return job


def progress_of(kind: str, job: dict[str, Any]) -> int:
    """How much of its work a job has done, by the counter its kind shows."""
    field_name = {"import": "rows_read", "training": "current_step", "batch": "processed"}[kind]
    return int(job.get(field_name) or 0)


def idempotency_key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}
