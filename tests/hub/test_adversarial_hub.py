"""Adversarial checks of Hub publishing and registration: what a hostile model folder, a failing Hub or a
careless caller cannot make the platform do (leak the token, run or read what it must not, fail unclearly).

The Hub here is the recording server of tests/hub/conftest.py: these tests check our use of the client.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest

from apps.common.choices import JobStatus
from apps.registry.hub import hub_publish_submit
from apps.registry.models import HubJob
from apps.registry.runners import HubRunner
from tests.hub.conftest import RecordingHub
from tests.hub.test_publish import REPO, transformer_artifact, version  # noqa: F401 (fixtures)
from workers.ml.hub import HubError, fetch_external, import_external, repo_id_problem
from workers.ml.tiny_models import save_tiny_model

TOKEN = "hf_adversarialSECRETtoken0123456789"


@pytest.fixture(scope="module")
def outside_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-label sentiment classifier saved as another team would (safetensors, no code)."""
    return save_tiny_model(tmp_path_factory.mktemp("outside") / "model", "bert", id2label={0: "negative", 1: "positive"})


@pytest.mark.django_db
@pytest.mark.parametrize("failing", ["/api/repos/create", "/api/models/", "unreachable"])
def test_the_token_never_shows_in_the_job_its_log_or_the_process_logs(
    recording_hub: RecordingHub, version: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    failing: str,
) -> None:  # fmt: skip
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    if failing == "unreachable":
        monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    else:
        recording_hub.failures[failing] = 401
    caplog.set_level(logging.DEBUG)

    job = hub_publish_submit(version=version, repo_id=REPO, private=True, enqueue=False)
    HubRunner.handle(job.pk)
    job.refresh_from_db()

    assert job.status == JobStatus.FAILED and job.error
    stored = json.dumps({field.name: str(getattr(job, field.attname)) for field in HubJob._meta.concrete_fields})
    assert TOKEN not in stored and TOKEN[3:] not in stored
    assert TOKEN not in caplog.text
    if failing != "unreachable":  # the client did send it, so the check above is not vacuous
        assert any(TOKEN in call.headers.get("authorization", "") for call in recording_hub.calls)


@pytest.mark.parametrize(
    "repo_id",
    ["owner/name/extra", "../etc/passwd", "owner/..", "owner/na me", "owner/name?x=1", "owner/name#x", "owner/\u00e9t\u00e9",
     "-owner/name", "owner/name.git", "owner/a--b", "owner/" + "n" * 97, "owner/name\n", "owner\\name", "/name", "owner/"],
)  # fmt: skip
def test_odd_repository_ids_are_refused(repo_id: str) -> None:
    assert repo_id_problem(repo_id) is not None


@pytest.mark.parametrize(
    "config_text", ["{not json", "[1, 2]", "\"a string\"", "\udcff"], ids=["broken", "list", "string", "not-utf8"]
)
def test_a_config_json_that_is_not_a_json_object_is_refused_with_a_clear_message(
    outside_model: Path, tmp_path: Path, config_text: str
) -> None:
    folder = Path(shutil.copytree(outside_model, tmp_path / "model"))
    (folder / "config.json").write_bytes(config_text.encode("utf-8", "surrogateescape"))
    with pytest.raises(HubError, match="config.json"):
        import_external(folder, tmp_path / "staging")
    assert not (tmp_path / "staging").exists()


def test_pickled_weights_beside_a_stray_safetensors_file_are_never_loaded(
    outside_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch
    from safetensors.torch import load_file

    folder = Path(shutil.copytree(outside_model, tmp_path / "model"))
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").rename(folder / "notes.safetensors")
    unpickled: list[Any] = []
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: unpickled.append(args) or {})

    with pytest.raises((HubError, OSError), match="safetensors"):
        import_external(folder, tmp_path / "staging")
    assert unpickled == []


def test_code_named_by_the_tokenizer_config_is_refused(outside_model: Path, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(outside_model, tmp_path / "model"))
    (folder / "tokenizer_config.json").write_text(
        json.dumps({**json.loads((folder / "tokenizer_config.json").read_text()), "auto_map": {"AutoTokenizer": ["t.Tok", None]}})
    )
    ran = tmp_path / "remote-code-ran"
    (folder / "t.py").write_text(f"open({str(ran)!r}, 'w').close()\n")
    try:
        import_external(folder, tmp_path / "staging")  # transformers may ignore the auto_map and use the files
    except (HubError, ValueError):
        pass  # or refuse it; either way the code never runs
    assert not ran.exists()


@pytest.mark.parametrize("linked", ["config.json", "tokenizer.json", "model.safetensors"])
def test_a_registered_folder_cannot_read_files_outside_it_through_a_symlink(
    outside_model: Path, tmp_path: Path, linked: str
) -> None:
    elsewhere = Path(shutil.copytree(outside_model, tmp_path / "elsewhere"))
    folder = Path(shutil.copytree(outside_model, tmp_path / "model"))
    (folder / linked).unlink()
    (folder / linked).symlink_to(elsewhere / linked)
    with pytest.raises(HubError, match="outside the folder"):
        fetch_external(str(folder))


def test_a_symlink_inside_a_registered_folder_is_fine(outside_model: Path, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(outside_model, tmp_path / "model"))
    (folder / "blobs").mkdir()
    (folder / "model.safetensors").rename(folder / "blobs" / "weights")
    (folder / "model.safetensors").symlink_to(Path("blobs") / "weights")
    assert fetch_external(str(folder)) == (folder, "local")
    assert import_external(folder, tmp_path / "staging").architecture == "bert"


def test_a_hugging_face_cache_snapshot_registers_by_its_path(outside_model: Path, tmp_path: Path) -> None:
    snapshot = tmp_path / "models--acme--sentiment" / "snapshots" / "abc123"
    blobs = tmp_path / "models--acme--sentiment" / "blobs"
    snapshot.mkdir(parents=True)
    blobs.mkdir()
    for source in outside_model.iterdir():
        shutil.copy(source, blobs / source.name)
        (snapshot / source.name).symlink_to(Path("../..") / "blobs" / source.name)
    assert fetch_external(str(snapshot)) == (snapshot, "local")


@pytest.mark.parametrize("revision", ["../../../../etc", "main/../../x", "/etc/passwd", "main branch", "v1\n", "-x", "a" * 101, "main/"])
def test_a_revision_that_is_not_a_branch_tag_or_commit_is_refused(revision: str) -> None:
    from workers.ml.hub import revision_problem

    assert revision_problem(revision) is not None
    with pytest.raises(HubError, match="not a Hub revision"):
        fetch_external("acme/sentiment", revision=revision)


@pytest.mark.parametrize("revision", ["", "main", "v1.0", "refs/pr/1", "0123abcd" * 5])
def test_branches_tags_and_commits_are_revisions(revision: str) -> None:
    from workers.ml.hub import revision_problem

    assert revision_problem(revision) is None


@pytest.mark.django_db
def test_the_api_refuses_a_revision_leading_out_of_the_cache_before_queueing_anything() -> None:
    from rest_framework.test import APIClient

    from apps.common.roles import ML_ADMIN
    from apps.reviews.snapshots import snapshot_create
    from tests.registry.factories import UserFactory
    from tests.training.conftest import make_reviews

    make_reviews(20)
    snapshot = snapshot_create(name="twenty", train_fraction=0.6, validation_fraction=0.2, test_fraction=0.2)
    admin = APIClient()
    admin.force_authenticate(UserFactory(username="adv-hub-admin", roles=[ML_ADMIN]))

    response = admin.post(
        "/api/models/register/", {"source": "acme/model", "snapshot": snapshot.pk, "revision": "../../../../tmp/x"},
        format="json",
    )  # fmt: skip

    assert response.status_code == 400 and response.json()["error"]["code"] == "hub_refused"
    assert "not a Hub revision" in response.json()["error"]["message"]
    assert not HubJob.objects.exists()


@pytest.mark.parametrize("shard", ["../other/model.safetensors", "/tmp/model.safetensors", "sub/model.safetensors"])
def test_a_sharded_index_naming_weights_outside_the_folder_is_refused(
    outside_model: Path, tmp_path: Path, shard: str
) -> None:
    from safetensors.torch import load_file

    shutil.copytree(outside_model, tmp_path / "other")  # weights that are there to be read, outside the folder
    folder = Path(shutil.copytree(outside_model, tmp_path / "model"))
    keys = list(load_file(folder / "model.safetensors"))
    (folder / "model.safetensors").rename(folder / "model-00001-of-00001.safetensors")
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": dict.fromkeys(keys, shard)}))

    with pytest.raises(HubError, match="names weights outside its folder"):
        import_external(folder, tmp_path / "staging")
    assert not (tmp_path / "staging").exists()


def test_a_sharded_model_with_its_shards_beside_the_index_registers(outside_model: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    folder = Path(shutil.copytree(outside_model, tmp_path / "model"))
    keys = list(load_file(folder / "model.safetensors"))
    (folder / "model.safetensors").rename(folder / "model-00001-of-00001.safetensors")
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": dict.fromkeys(keys, "model-00001-of-00001.safetensors")})
    )

    assert import_external(folder, tmp_path / "staging").architecture == "bert"


@pytest.mark.django_db(transaction=True)
def test_two_publications_of_one_version_at_once_both_finish_with_their_own_commit(
    recording_hub: RecordingHub, version: Any
) -> None:
    import threading

    from django.db import connection

    jobs = [hub_publish_submit(version=version, repo_id=REPO, private=True, enqueue=False) for _ in range(2)]
    barrier = threading.Barrier(2)

    def publish(pk: int) -> None:
        try:
            barrier.wait(timeout=30)
            HubRunner.handle(pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=publish, args=(job.pk,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    for job in jobs:
        job.refresh_from_db()
        assert job.status == JobStatus.SUCCEEDED, job.error
        assert job.result_url == f"{recording_hub.url}/{REPO}"
    assert sum("/commit/" in call.path for call in recording_hub.calls) == 2
    assert len({path for path in recording_hub.committed_files()}) >= 4  # the same files, sent by each


def test_registering_the_root_folder_is_refused_for_its_missing_config_not_by_walking_the_disk(tmp_path: Path) -> None:
    with pytest.raises(HubError, match="holds no config.json"):
        folder, _ = fetch_external("/")  # a walk of every file on the machine would not end before the test's time
        import_external(folder, tmp_path / "staging")


def test_a_link_below_the_folder_which_transformers_never_reads_does_not_refuse_it(
    outside_model: Path, tmp_path: Path
) -> None:
    folder = Path(shutil.copytree(outside_model, tmp_path / "model"))
    (folder / "notes").mkdir()
    (folder / "notes" / "elsewhere").symlink_to(tmp_path)

    assert fetch_external(str(folder)) == (folder, "local")


@pytest.mark.django_db
def test_a_hub_that_echoes_the_token_in_its_refusal_does_not_get_it_into_the_job(
    recording_hub: RecordingHub, version: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Echoing(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return None

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.dumps({"error": f"Invalid credentials: {self.headers.get('authorization')}"}).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echoing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    try:
        job = hub_publish_submit(version=version, repo_id=REPO, private=True, enqueue=False)
        HubRunner.handle(job.pk)
    finally:
        server.shutdown()
        server.server_close()
    job.refresh_from_db()

    assert job.status == JobStatus.FAILED
    assert job.error.startswith("The Hub refused the upload (401)")
    assert TOKEN not in job.error and TOKEN not in job.log_tail
    assert "[HF_TOKEN]" in job.error + job.log_tail  # the echo was there, and was blanked


@pytest.mark.django_db
def test_the_register_command_says_why_a_linked_folder_or_an_odd_revision_is_refused(
    outside_model: Path, tmp_path: Path
) -> None:
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from apps.reviews.snapshots import snapshot_create
    from tests.training.conftest import make_reviews

    make_reviews(20)
    snapshot = snapshot_create(name="twenty", train_fraction=0.6, validation_fraction=0.2, test_fraction=0.2)
    folder = Path(shutil.copytree(outside_model, tmp_path / "model"))
    (folder / "tokenizer.json").unlink()
    (folder / "tokenizer.json").symlink_to(outside_model / "tokenizer.json")

    with pytest.raises(CommandError, match="not a Hub revision"):
        call_command("hub_register", "acme/model", "--snapshot", str(snapshot.pk), "--revision", "../../x", "--now")
    with pytest.raises(CommandError, match="outside the folder"):
        call_command("hub_register", str(folder), "--snapshot", str(snapshot.pk), "--now")
    job = HubJob.objects.get()
    assert job.status == JobStatus.FAILED and "tokenizer.json" in job.error and not job.model_version
