"""Labelling in a real browser with the keyboard alone: 1 / left arrow negative, 2 / right arrow positive, s skip, u undo."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from apps.labelling.models import Annotation, Assignment
from apps.labelling.services import queue_create
from apps.reviews.models import Review

CARD = "#labelling-card"


def reviews(count: int) -> list[Review]:
    return Review.objects.bulk_create(
        Review(text=f"Browser review {n}: <b>not bold</b>, a film like no other.", source="browser", external_id=str(n))
        for n in range(count)
    )


def shown_review(page: Page) -> str:
    return page.locator(CARD).get_attribute("data-review-id") or ""


def press_and_wait(page: Page, key: str) -> str:
    """Press a key and wait for the next review to replace the one shown; the new review's id."""
    before = shown_review(page)
    page.keyboard.press(key)
    expect(page.locator(CARD)).not_to_have_attribute("data-review-id", before)
    return shown_review(page)


def test_an_analyst_labels_five_reviews_with_the_keyboard_only(analyst_page: Page, analyst: Any) -> None:
    reviews(7)
    queue, _ = queue_create(name="Keyboard", pool="all", annotators=[analyst])
    page = analyst_page

    page.goto(f"/labelling/queues/{queue.pk}/label/")
    page.evaluate("window.loadedOnce = true")
    expect(page.locator(f"{CARD} .review-body")).to_contain_text("<b>not bold</b>")
    expect(page.locator("#labels-today")).to_have_text("0")

    seen = []
    for count, key in enumerate(["1", "ArrowRight", "2", "ArrowLeft", "2"], start=1):
        seen.append(int(shown_review(page)))
        press_and_wait(page, key)
        expect(page.locator("#labels-today")).to_have_text(str(count))

    labels = list(Annotation.objects.filter(user=analyst).order_by("created_at").values_list("review_id", "label"))
    assert labels == list(zip(seen, [0, 1, 1, 0, 1]))
    assert page.evaluate("window.loadedOnce") is True, "every review came without the page reloading"


def test_skip_and_undo_from_the_keyboard(analyst_page: Page, analyst: Any) -> None:
    reviews(4)
    queue, _ = queue_create(name="Keys", pool="all", annotators=[analyst])
    page = analyst_page
    page.goto(f"/labelling/queues/{queue.pk}/label/")

    first = shown_review(page)
    second = press_and_wait(page, "2")
    press_and_wait(page, "s")
    back = press_and_wait(page, "u")

    assert back == first
    # In the swapped card, or in the page's messages when the answer came as a whole page.
    expect(page.locator("main")).to_contain_text(f"Took back your label of review {first}")
    expect(page.locator("#labels-today")).to_have_text("0")
    assert Assignment.objects.get(review_id=int(second)).skipped
    assert not Annotation.objects.exists()
