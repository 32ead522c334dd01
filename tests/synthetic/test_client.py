"""The REST client against a stand-in server that speaks the DESIGN.md contract."""

import json
import threading
import urllib.error
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from synthetic.annotator import SimulatedAnnotator, correction_segments
from synthetic.client import PlatformClient, annotate_project
from synthetic.habits import habitual_description
from synthetic.scenes import make_scene

SCENES = [make_scene(seed) for seed in (1, 2, 3)]


class FakePlatform(BaseHTTPRequestHandler):
    tasks: list[dict] = []
    submitted: list[tuple[str, dict]] = []
    faults: list[str] = []  # what the next POSTs meet, one each: "drop" (no answer at all) or "503"
    keys: list[str | None] = []  # the Idempotency-Key of every POST, in order

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or "null")
        FakePlatform.keys.append(self.headers.get("Idempotency-Key"))
        if self.faults:
            fault = self.faults.pop(0)
            if fault == "drop":
                self.close_connection = True
                return None
            return self._reply(503, {"error": "down for a moment"})
        if self.path == "/api/auth/token/":
            return self._reply(200, {"token": "t0k"} if body["password"] == "pw" else {"detail": "no"})
        if self.headers.get("Authorization") != "Token t0k":
            return self._reply(401, {"detail": "unauthenticated"})
        if self.path == "/api/tasks/next/?project=7":
            return self._reply(200, self.tasks.pop(0)) if self.tasks else self._reply(204, None)
        if self.path == "/api/annotations/":
            self.submitted.append((self.headers["Authorization"], body))
            return self._reply(201, {"id": len(self.submitted), "version": 1})
        self._reply(404, {"detail": "not found"})

    def _reply(self, status, payload):
        self.send_response(status)
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def platform():
    FakePlatform.tasks = [
        {
            "id": 10 + index,
            "response": {"id": index, "text": habitual_description(scene)},
            "prompt": {"question": "Describe the image in detail.", "image_url": f"/media/{scene.scene_id}.png"},
        }
        for index, scene in enumerate(SCENES)
    ]
    FakePlatform.submitted = []
    FakePlatform.faults, FakePlatform.keys = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakePlatform)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_annotator_works_through_every_task(platform):
    """Token login, claim until 204, one submitted annotation per task with the exact corrections."""
    client = PlatformClient.login(platform, "annotator", "pw")
    assert annotate_project(client, 7, SimulatedAnnotator()) == len(SCENES)
    assert [body["task"] for _, body in FakePlatform.submitted] == [10, 11, 12]
    for (auth, body), scene in zip(FakePlatform.submitted, SCENES):
        assert auth == "Token t0k" and body["submit"] is True
        assert body["segments"] == correction_segments(scene, habitual_description(scene))


def test_limit_stops_early(platform):
    client = PlatformClient.login(platform, "annotator", "pw")
    assert annotate_project(client, 7, SimulatedAnnotator(), limit=1) == 1


def test_a_lost_answer_is_retried_with_the_same_key(platform):
    """A dropped connection and a 503 are retried with the request's Idempotency-Key; the next request has a new one."""
    client = PlatformClient.login(platform, "annotator", "pw")
    client.backoff = 0
    FakePlatform.faults = ["drop", "503"]
    assert client.next_task(7)["id"] == 10
    claim_keys, login_key = FakePlatform.keys[1:], FakePlatform.keys[0]
    assert len(claim_keys) == 3 and len(set(claim_keys)) == 1 and claim_keys[0] != login_key
    assert client.submit_annotation(10, [])["id"] == 1
    assert FakePlatform.keys[-1] not in claim_keys


def test_retries_are_bounded_and_4xx_is_not_retried(platform):
    """After ``retries`` more tries the 5xx reaches the caller; a 4xx is an answer, raised at once."""
    client = PlatformClient.login(platform, "annotator", "pw")
    client.backoff, client.retries = 0, 2
    FakePlatform.faults = ["503"] * 3
    with pytest.raises(urllib.error.HTTPError) as error:
        client.next_task(7)
    assert error.value.code == 503 and len(FakePlatform.keys) == 1 + 3
    with pytest.raises(urllib.error.HTTPError) as error:
        client.next_task(8)
    assert error.value.code == 404 and len(FakePlatform.keys) == 1 + 3 + 1
