"""The server-rendered pages without a browser: who sees which screen, and escaping."""
import json

import pytest
from django.urls import reverse

from tests.factories import make_project, make_response, make_user

pytestmark = pytest.mark.django_db


def test_home_lists_the_users_projects_with_links_by_role(client):
    """Annotators get Annotate; reviewers also Review; managers also the dashboard; other projects are not listed."""
    mine, theirs = make_project(name="mine"), make_project(name="theirs")
    annotator = make_user(role="annotator", project=mine)
    reviewer = make_user(role="reviewer", project=mine)
    client.force_login(annotator)
    page = client.get(reverse("home")).content.decode()
    assert "mine" in page and "theirs" not in page
    assert reverse("annotate", args=[mine.id]) in page and reverse("review", args=[mine.id]) not in page
    client.force_login(reviewer)
    page = client.get(reverse("home")).content.decode()
    assert reverse("annotate", args=[mine.id]) in page and reverse("review", args=[mine.id]) in page
    assert reverse("annotate", args=[theirs.id]) not in page
    assert reverse("dashboard", args=[mine.id]) not in page
    client.force_login(make_user(role="manager"))
    assert reverse("dashboard", args=[theirs.id]) in client.get(reverse("home")).content.decode()


def test_home_counts_the_answers_sent_back_to_the_annotator(client):
    """A rejected answer comes back to its annotator; home says so until it is fixed and resubmitted."""
    from annotate.services.review import annotation_reject
    from tests.annotate_api.helpers import Team, next_task, segment

    team = Team()
    team.response()
    client.force_login(team.annotator)
    assert "sent back to you" not in client.get(reverse("home")).content.decode()
    api = team.client(team.annotator)
    task = next_task(api, team.project)
    submitted = api.post("/api/annotations/", {"task": task["id"], "segments": [segment(2, 5)], "submit": True},
                         format="json").json()
    annotation_reject(reviewer=team.reviewer, annotation_id=submitted["id"], reason="not a dog")
    assert "1 sent back to you" in client.get(reverse("home")).content.decode()
    api.post("/api/annotations/", {"task": task["id"], "segments": [segment(2, 5, replacement="cat")], "submit": True},
             format="json")
    assert "sent back to you" not in client.get(reverse("home")).content.decode()


def test_home_cards_count_what_is_left_to_annotate_and_to_review(client):
    """The annotator's card: answers left to them and done by them; the reviewer's: answers waiting for review."""
    from tests.annotate_api.helpers import Team, next_task, segment

    team = Team()
    for _ in range(3):
        team.response()
    api = team.client(team.annotator)
    task = next_task(api, team.project)
    api.post("/api/annotations/", {"task": task["id"], "segments": [segment(2, 5)], "submit": True}, format="json")
    client.force_login(team.annotator)
    page = client.get(reverse("home")).content.decode()
    assert "2 to annotate" in page and "1 done by you" in page and "waiting for review" not in page
    client.force_login(team.reviewer)
    page = client.get(reverse("home")).content.decode()
    assert "1 answer waiting for review" in page and "2 to annotate" in page  # overlap 1: the done one is gone


def test_screens_need_a_login_and_a_membership(client):
    """Anonymous users go to the login page; outsiders get 404; annotators may not open the review screen."""
    project = make_project()
    annotator = make_user(role="annotator", project=project)
    outsider = make_user(role="annotator", project=make_project())
    annotate_url, review_url = reverse("annotate", args=[project.id]), reverse("review", args=[project.id])
    assert client.get(annotate_url).url.startswith(reverse("login"))
    client.force_login(outsider)
    assert client.get(annotate_url).status_code == 404
    client.force_login(annotator)
    assert client.get(annotate_url).status_code == 200
    assert client.get(review_url).status_code == 403


def test_manager_opens_both_screens(client):
    """Staff are managers everywhere, with no membership."""
    project = make_project()
    client.force_login(make_user(role="manager"))
    assert client.get(reverse("annotate", args=[project.id])).status_code == 200
    assert client.get(reverse("review", args=[project.id])).status_code == 200


def test_user_text_is_escaped_and_handed_to_the_script_as_json(client):
    """Project name, instructions and categories are escaped in the HTML and in the json_script payload."""
    payload = '<script>alert("x")</script>'
    project = make_project(name=payload, instructions=payload, categories=["object", payload])
    client.force_login(make_user(role="annotator", project=project))
    for url in (reverse("home"), reverse("annotate", args=[project.id])):
        page = client.get(url).content.decode()
        assert payload not in page
        assert "&lt;script&gt;" in page
    page = client.get(reverse("annotate", args=[project.id])).content.decode()
    data = page.split('<script id="page-data" type="application/json">')[1].split("</script>")[0]
    assert json.loads(data) == {"id": project.id, "name": payload, "categories": ["object", payload]}
    assert 'data-csrf="' in page


def test_media_serves_images_of_the_callers_projects_only(client, settings):
    """A member loads their project's image; outsiders, unknown names and non-image files (exports) are 404."""
    project = make_project()
    image = make_response(project).prompt.image
    export = settings.MEDIA_ROOT / "exports" / "1" / "secret.parquet"
    export.parent.mkdir(parents=True)
    export.write_bytes(b"PAR1")
    url = f"/media/{image.file.name}"
    client.force_login(make_user(role="annotator", project=make_project()))
    assert client.get(url).status_code == 404
    client.force_login(make_user(role="annotator", project=project))
    answer = client.get(url)
    assert answer.status_code == 200 and b"".join(answer.streaming_content) == image.file.open("rb").read()
    for name in ("exports/1/secret.parquet", "../../etc/passwd", "images/missing.png", "a%00b.png"):
        assert client.get(f"/media/{name}").status_code == 404, name
    client.force_login(make_user(role="manager"))
    assert client.get("/media/exports/1/secret.parquet").status_code == 404
    assert client.get(url).status_code == 200


def test_favicon_is_served_and_linked(client):
    """/favicon.ico sends anyone to the static icon, which exists; every page links it."""
    from django.contrib.staticfiles import finders

    answer = client.get("/favicon.ico")
    assert answer.status_code == 302 and answer.url.endswith("frontend/favicon.svg")
    assert finders.find("frontend/favicon.svg")
    assert 'rel="icon" href="/static/frontend/favicon.svg"' in client.get(reverse("login")).content.decode()


def test_the_playground_is_for_reviewers_and_managers(client):
    """Home links it for reviewers and managers, not annotators; an annotator gets 403, an outsider 404; the page
    hands its script the project's checkpoints (shared ones too) and images, escaped."""
    from annotate.models import Prompt
    from tests.factories import make_image
    from training.models import ModelCheckpoint

    project = make_project()
    Prompt.objects.create(project=project, image=make_image(), question="Describe the image.")
    ModelCheckpoint.objects.create(project=project, name="</script><b>run</b>", path="/nowhere", is_active=True)
    ModelCheckpoint.objects.create(project=None, name="base", path="/nowhere/base")
    url = reverse("playground", args=[project.id])
    client.force_login(make_user(role="annotator", project=project))
    assert url not in client.get(reverse("home")).content.decode()
    assert client.get(url).status_code == 403
    client.force_login(make_user(role="annotator", project=make_project()))
    assert client.get(url).status_code == 404
    client.force_login(make_user(role="reviewer", project=project))
    assert url in client.get(reverse("home")).content.decode()
    page = client.get(url)
    assert page.status_code == 200 and "<b>run</b>" not in page.content.decode()
    data = json.loads(page.content.decode().split('id="page-data" type="application/json">')[1].split("</script>")[0])
    assert [(c["name"], c["is_active"]) for c in data["checkpoints"]] == [("base", False), ("</script><b>run</b>", True)]
    assert len(data["images"]) == 1 and data["images"][0]["url"].startswith("/media/")
