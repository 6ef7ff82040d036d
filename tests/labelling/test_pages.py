"""The labelling pages: the queue page with HTMX and without JavaScript, escaping, roles, conflicts, agreement."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.labelling.choices import ResolutionMethod
from apps.labelling.models import Annotation, LabellingQueue, Resolution
from apps.labelling.services import annotation_create, assignment_next
from apps.predictions.models import BatchPredictionJob
from apps.registry.models import ModelVersion
from tests.labelling.conftest import MakeQueue, MakeReviews, Predict, signed_in

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
XSS = 'Loved it.<br /><br />Then <script>alert("x")</script> and <img src=x onerror="alert(1)"> happened.'


def label_url(queue: LabellingQueue) -> str:
    return f"/labelling/queues/{queue.pk}/label/"


def test_the_page_shows_one_review_the_buttons_their_keys_and_the_counter(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User
) -> None:
    make_reviews(2)
    queue = make_queue()

    page = signed_in(alice).get(label_url(queue)).content.decode()

    assignment = assignment_next(queue=queue, user=alice)
    assert f'<input type="hidden" name="review" value="{assignment.review_id}">' in page
    assert page.count('class="review-body"') == 1
    for value, keys in (("negative", "1 ArrowLeft"), ("positive", "2 ArrowRight"), ("skip", "s"), ("undo", "u")):
        assert f'name="action" value="{value}"' in page
        assert f'aria-keyshortcuts="{keys}"' in page
    assert f'hx-post="{label_url(queue)}" hx-target="#labelling-card"' in page
    assert "labelling/labelling.js" in page
    assert 'Labels today: <strong id="labels-today">0</strong>' in page
    assert '<a href="/labelling/" aria-current="page">Label</a>' in page


def test_review_text_is_shown_escaped_with_its_line_breaks(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User
) -> None:
    make_reviews(texts=[XSS])
    queue = make_queue()

    page = signed_in(alice).get(label_url(queue)).content.decode()

    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "Loved it.\n\nThen " in page


def test_labelling_with_htmx_answers_with_the_next_review_at_once(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User
) -> None:
    make_reviews(3)
    queue = make_queue()
    client = signed_in(alice)
    first = assignment_next(queue=queue, user=alice)

    response = client.post(label_url(queue), {"review": first.review_id, "action": "positive"}, **HTMX)

    fragment = response.content.decode()
    second = assignment_next(queue=queue, user=alice)
    assert response.status_code == 200
    assert fragment.lstrip().startswith('<section id="labelling-card"')
    assert "<html" not in fragment
    assert f'name="review" value="{second.review_id}"' in fragment and second.review_id != first.review_id
    assert f"Review {first.review_id}: positive. Resolved (unanimous annotators)." in fragment
    assert 'Labels today: <strong id="labels-today">1</strong>' in fragment
    assert Annotation.objects.get().label == 1


def test_skip_and_undo_from_the_page(make_reviews: MakeReviews, make_queue: MakeQueue, alice: User) -> None:
    make_reviews(3)
    queue = make_queue()
    client = signed_in(alice)
    first = assignment_next(queue=queue, user=alice)
    client.post(label_url(queue), {"review": first.review_id, "action": "negative"}, **HTMX)
    second = assignment_next(queue=queue, user=alice)

    skipped = client.post(label_url(queue), {"review": second.review_id, "action": "skip"}, **HTMX).content.decode()
    undone = client.post(label_url(queue), {"action": "undo"}, **HTMX).content.decode()

    assert f"Skipped review {second.review_id}." in skipped
    assert f"Took back your label of review {first.review_id}" in undone
    assert f'name="review" value="{first.review_id}"' in undone
    assert not Annotation.objects.exists()


def test_refusals_are_shown_in_the_card(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, bob: User
) -> None:
    make_reviews(2)
    queue = make_queue()
    bobs = assignment_next(queue=queue, user=bob)
    client = signed_in(alice)

    not_mine = client.post(label_url(queue), {"review": bobs.review_id, "action": "positive"}, **HTMX).content.decode()
    bad_label = client.post(label_url(queue), {"review": bobs.review_id, "action": "meh"}, **HTMX).content.decode()

    assert f"Review {bobs.review_id} is not assigned to you" in not_mine and 'role="alert"' in not_mine
    assert "label a review positive or negative" in bad_label
    assert not Annotation.objects.exists()


def test_without_javascript_a_post_redirects_back_with_a_message(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User
) -> None:
    make_reviews(2)
    queue = make_queue()
    client = signed_in(alice)
    first = assignment_next(queue=queue, user=alice)

    response = client.post(label_url(queue), {"review": first.review_id, "action": "negative"}, follow=True)

    assert response.redirect_chain == [(label_url(queue), 302)]
    assert f"Review {first.review_id}: negative." in response.content.decode()


def test_an_uncertain_suggestion_tells_its_confidence_apart_from_a_coin_toss_and_says_it_is_unsure(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, predict: Predict
) -> None:
    reviews = make_reviews(1)
    predict({reviews[0]: 0.504})
    queue = make_queue()

    shown = signed_in(alice).get(label_url(queue)).content.decode()

    assert 'The model suggests <strong class="positive">positive</strong>' in shown
    assert "50.4% sure: unsure, which is why a label here helps it most" in shown


def test_the_suggestion_shows_until_the_analyst_hides_it(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, bob: User, predict: Predict
) -> None:
    reviews = make_reviews(1)
    predict({reviews[0]: 0.91})
    queue = make_queue()
    client = signed_in(alice)

    shown = client.get(label_url(queue)).content.decode()
    hidden = client.post(label_url(queue), {"action": "hide_suggestion"}, **HTMX).content.decode()
    still_hidden = client.get(label_url(queue)).content.decode()

    assert 'The model suggests <strong class="positive">positive</strong>' in shown and "91.0% sure" in shown
    assert "The model suggests" not in hidden and "suggestion is hidden" in hidden
    assert "suggestion is hidden" in still_hidden
    # The choice is alice's alone.
    assert "The model suggests" in signed_in(bob).get(label_url(make_queue("other", annotators=[bob]))).content.decode()


def test_an_empty_queue_says_so(make_queue: MakeQueue, alice: User) -> None:
    page = signed_in(alice).get(label_url(make_queue())).content.decode()

    assert "Nothing left for you in this queue" in page


def test_roles(make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, carol: User, outsider: User) -> None:
    queue = make_queue()

    assert Client().get("/labelling/").status_code == 302
    assert signed_in(outsider).get("/labelling/").status_code == 403
    assert signed_in(carol).get(label_url(queue)).status_code == 403
    assert signed_in(alice).get("/labelling/queues/new/").status_code == 403
    assert signed_in(alice).get("/labelling/conflicts/").status_code == 403
    assert signed_in(alice).get("/labelling/labels.csv").status_code == 403
    index = signed_in(alice).get("/labelling/").content.decode()
    assert queue.name in index and f'href="{label_url(queue)}"' in index


def test_an_ml_admin_creates_a_queue_from_the_form(make_reviews: MakeReviews, admin: User, alice: User) -> None:
    make_reviews(4)
    client = signed_in(admin)

    bad = client.post("/labelling/queues/new/", {"name": "Q", "pool": "unlabelled", "strategy": "suspicious", "overlap": 1})
    response = client.post(
        "/labelling/queues/new/",
        {"name": "First pass", "pool": "unlabelled", "strategy": "random", "overlap": 2, "annotators": [alice.pk]},
        follow=True,
    )

    assert "the unlabelled pool has none" in bad.content.decode()
    queue = LabellingQueue.objects.get()
    assert (queue.name, queue.overlap, list(queue.annotators.all())) == ("First pass", 2, [alice])
    page = response.content.decode()
    assert "Queue &#x27;First pass&#x27; created: 4 reviews in random order." in page
    assert "alice" in page


def test_the_queue_page_shows_progress_per_analyst(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, admin: User
) -> None:
    make_reviews(gold=[1, 0, None])
    queue = make_queue()
    for label in ("positive", "positive"):
        assignment = assignment_next(queue=queue, user=alice)
        annotation_create(queue=queue, user=alice, review_id=assignment.review_id, label=label)

    page = signed_in(admin).get(f"/labelling/queues/{queue.pk}/").content.decode()

    assert '<progress max="3" value="2">' in page
    assert '<tr><th scope="row">alice</th><td>2</td><td>2</td><td>0</td>' in page


def test_conflicts_are_listed_and_settled_from_the_page(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, bob: User, admin: User
) -> None:
    (review,) = make_reviews(texts=[XSS])
    queue = make_queue(overlap=2)
    for user, label in ((alice, "positive"), (bob, "negative")):
        assignment = assignment_next(queue=queue, user=user)
        annotation_create(queue=queue, user=user, review_id=assignment.review_id, label=label)
    client = signed_in(admin)

    page = client.get("/labelling/conflicts/").content.decode()
    settle = {"label": "positive", "reason": "Clearly a rave."}
    response = client.post(f"/labelling/conflicts/{review.pk}/settle/", settle, follow=True)

    assert f"Review {review.pk}" in page and "split evenly" in page
    assert "&lt;script&gt;" in page and "<script>alert" not in page
    assert f"Review {review.pk} settled as positive." in response.content.decode()
    resolution = Resolution.objects.get()
    assert (resolution.method, resolution.label, resolution.settled_by) == (ResolutionMethod.SETTLED, 1, admin)


def test_the_agreement_page(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, bob: User, admin: User
) -> None:
    make_reviews(2)
    queue = make_queue(overlap=2)
    for user, labels in ((alice, ["positive", "negative"]), (bob, ["positive", "positive"])):
        for label in labels:
            assignment = assignment_next(queue=queue, user=user)
            annotation_create(queue=queue, user=user, review_id=assignment.review_id, label=label)

    page = signed_in(admin).get(f"/labelling/agreement/?queue={queue.pk}").content.decode()

    assert "<th scope=\"row\">alice &amp; bob</th>" in page
    assert "50.0%" in page


def test_an_uncertainty_queue_offers_the_batch_prediction_that_orders_it(
    make_reviews: MakeReviews, make_queue: MakeQueue, admin: User, current_version: ModelVersion
) -> None:
    make_reviews(3)
    queue = make_queue(strategy="uncertainty", pool="unlabelled")
    client = signed_in(admin)

    before = client.get(f"/labelling/queues/{queue.pk}/").content.decode()
    after = client.post(f"/labelling/queues/{queue.pk}/predict/", follow=True).content.decode()

    assert "None has been made for this pool yet" in before
    assert f"Predict this queue's reviews with {current_version}" in before
    job = BatchPredictionJob.objects.get()
    assert (job.pool, job.model_version, job.created_by, job.status) == ("unlabelled", current_version, admin, "queued")
    assert f"Batch prediction {job.pk} by model version {current_version.pk} is queued" in after
    assert f"Latest: <strong>{job}</strong>" in after and "Queued" in after


def test_a_random_queue_needs_no_batch_prediction_and_offers_none(make_queue: MakeQueue, admin: User) -> None:
    queue = make_queue()

    page = signed_in(admin).get(f"/labelling/queues/{queue.pk}/").content.decode()

    assert "Predict this queue" not in page and "batch predictions of its reviews" not in page
