"""Adversarial checks of ensembles and of the registry's Hub endpoints: a tampered ensemble folder, callers
without the role, and input the endpoints must refuse rather than ignore."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.common.roles import ANALYST, ML_ADMIN
from apps.registry.models import EnsembleBuild, HubJob, ModelVersion
from tests.registry.factories import UserFactory
from tests.registry.test_ensembles import built, members, snapshot  # noqa: F401 (fixtures)
from workers.ml.artifacts import MANIFEST_NAME
from workers.ml.ensemble import SPEC_NAME, EnsembleError
from workers.ml.inference import load_model

pytestmark = pytest.mark.django_db


def _rewrite_spec(folder: Path, change: Any) -> None:
    """Change ensemble.json and record its new checksum, as someone able to write the stored folder could."""
    spec = json.loads((folder / SPEC_NAME).read_text())
    change(spec)
    data = json.dumps(spec).encode()
    (folder / SPEC_NAME).unlink()
    (folder / SPEC_NAME).write_bytes(data)
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    manifest["files"][SPEC_NAME] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest))


@pytest.mark.parametrize("member_folder", [".", "members/..", "../", "/"])
def test_an_ensemble_naming_itself_or_its_parent_as_a_member_is_refused_not_recursed(
    members: list[ModelVersion], artifact_root: Path, member_folder: str  # noqa: F811
) -> None:
    folder = artifact_root / built(members).model_version.artifact_path

    def point_at(spec: dict[str, Any]) -> None:
        spec["members"][0]["folder"] = member_folder

    _rewrite_spec(folder, point_at)
    with pytest.raises(EnsembleError, match="member folder"):
        load_model(folder)


def test_the_hub_and_ensemble_endpoints_refuse_anonymous_callers_and_analysts(
    members: list[ModelVersion],  # noqa: F811
) -> None:
    anonymous = APIClient()
    analyst = APIClient()
    analyst.force_authenticate(UserFactory(username="adv-analyst", roles=[ANALYST]))
    version, snapshot = members[0], members[0].snapshot
    writes = [
        (f"/api/models/{version.pk}/publish/", {"repo_id": "acme/model"}),
        ("/api/models/register/", {"source": "/etc", "snapshot": snapshot.pk}),
        ("/api/models/ensembles/", {"members": [m.pk for m in members]}),
    ]
    for path, body in writes:
        assert anonymous.post(path, body, format="json").status_code in (401, 403), path
        assert analyst.post(path, body, format="json").status_code == 403, path
    for path in ["/api/models/hub-jobs/", "/api/models/ensembles/"]:
        assert anonymous.get(path).status_code in (401, 403), path
    assert not HubJob.objects.exists() and not EnsembleBuild.objects.exists()


@pytest.mark.parametrize(
    "body",
    [{"repo_id": "acme/model", "token": "hf_pasted_by_mistake"}, {"repo_id": "acme/model", "privat": False}],
    ids=["token", "misspelt-private"],
)
def test_publishing_refuses_fields_it_does_not_know_instead_of_ignoring_them(
    members: list[ModelVersion], body: dict[str, Any], monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_from_the_environment")
    admin = APIClient()
    admin.force_authenticate(UserFactory(username="adv-admin", roles=[ML_ADMIN]))

    response = admin.post(f"/api/models/{members[0].pk}/publish/", body, format="json")

    assert response.status_code == 400
    assert "Unknown field" in json.dumps(response.json())
    assert "hf_pasted_by_mistake" not in response.content.decode()
    assert not HubJob.objects.exists()


def test_an_ensemble_serves_after_its_members_folders_are_gone(
    members: list[ModelVersion], artifact_root: Path  # noqa: F811
) -> None:
    import shutil

    ensemble = built(members).model_version
    for member in members:
        shutil.rmtree(artifact_root / member.artifact_path)

    answer = load_model(artifact_root / ensemble.artifact_path).predict(["a brilliant film, i loved it"])[0]

    assert [member["model_version_id"] for member in answer["members"]] == [m.pk for m in members]


def test_a_build_whose_member_folder_is_gone_fails_with_its_name_and_leaves_nothing(
    members: list[ModelVersion], artifact_root: Path  # noqa: F811
) -> None:
    import shutil

    from apps.common.choices import JobStatus
    from apps.registry.ensembles import ensemble_build_create
    from apps.registry.runners import ensemble_build_execute

    shutil.rmtree(artifact_root / members[1].artifact_path)
    before = sorted(path.name for path in artifact_root.iterdir())
    build = ensemble_build_create(members=members, enqueue=False)
    ensemble_build_execute(build_id=build.pk)
    build.refresh_from_db()

    assert build.status == JobStatus.FAILED
    assert members[1].artifact_path in build.error
    assert build.model_version is None and not ModelVersion.objects.filter(kind="ensemble").exists()
    assert sorted(path.name for path in artifact_root.iterdir()) == before


@pytest.mark.parametrize(
    "path, body",
    [
        ("register", {"source": "/tmp/\u0000model", "snapshot": "SNAPSHOT"}),
        ("register", {"source": "acme/model", "snapshot": "SNAPSHOT", "revision": "\u0000"}),
        ("register", {"source": ["acme/model"], "snapshot": "SNAPSHOT"}),
        ("register", {"source": "acme/model", "snapshot": "1; drop table"}),
        ("publish", {"repo_id": "acme/\u0000model"}),
        ("publish", {"repo_id": "acme/model", "private": "perhaps"}),
        ("publish", {"repo_id": "acme/model", "license": "<script>"}),
        ("publish", {"repo_id": {"owner": "acme"}}),
    ],
)
def test_odd_input_to_the_hub_endpoints_is_a_400_with_nothing_queued(
    members: list[ModelVersion], monkeypatch: pytest.MonkeyPatch, path: str, body: dict[str, Any]  # noqa: F811
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_from_the_environment")
    admin = APIClient()
    admin.force_authenticate(UserFactory(username="adv-odd-admin", roles=[ML_ADMIN]))
    body = {key: members[0].snapshot_id if value == "SNAPSHOT" else value for key, value in body.items()}
    url = "/api/models/register/" if path == "register" else f"/api/models/{members[0].pk}/publish/"

    response = admin.post(url, body, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["message"]
    assert not HubJob.objects.exists()


@pytest.mark.parametrize("field, value", [("model_version_id", "eight"), ("kind", None), ("weight", "heavy")])
def test_an_ensemble_json_with_a_bad_member_entry_is_refused_with_a_message(
    members: list[ModelVersion], artifact_root: Path, field: str, value: Any  # noqa: F811
) -> None:
    folder = artifact_root / built(members).model_version.artifact_path

    def spoil(spec: dict[str, Any]) -> None:
        if value is None:
            del spec["members"][0][field]
        else:
            spec["members"][0][field] = value

    _rewrite_spec(folder, spoil)
    with pytest.raises(EnsembleError, match="cannot be read as an ensemble"):
        load_model(folder)
