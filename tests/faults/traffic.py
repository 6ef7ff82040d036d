"""PostgreSQL stopped under web traffic: what API clients and people browsing the pages get, and when it comes back."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import requests

from tests.faults.client import Answer, Platform
from tests.faults.harness import HarnessError, wait_for
from tests.faults.outcome import OUTAGE_SECONDS, Outcome, api_unavailable_problems, count_answers, healing



@dataclass
class Endpoint:
    name: str
    method: str
    path: str
    page: bool = False
    body: dict[str, Any] | None = None


TRAFFIC = [
    Endpoint("runs API", "GET", "/api/training-runs/"),
    Endpoint("reviews API", "GET", "/api/reviews/?page_size=5"),
    Endpoint("predict API", "POST", "/api/predict", body={"text": "The acting was superb and the ending brilliant."}),
    Endpoint("home page", "GET", "/", page=True),
    Endpoint("runs page", "GET", "/runs/", page=True),
]


def database_down_during_traffic(platform: Platform, *, outage: float = OUTAGE_SECONDS, clients: int = 3) -> Outcome:
    """``clients`` keep calling the API and the pages while PostgreSQL is down for ``outage`` s, and after."""
    return healing(platform, lambda: _database_down_during_traffic(platform, outage, clients))


def _database_down_during_traffic(platform: Platform, outage: float, clients: int) -> Outcome:
    stack = platform.stack
    outcome = Outcome(scenario=f"PostgreSQL down {outage:.0f} s under web traffic")
    answers: list[tuple[Endpoint, Answer]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(offset: int) -> None:
        api, pages = requests.Session(), requests.Session()
        api.headers.update(platform.api.headers)
        pages.cookies.update(platform.pages.cookies)
        n = offset
        while not stop.is_set():
            endpoint = TRAFFIC[n % len(TRAFFIC)]
            n += 1
            answer = platform.call(
                endpoint.method, endpoint.path, session=pages if endpoint.page else api, timeout=15,
                json=endpoint.body, allow_redirects=False,
            )
            with lock:
                answers.append((endpoint, answer))

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(4)
    stopped = time.monotonic()
    stack.postgres.stop()
    time.sleep(outage)
    stack.postgres.start()
    back = time.monotonic()

    def recovered() -> bool:
        with lock:
            latest = {endpoint.name: answer.status for endpoint, answer in answers if answer.at > back}
        return len(latest) == len(TRAFFIC) and all(status == 200 for status in latest.values())

    try:
        wait_for(recovered, timeout=90, what="every endpoint to answer 200 again", interval=0.5)
    except HarnessError:
        outcome.problems.append("90 s after PostgreSQL came back, not every endpoint answered 200 again")
    settled = time.monotonic()
    time.sleep(3)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)

    count_answers(outcome, [answer for _, answer in answers])
    during = [(e, a) for e, a in answers if stopped <= a.at < back]
    after = [(e, a) for e, a in answers if a.at >= settled]
    first_503 = min((a.at for _, a in during if a.status == 503), default=None)
    outcome.seconds_to_detect = None if first_503 is None else first_503 - stopped
    first_good = {}
    for endpoint, answer in answers:
        if answer.at >= back and answer.status == 200 and endpoint.name not in first_good:
            first_good[endpoint.name] = answer.at - back
    outcome.seconds_to_recover = max(first_good.values()) if len(first_good) == len(TRAFFIC) else None
    statuses = Counter(f"{e.name} {a.status or a.error.split(':')[0]}" for e, a in during)
    outcome.facts.append(f"during the outage: {dict(statuses)}")
    outcome.problems.extend(_outage_answer_problems(during, after))
    return outcome


def _outage_answer_problems(during: list[tuple[Endpoint, Answer]], after: list[tuple[Endpoint, Answer]]) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()

    def once(key: str, message: str) -> None:
        if key not in seen:
            seen.add(key)
            problems.append(message)

    if not any(answer.status == 503 for _, answer in during):
        problems.append("no request was answered 503 while PostgreSQL was down")
    unanswered = [a for _, a in during if not a.answered]
    if unanswered:
        problems.append(f"{len(unanswered)} requests got no answer at all (first: {unanswered[0].error[:200]})")
    for endpoint, answer in during:
        if answer.status is None or answer.status < 500:
            continue
        if answer.status != 503:
            once(f"{endpoint.name}{answer.status}", f"{endpoint.name} answered {answer.status} while PostgreSQL was down: {answer.body[:200]}")
        elif endpoint.page:
            if not (answer.retry_after or "").isdigit():
                once(f"{endpoint.name}retry", f"{endpoint.name} answered 503 without a Retry-After in seconds")
            if "text/html" not in answer.content_type or "unavailable" not in answer.body.lower():
                once(f"{endpoint.name}page", f"{endpoint.name} answered 503 without a page that says the platform is unavailable: {answer.body[:200]}")
        else:
            for problem in api_unavailable_problems(answer, code="database_unavailable"):
                once(f"{endpoint.name}{problem[:40]}", problem)
    bad_after = [(e, a) for e, a in after if a.status != 200]
    if bad_after:
        endpoint, answer = bad_after[0]
        problems.append(f"{len(bad_after)} requests failed after recovery (first: {endpoint.name} {answer.status} {answer.body[:200]})")
    return problems
