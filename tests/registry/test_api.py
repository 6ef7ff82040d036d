"""The registry's REST API: reading for everyone signed in, promotion and rollback for ML admins."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.common.services import api_token_create, api_token_revoke
from apps.registry.models import ModelVersion, Promotion
from apps.registry.services import model_version_promote
from apps.reviews.models import DatasetSnapshot
from tests.registry.factories import UserFactory

pytestmark = pytest.mark.django_db

MakeVersion = Callable[..., ModelVersion]


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def signed_in(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_anonymous_requests_get_401_with_the_token_scheme_and_the_error_envelope(api: APIClient) -> None:
    response = api.get("/api/models/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {
        "error": {
            "code": "not_authenticated",
            "message": "Authentication credentials were not provided.",
            "fields": {},
        }
    }
    assert api.post("/api/models/rollback/", {}, format="json").status_code == 401


def test_an_analyst_lists_and_reads_versions_with_their_metrics_and_snapshot(
    analyst: Any, version_of: MakeVersion, snapshot: DatasetSnapshot
) -> None:
    older = version_of(accuracy=0.8, snapshot=snapshot)
    newer = version_of(accuracy=0.9, snapshot=snapshot)
    model_version_promote(version=older, by=None)
    client = signed_in(analyst)

    listing = client.get("/api/models/").json()
    detail = client.get(f"/api/models/{older.pk}/").json()
    current = client.get("/api/models/current/").json()

    assert [row["id"] for row in listing] == [newer.pk, older.pk]
    assert listing[1]["is_current"] is True and listing[0]["is_current"] is False
    assert listing[0]["metrics"] == {"accuracy": 0.9, "f1": 0.9}
    assert listing[0]["snapshot"] == {"id": snapshot.pk, "name": "main", "content_hash": snapshot.content_hash}
    assert listing[0]["artifact_size"] > 0 and "manifest" not in listing[0]
    assert detail["id"] == older.pk and detail["manifest"] == {} and detail["artifact_path"] == older.artifact_path
    assert current["id"] == older.pk


def test_unknown_versions_and_a_missing_current_version_get_404_with_a_message(analyst: Any, ml_admin: Any) -> None:
    assert signed_in(analyst).get("/api/models/999/").json() == {
        "error": {"code": "not_found", "message": "There is no model version 999.", "fields": {}}
    }
    current = signed_in(analyst).get("/api/models/current/")
    assert current.status_code == 404 and current.json()["error"]["code"] == "no_current_version"
    promote = signed_in(ml_admin).post("/api/models/999/promote/", {"reason": "x"}, format="json")
    assert promote.status_code == 404


def test_an_analyst_may_not_promote_or_roll_back(analyst: Any, version_of: MakeVersion) -> None:
    version = version_of()
    client = signed_in(analyst)

    promote = client.post(f"/api/models/{version.pk}/promote/", {"reason": "please"}, format="json")
    rollback = client.post("/api/models/rollback/", {}, format="json")

    assert promote.status_code == rollback.status_code == 403
    assert promote.json()["error"]["code"] == "permission_denied"
    assert "Only ML admins may do this" in promote.json()["error"]["message"]
    assert not ModelVersion.objects.filter(is_current=True).exists()


def test_an_ml_admin_promotes_a_version_and_gets_the_promotion_and_the_new_current_version(
    ml_admin: Any, version_of: MakeVersion
) -> None:
    first, second = version_of(), version_of()
    model_version_promote(version=first, by=None)

    response = signed_in(ml_admin).post(
        f"/api/models/{second.pk}/promote/", {"reason": "better F1"}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert body["current"]["id"] == second.pk and body["current"]["is_current"] is True
    assert {key: body["promotion"][key] for key in ("action", "from_version", "to_version", "promoted_by", "reason", "forced")} == {
        "action": "promote",
        "from_version": first.pk,
        "to_version": second.pk,
        "promoted_by": "mladmin",
        "reason": "better F1",
        "forced": False,
    }
    assert Promotion.objects.latest("created_at").promoted_by == ml_admin


def test_a_superuser_counts_as_an_ml_admin(admin_user: Any, version_of: MakeVersion) -> None:
    version = version_of()

    assert signed_in(admin_user).post(f"/api/models/{version.pk}/promote/", {}, format="json").status_code == 200


def test_a_refused_promotion_is_a_400_with_the_reason_and_force_with_a_reason_overrides_it(
    ml_admin: Any, version_of: MakeVersion, snapshot: DatasetSnapshot
) -> None:
    model_version_promote(version=version_of(accuracy=0.9, snapshot=snapshot), by=None)
    worse = version_of(accuracy=0.5, snapshot=snapshot)
    client = signed_in(ml_admin)

    refused = client.post(f"/api/models/{worse.pk}/promote/", {"reason": "try"}, format="json")
    no_reason = client.post(f"/api/models/{worse.pk}/promote/", {"force": True}, format="json")
    forced = client.post(f"/api/models/{worse.pk}/promote/", {"force": True, "reason": "demo"}, format="json")

    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "promotion_refused" and error["fields"] == {}
    assert error["message"].startswith(f"Model version {worse.pk} has test accuracy 0.5000, below the current version")
    assert no_reason.status_code == 400 and "needs a reason" in no_reason.json()["error"]["message"]
    assert forced.status_code == 200 and forced.json()["promotion"]["forced"] is True


def test_a_malformed_body_is_a_400_naming_the_field(ml_admin: Any, version_of: MakeVersion) -> None:
    version = version_of()

    response = signed_in(ml_admin).post(f"/api/models/{version.pk}/promote/", {"force": "perhaps"}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "invalid",
            "message": "force: Must be a valid boolean.",
            "fields": {"force": "Must be a valid boolean."},
        }
    }


def test_an_ml_admin_rolls_back_and_a_rollback_with_nothing_before_is_refused(
    ml_admin: Any, version_of: MakeVersion
) -> None:
    first, second = version_of(), version_of()
    model_version_promote(version=first, by=None)
    model_version_promote(version=second, by=None)
    client = signed_in(ml_admin)

    response = client.post("/api/models/rollback/", {"reason": "regression"}, format="json")
    again = client.post("/api/models/rollback/", {}, format="json")

    assert response.status_code == 200
    assert response.json()["promotion"]["action"] == "rollback"
    assert response.json()["current"]["id"] == first.pk
    assert again.status_code == 400 and again.json()["error"]["code"] == "promotion_refused"


def test_the_promotion_history_lists_the_latest_changes_first(analyst: Any, version_of: MakeVersion) -> None:
    first, second = version_of(), version_of()
    model_version_promote(version=first, by=None, reason="one")
    model_version_promote(version=second, by=None, reason="two")
    client = signed_in(analyst)

    history = client.get("/api/models/promotions/?limit=1").json()

    assert [(row["to_version"], row["reason"]) for row in history] == [(second.pk, "two")]
    assert client.get("/api/models/promotions/?limit=0").json()["error"]["fields"] == {
        "limit": "limit must be a whole number from 1 to 500."
    }


def test_an_ml_admins_token_authenticates_a_promotion_and_a_revoked_token_gets_401(
    api: APIClient, version_of: MakeVersion
) -> None:
    integration = UserFactory(username="deployer", roles=["ml_admin", "integration"])
    token, key = api_token_create(user=integration, name="deploy pipeline")
    version = version_of()

    promoted = api.post(
        f"/api/models/{version.pk}/promote/", {"reason": "ci"}, format="json", HTTP_AUTHORIZATION=f"Token {key}"
    )
    api_token_revoke(token=token)
    revoked = api.get("/api/models/", HTTP_AUTHORIZATION=f"Token {key}")

    assert promoted.status_code == 200
    assert Promotion.objects.get().promoted_by == integration
    assert revoked.status_code == 401
    assert revoked.json()["error"] == {
        "code": "authentication_failed",
        "message": "Invalid or revoked token: ask an ML admin for a new one.",
        "fields": {},
    }


def test_a_session_still_works_beside_tokens(analyst: Any, version_of: MakeVersion) -> None:
    version_of()
    client = APIClient()
    client.force_login(analyst)

    assert client.get("/api/models/").status_code == 200
