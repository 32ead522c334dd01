"""The simulated annotator at work: the platform's public REST API, as a browser uses it.

Standard library only (urllib + json). Token auth; claims tasks with
``POST /api/tasks/next/?project=<id>`` until it answers 204, and submits
each task's segments with ``POST /api/annotations/``. Each task's scene is
found from its image URL, whose file name carries the scene id
(``.../scene-123.png``); pass ``scene_for_task`` to map tasks otherwise.

Lost answers are retried: each write carries an ``Idempotency-Key`` (a new
UUID4 per call, the same on each of its retries), so a retry after a
dropped connection or a 5xx gets the first outcome instead of a 409 or a
second write.
"""

import http.client
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable

from synthetic.annotator import SimulatedAnnotator
from synthetic.scenes import Scene, scene_from_id

_SCENE_IN_URL = re.compile(r"scene-\d+")


class PlatformClient:
    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0, retries: int = 3, backoff: float = 0.2):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retries = retries  # after the first try, on a connection error or a 5xx; 4xx are answers
        self.backoff = backoff  # seconds before the first retry, doubled before each next one

    @classmethod
    def login(cls, base_url: str, username: str, password: str) -> "PlatformClient":
        client = cls(base_url, token="")
        client.token = client._request("POST", "/api/auth/token/", {"username": username, "password": password})["token"]
        return client

    def projects(self) -> list[dict]:
        return self._request("GET", "/api/projects/")

    def next_task(self, project_id: int) -> dict | None:
        """Claim the next task (a lease); None when nothing is left."""
        return self._request("POST", f"/api/tasks/next/?project={project_id}")

    def submit_annotation(self, task_id: int, segments: list[dict]) -> dict:
        """Submit the corrections; none at all is the judgement "no hallucination"."""
        body = {"task": task_id, "segments": segments, "submit": True, "no_hallucination": not segments}
        return self._request("POST", "/api/annotations/", body)

    def _request(self, method: str, path: str, body: dict | None = None):
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        if method != "GET":
            headers["Idempotency-Key"] = str(uuid.uuid4())
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        for attempt in range(self.retries + 1):
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    payload = response.read()
                return json.loads(payload) if payload else None
            except urllib.error.HTTPError as error:
                if error.code < 500 or attempt == self.retries:
                    raise
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError):
                if attempt == self.retries:
                    raise
            time.sleep(self.backoff * 2**attempt)


def scene_from_image_url(task: dict) -> Scene:
    path = urllib.parse.urlparse(task["prompt"]["image_url"]).path
    match = _SCENE_IN_URL.search(path.rsplit("/", 1)[-1])
    if match is None:
        raise ValueError(f"no scene id in image URL {path!r}")
    return scene_from_id(match.group())


def annotate_project(
    client: PlatformClient,
    project_id: int,
    annotator: SimulatedAnnotator,
    *,
    scene_for_task: Callable[[dict], Scene] = scene_from_image_url,
    limit: int | None = None,
) -> int:
    """Claim, correct and submit tasks until none are left (or ``limit``); returns how many."""
    done = 0
    while limit is None or done < limit:
        task = client.next_task(project_id)
        if task is None:
            break
        scene = scene_for_task(task)
        segments = annotator.annotate(scene, task["response"]["text"], task["prompt"]["question"])
        client.submit_annotation(task["id"], segments)
        done += 1
    return done
