"""A project with one user of each role, and API clients logged in as each."""
from rest_framework.test import APIClient

from annotate.models import Role
from tests.factories import make_project, make_response, make_user

TEXT = "A red circle 🐕‍🦺 sits left of a café, e\u0301 and 猫."


class Team:
    def __init__(self, overlap=1):
        self.project = make_project(overlap=overlap, max_rewrite_chars=50)
        self.annotator = make_user(role=Role.ANNOTATOR, project=self.project, username="ann")
        self.other = make_user(role=Role.ANNOTATOR, project=self.project, username="other")
        self.reviewer = make_user(role=Role.REVIEWER, project=self.project, username="rev")
        self.manager = make_user(role=Role.MANAGER, username="boss")
        self.outsider_reviewer = make_user(role=Role.REVIEWER, project=make_project(), username="rev2")

    def client(self, user):
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    def response(self, text=TEXT):
        return make_response(self.project, text=text)


def next_task(client, project):
    answer = client.post(f"/api/tasks/next/?project={project.pk}")
    assert answer.status_code in (200, 204), answer.content
    return answer.json() if answer.status_code == 200 else None


def segment(start, end, category="object", replacement="dog"):
    return {"start": start, "end": end, "category": category, "replacement": replacement}
