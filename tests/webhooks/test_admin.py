"""The webhook subscriber's admin page: the secret is written once and never shown again."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from apps.webhooks.models import WebhookSubscription
from tests.registry.factories import UserFactory

pytestmark = pytest.mark.django_db

SECRET = "a-secret-nobody-should-read-back"


@pytest.fixture
def admin_client(static_files_as_in_development: None, settings: Any) -> Client:
    # The form checks the URL again; a loopback receiver needs no name lookup.
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    client = Client()
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def subscription() -> WebhookSubscription:
    return WebhookSubscription.objects.create(
        name="ci", url="http://127.0.0.1:9/hook", events=["training_run.finished"], secret=SECRET
    )


def test_the_change_page_does_not_show_the_secret(admin_client: Client, subscription: WebhookSubscription) -> None:
    page = admin_client.get(f"/admin/webhooks/webhooksubscription/{subscription.pk}/change/").content.decode()

    assert SECRET not in page
    assert "Leave blank to keep the current secret" in page


def _form(subscription: WebhookSubscription, **changes: Any) -> dict[str, Any]:
    return {
        "name": subscription.name,
        "url": subscription.url,
        "events": subscription.events,
        "secret": "",
        "is_active": "on",
        "deliveries-TOTAL_FORMS": "0",
        "deliveries-INITIAL_FORMS": "0",
        **changes,
    }


def test_saving_with_the_secret_left_blank_keeps_it(admin_client: Client, subscription: WebhookSubscription) -> None:
    url = f"/admin/webhooks/webhooksubscription/{subscription.pk}/change/"
    response = admin_client.post(url, _form(subscription, name="renamed"))

    assert response.status_code == 302, response.content.decode()[:2000]
    subscription.refresh_from_db()
    assert (subscription.name, subscription.secret) == ("renamed", SECRET)


def test_a_new_secret_typed_in_replaces_it(admin_client: Client, subscription: WebhookSubscription) -> None:
    url = f"/admin/webhooks/webhooksubscription/{subscription.pk}/change/"
    admin_client.post(url, _form(subscription, secret="a-brand-new-secret-of-length"))

    subscription.refresh_from_db()
    assert subscription.secret == "a-brand-new-secret-of-length"
