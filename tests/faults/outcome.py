"""What a fault scenario reports: the ways the platform fell short, in words, and its figures.

``problems`` empty means the scenario held. The tests assert on outcomes and ``bench/faults.py``
tabulates them, so the bench and the tests cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from tests.faults.client import Answer, Platform

OUTAGE_SECONDS = 20.0


@dataclass
class Outcome:
    """What one scenario showed: ``problems`` (empty when it held) and its figures."""

    scenario: str
    problems: list[str] = field(default_factory=list)
    seconds_to_detect: float | None = None
    seconds_to_recover: float | None = None
    requests_answered: int = 0
    requests_unanswered: int = 0
    server_errors: int = 0
    unavailable: int = 0
    facts: list[str] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return not self.problems

    def line(self) -> str:
        figures = []
        if self.seconds_to_detect is not None:
            figures.append(f"detected in {self.seconds_to_detect:.1f} s")
        if self.seconds_to_recover is not None:
            figures.append(f"recovered in {self.seconds_to_recover:.1f} s")
        if self.requests_answered or self.requests_unanswered:
            figures.append(
                f"{self.requests_answered} requests answered ({self.server_errors} 5xx, {self.unavailable} 503), "
                f"{self.requests_unanswered} unanswered"
            )
        verdict = "held" if self.held else "FAILED: " + "; ".join(self.problems)
        return f"{self.scenario}: {verdict}" + (f" [{', '.join(figures)}]" if figures else "")

    def report(self) -> str:
        """The line, and the facts observed on the way: the message of a failing test."""
        return "\n".join([self.line(), *(f"  - {fact}" for fact in self.facts)])

    def as_dict(self) -> dict[str, Any]:
        row = {key: round(value, 1) if isinstance(value, float) else value for key, value in asdict(self).items()}
        return {**row, "held": self.held}


def healing(platform: Platform, scenario: Callable[[], Any]) -> Any:
    try:
        return scenario()
    finally:
        platform.stack.heal()


def job_problem(kind: str, job: dict[str, Any]) -> str | None:
    if job["status"] != "succeeded":
        return f"the {kind} job {job['id']} ended {job['status']}: {job.get('error') or 'no error given'}"
    return None


def count_answers(outcome: Outcome, answers: Iterable[Answer]) -> None:
    for answer in answers:
        if not answer.answered:
            outcome.requests_unanswered += 1
            continue
        outcome.requests_answered += 1
        if answer.status >= 500:
            outcome.server_errors += 1
        if answer.status == 503:
            outcome.unavailable += 1


def api_unavailable_problems(answer: Answer, *, code: str) -> list[str]:
    if answer.status != 503:
        return [f"{answer.endpoint} answered {answer.status or answer.error}, not 503: {answer.body[:200]}"]
    problems = []
    if not (answer.retry_after or "").isdigit():
        problems.append(f"{answer.endpoint} answered 503 without a Retry-After in seconds ({answer.retry_after!r})")
    try:
        error = answer.json()["error"]
    except (ValueError, KeyError, TypeError):
        return [*problems, f"{answer.endpoint} answered 503 outside the error envelope: {answer.body[:200]}"]
    if error.get("code") != code or not error.get("message"):
        problems.append(f"{answer.endpoint} answered 503 with code {error.get('code')!r}, not {code!r}")
    return problems
