"""The journey `make stack-test` drives through the compose stack's published port, as an integrator would.

Sign in with a token, subscribe a webhook receiver running here on the host, upload a CSV import,
snapshot it, train TF-IDF (worker-cpu) and a tiny transformer (worker-gpu), promote each, and predict
through several gunicorn processes at once; every answer must name the model just promoted. Standard
library only: it runs with any Python 3.11.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TERMINAL = {"succeeded", "failed", "cancelled"}
POSITIVE_WORDS = ["superb", "brilliant", "moving", "wonderful", "gripping", "delightful", "masterful"]
NEGATIVE_WORDS = ["dull", "awful", "tedious", "clumsy", "boring", "dreadful", "lifeless"]
FILLER = ["the", "film", "plot", "acting", "story", "ending", "cast", "score", "was", "and", "quite"]


class Failure(Exception):
    """A step of the journey did not give what a user expects."""


class Api:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = ""

    def call(
        self, method: str, path: str, payload: dict[str, Any] | None = None, *, body: bytes | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, dict[str, Any]]:
        data = body if body is not None else (json.dumps(payload).encode() if payload is not None else None)
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", content_type)
        if self.token:
            request.add_header("Authorization", f"Token {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            return status, json.loads(raw) if raw else {}
        except ValueError:
            return status, {"body": raw[:500].decode(errors="replace")}

    def expect(self, status: int, method: str, path: str, payload: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        got, answer = self.call(method, path, payload, **kw)
        if got != status:
            raise Failure(f"{method} {path} answered {got}, expected {status}: {json.dumps(answer)[:800]}")
        return answer


class Receiver(BaseHTTPRequestHandler):
    """The webhook receiver: keeps each delivery's event and payload."""

    deliveries: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        self.deliveries.append({"headers": dict(self.headers), "body": body})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


def wait_for(what: str, check: Callable[[], Any], *, timeout: float, every: float = 2.0) -> Any:
    """Poll ``check`` until it returns something truthy; fail saying what never happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(every)
    raise Failure(f"{what} did not happen within {timeout:.0f} s")


def review_csv(count: int) -> bytes:
    rng = random.Random(20)
    lines = ["review,sentiment"]
    for number in range(count):
        label = ["negative", "positive"][number % 2]
        cues = POSITIVE_WORDS if label == "positive" else NEGATIVE_WORDS
        words = rng.choices(FILLER, k=12) + rng.choices(cues, k=3) + [f"stack{number}"]
        rng.shuffle(words)
        lines.append(f'"{" ".join(words)}",{label}')
    return ("\n".join(lines) + "\n").encode()


def multipart(field: str, filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def finished_run(api: Api, run_id: int, *, timeout: float) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        run = api.expect(200, "GET", f"/api/training-runs/{run_id}/")
        return run if run["status"] in TERMINAL else None

    return wait_for(f"training run {run_id} finishing", done, timeout=timeout, every=3)


def predictions_after_promotion(
    api: Api, version_id: int, *, requests: int, parallel: int, force: bool = False
) -> dict[str, Any]:
    """Promote a version, then predict from many requests at once; every answer must name that version."""
    api.expect(200, "POST", f"/api/models/{version_id}/promote/", {"reason": "make stack-test", "force": force})
    text = {"text": "The acting was superb and the ending brilliant, a moving and wonderful film."}
    started = time.monotonic()
    first = api.expect(200, "POST", "/api/predict", text)
    first_seconds = time.monotonic() - started

    def predict(_: int) -> tuple[int, dict[str, Any]]:
        return api.call("POST", "/api/predict", text)

    with ThreadPoolExecutor(parallel) as pool:
        answers = [first, *(answer for status, answer in pool.map(predict, range(requests)) if status == 200)]
    if len(answers) != requests + 1:
        raise Failure(f"{requests + 1 - len(answers)} of {requests + 1} predictions failed after promoting {version_id}")
    named = {answer["model_version"]["id"] for answer in answers}
    if named != {version_id}:
        raise Failure(f"after promoting version {version_id} the web processes answered with versions {sorted(named)}")
    labels = {answer["predictions"][0]["label"] for answer in answers}
    return {"first_prediction_seconds": round(first_seconds, 3), "answers": len(answers), "labels": sorted(labels)}


def journey(args: argparse.Namespace) -> dict[str, Any]:
    api = Api(args.url)
    figures: dict[str, Any] = {}
    failures: list[str] = []

    def step(name: str) -> None:
        figures.setdefault("steps", []).append({"step": name, "at_seconds": round(time.monotonic() - began, 1)})
        print(f"journey: {name}", flush=True)

    began = time.monotonic()
    receiver = ThreadingHTTPServer(("0.0.0.0", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()

    step("sign in with a token")
    api.token = api.expect(
        201, "POST", "/api/auth/token/", {"username": args.username, "password": args.password, "name": "stack-test"}
    )["key"]

    step("subscribe the webhook receiver on the host")
    hook_url = f"http://{args.hook_host}:{receiver.server_address[1]}/hooks"
    api.expect(201, "POST", "/api/webhooks/", {"name": "stack-test", "url": hook_url, "events": ["training_run.finished"]})

    step("upload a CSV import")
    body, content_type = multipart("file", "stack-reviews.csv", review_csv(args.reviews))
    job = api.expect(202, "POST", "/api/imports/", body=body, content_type=content_type)
    job = wait_for(
        "the import finishing",
        lambda: (j := api.expect(200, "GET", f"/api/imports/{job['id']}/"))["status"] in TERMINAL and j,
        timeout=180,
    )
    if job["status"] != "succeeded" or job["rows_created"] != args.reviews:
        raise Failure(f"the import ended {job['status']} with {job['rows_created']} reviews: {job['error']}")

    step("snapshot")
    snapshot = api.expect(201, "POST", "/api/snapshots/", {"name": "stack-test", "seed": 1})

    step("TF-IDF run on worker-cpu")
    queued = api.expect(202, "POST", "/api/training-runs/", {"snapshot": snapshot["id"], "kind": "tfidf"})
    tfidf = finished_run(api, queued["id"], timeout=300)
    if tfidf["status"] != "succeeded" or not str(tfidf["worker"]).startswith("cpu@"):
        raise Failure(f"the TF-IDF run ended {tfidf['status']} on {tfidf['worker']}: {tfidf['error']}")
    figures["tfidf"] = {"accuracy": tfidf["accuracy"], "worker": tfidf["worker"]}

    step("tiny transformer run on worker-gpu")
    queued = api.expect(
        202, "POST", "/api/training-runs/",
        {"snapshot": snapshot["id"], "kind": "transformer", "base_model": args.base_model, "epochs": 1,
         "max_length": 32, "batch_size": 16},
    )  # fmt: skip
    transformer = finished_run(api, queued["id"], timeout=args.transformer_timeout)
    figures["transformer"] = {
        key: transformer[key] for key in ("status", "worker", "device", "accuracy", "train_samples_per_second", "error")
    }
    if transformer["status"] != "succeeded" or not str(transformer["worker"]).startswith("gpu@"):
        failures.append(f"the transformer run ended {transformer['status']} on {transformer['worker']}: {transformer['error']}")
    # Production's launch path: a process of its own started by the prefork worker, with loader processes.
    log = str(transformer.get("log_tail", ""))
    figures["transformer"]["own_process"] = "Started process" in log
    figures["transformer"]["loader_processes"] = "data-loader processes" in log
    if transformer["status"] == "succeeded" and not (figures["transformer"]["own_process"] and figures["transformer"]["loader_processes"]):
        failures.append(f"the transformer run did not train in its own process with data-loader processes:\n{log[-800:]}")

    step("promote TF-IDF and predict through every web process")
    figures["predict_tfidf"] = predictions_after_promotion(
        api, tfidf["model_version"], requests=args.predictions, parallel=args.parallel
    )
    if transformer["status"] == "succeeded":
        # A random tiny model scores below TF-IDF on the same snapshot: only a forced promotion takes it.
        step("promote the transformer and predict through every web process")
        figures["predict_transformer"] = predictions_after_promotion(
            api, transformer["model_version"], requests=args.predictions, parallel=args.parallel, force=True
        )

    step("webhook deliveries reach the host")
    finished_ids = {run["id"] for run in (tfidf, transformer) if run["status"] in TERMINAL}

    def delivered() -> bool:
        seen = {
            d["body"].get("data", {}).get("training_run", {}).get("id")
            for d in Receiver.deliveries
            if d["body"].get("event") == "training_run.finished"
        }
        return finished_ids <= seen

    try:
        wait_for("a webhook delivery for each finished run", delivered, timeout=120)
    except Failure as failure:
        failures.append(str(failure))
    figures["webhook_deliveries"] = len(Receiver.deliveries)
    receiver.shutdown()
    figures["journey_seconds"] = round(time.monotonic() - began, 1)
    figures["failures"] = failures
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="The web service's published address, e.g. http://127.0.0.1:8000")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--base-model", required=True, help="A model folder the GPU worker sees, for the transformer run")
    parser.add_argument("--hook-host", required=True, help="The address containers reach this host at")
    parser.add_argument("--reviews", type=int, default=200)
    parser.add_argument("--predictions", type=int, default=40)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--transformer-timeout", type=float, default=600)
    parser.add_argument("--figures", help="Write the journey's figures here as JSON")
    args = parser.parse_args()
    try:
        figures = journey(args)
    except Failure as failure:
        print(f"journey FAILED: {failure}", file=sys.stderr)
        return 1
    if args.figures:
        with open(args.figures, "w") as out:
            json.dump(figures, out, indent=2)
    print(json.dumps(figures, indent=2))
    for failure in figures["failures"]:
        print(f"journey FAILED: {failure}", file=sys.stderr)
    return 1 if figures["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
