"""Tiny base models of every architecture, and a local HTTP server standing in for the Hugging Face Hub.

The server answers the few calls huggingface_hub's client makes to create a repository and upload a folder
(create repo, validate the card's YAML, preupload, commit) and records what the client sent. It checks our
use of the client, not the Hub: the Hub's own rules (who may write where, which metadata it accepts) are
not reproduced here.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from workers.ml.tiny_models import ARCHITECTURES, save_tiny_model

# Clean, lowercase reviews: the platform cleans and lowercases before tokenising, `pipeline` does not, so
# texts that need neither get the same tokens both ways.
REVIEWS = ["a wonderful film with a brilliant cast, i loved it", "an awful boring movie, the plot was terrible"]


@pytest.fixture(scope="session")
def architecture_bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny randomly initialised base model folder per architecture, each with its small tokenizer."""
    root = tmp_path_factory.mktemp("architectures")
    return {architecture: save_tiny_model(root / architecture, architecture) for architecture in ARCHITECTURES}


@dataclass
class RecordedCall:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def ndjson(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.body.decode().splitlines() if line.strip()]


@dataclass
class RecordingHub:
    url: str
    calls: list[RecordedCall] = field(default_factory=list)
    # Paths answered with this status instead (a refusal by the Hub).
    failures: dict[str, int] = field(default_factory=dict)

    def committed_files(self) -> dict[str, bytes]:
        """Every file the commits carried, by path (the client sends small files inline, base64)."""
        files: dict[str, bytes] = {}
        for call in self.calls:
            if "/commit/" in call.path:
                for line in call.ndjson():
                    if line.get("key") == "file":
                        files[line["value"]["path"]] = base64.b64decode(line["value"]["content"])
        return files


def _handler(hub: RecordingHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return None

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            call = RecordedCall("POST", self.path, dict(self.headers.items()), body)
            hub.calls.append(call)
            for prefix, status in hub.failures.items():
                if self.path.startswith(prefix):
                    return self._answer(status, {"error": "You don't have the rights to create a model under this namespace"})
            if self.path == "/api/repos/create":
                request = call.json()
                return self._answer(200, {"url": f"{hub.url}/{request['organization']}/{request['name']}"})
            if self.path == "/api/validate-yaml":
                return self._answer(200, {"errors": [], "warnings": []})
            if "/preupload/" in self.path:
                # Every file "regular": the client then sends them inline in the commit, no LFS or Xet transfer.
                files = [{"path": item["path"], "uploadMode": "regular", "shouldIgnore": False}
                         for item in call.json()["files"]]  # fmt: skip
                return self._answer(200, {"files": files})
            if "/commit/" in self.path:
                repo = self.path.split("/api/models/")[1].split("/commit/")[0]
                return self._answer(200, {"commitUrl": f"{hub.url}/{repo}/commit/0123abcd", "commitOid": "0123abcd" * 5})
            return self._answer(404, {"error": f"not answered by the recording server: {self.path}"})

        def do_GET(self) -> None:
            hub.calls.append(RecordedCall("GET", self.path, dict(self.headers.items()), b""))
            self._answer(404, {"error": f"not answered by the recording server: {self.path}"})

    return Handler


@pytest.fixture
def recording_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingHub]:
    """The recording server, with HF_ENDPOINT pointing at it and a token in HF_TOKEN."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    hub = RecordingHub(url=f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = _handler(hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # The tests run offline (HF_HUB_OFFLINE=1), which huggingface_hub read when it was imported.
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_TOKEN", "hf_test_token_for_the_recording_server")
    yield hub
    server.shutdown()
    server.server_close()
