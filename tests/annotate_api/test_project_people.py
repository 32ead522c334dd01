"""Projects and people for managers: create a project, its settings, its members; managers are a role per project."""
import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from annotate.markdown import markdown_to_html
from annotate.models import Membership, Project, Role
from tests.factories import make_project, make_user

pytestmark = pytest.mark.django_db

STRONG = "quiet-harbour-lantern-42"


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def two_projects():
    a, b = make_project(name="A"), make_project(name="B")
    return a, b, make_user(role=Role.MANAGER, project=a), make_user(role=Role.MANAGER, project=b)


def _project_urls(project, user):
    return [("get", f"/api/projects/{project.pk}/"), ("patch", f"/api/projects/{project.pk}/"),
            ("get", f"/api/projects/{project.pk}/members/"), ("post", f"/api/projects/{project.pk}/members/"),
            ("patch", f"/api/projects/{project.pk}/members/{user.pk}/"),
            ("delete", f"/api/projects/{project.pk}/members/{user.pk}/"),
            ("get", f"/api/projects/{project.pk}/loop/"), ("get", f"/api/training-runs/?project={project.pk}")]


def test_a_manager_of_one_project_is_not_staff_and_gets_404_on_another(two_projects, client):
    """A manager of A is no administrator: everything of B answers 404 (API and pages), /admin/ is closed."""
    a, b, manager_a, manager_b = two_projects
    assert not manager_a.is_staff
    api = client_for(manager_a)
    assert api.post(f"/api/projects/{b.pk}/uploads/", {}, format="multipart").status_code == 404
    assert api.post("/api/checkpoints/", {"project": b.pk, "path": "llava"}, format="json").status_code == 404
    for method, url in _project_urls(b, manager_b):
        answer = getattr(api, method)(url, {"role": "annotator", "username": "x"}, format="json")
        if "training-runs" in url:  # a list filtered to the caller's projects
            assert answer.json()["results"] == []
        else:
            assert answer.status_code == 404, (method, url, answer.status_code)
    assert manager_b.memberships.get().role == Role.MANAGER  # nothing changed
    client.force_login(manager_a)
    for page in ("settings", "members", "upload", "models", "playground", "dashboard", "analytics", "annotate",
                 "review"):
        assert client.get(f"/projects/{b.pk}/{page}/").status_code == 404, page
    assert client.get(f"/projects/{a.pk}/settings/").status_code == 200
    assert client.get(f"/projects/{a.pk}/members/").status_code == 200
    assert client.get("/admin/").status_code == 302  # to the admin's login: staff only


def test_an_annotator_cannot_reach_settings_or_members(two_projects, client):
    """A member without the manager role gets 403; an outsider 404 (API and pages)."""
    a, b, manager_a, _ = two_projects
    annotator = make_user(role=Role.ANNOTATOR, project=a)
    api = client_for(annotator)
    for method, url in _project_urls(a, manager_a)[:6]:
        assert getattr(api, method)(url, {"role": "manager", "username": annotator.username},
                                    format="json").status_code == 403, (method, url)
        assert getattr(api, method)(url.replace(f"/{a.pk}/", f"/{b.pk}/"), {}, format="json").status_code == 404
    assert api.post("/api/projects/", {"name": "mine"}, format="json").status_code == 403
    for target, status in ((a, 403), (b, 404)):
        assert api.post(f"/api/projects/{target.pk}/uploads/", {}, format="multipart").status_code == status
        # The checkpoints API is for those who manage some project: 403 before any project is looked up.
        assert api.post("/api/checkpoints/", {"project": target.pk, "path": "llava"},
                        format="json").status_code == 403
    client.force_login(annotator)
    for page in ("settings", "members", "upload", "models"):
        assert client.get(f"/projects/{a.pk}/{page}/").status_code == 403
        assert client.get(f"/projects/{b.pk}/{page}/").status_code == 404
    assert client.get("/projects/new/").status_code == 403
    assert "New project" not in client.get("/").content.decode()
    assert Membership.objects.get(user=annotator).role == Role.ANNOTATOR


def test_a_manager_creates_a_project_and_manages_it(two_projects):
    """The creator becomes the new project's manager; a taken name or bad field is a 400 naming it."""
    _, _, manager_a, _ = two_projects
    api = client_for(manager_a)
    created = api.post("/api/projects/", {"name": "C", "categories": ["object", "colour"]}, format="json")
    assert created.status_code == 201, created.content
    project = Project.objects.get(pk=created.json()["id"])
    assert project.categories == ["object", "colour"]
    assert Membership.objects.get(project=project).user == manager_a
    taken = api.post("/api/projects/", {"name": "c"}, format="json")
    assert taken.status_code == 400 and "name" in taken.json()["fields"]
    bad = api.post("/api/projects/", {"name": "D", "overlap": 0}, format="json")
    assert bad.status_code == 400 and "overlap" in bad.json()["fields"]
    assert not Project.objects.filter(name="D").exists()
    admin = make_user(role=Role.MANAGER)  # staff: an administrator of every project
    assert client_for(admin).post("/api/projects/", {"name": "E"}, format="json").status_code == 201
    assert client_for(admin).patch(f"/api/projects/{project.pk}/", {"overlap": 2}, format="json").status_code == 200


def test_settings_patch_validates_each_field_and_stores_nothing_on_refusal(two_projects):
    """Every setting in one PATCH; a refusal names its field and leaves the project as it was."""
    a, _, manager_a, _ = two_projects
    api = client_for(manager_a)
    body = {"instructions": "# Hi\n<script>alert(1)</script> **bold**", "categories": ["object", "number", "colour"],
            "overlap": 2, "lease_minutes": 15, "record_trigger": "submit", "auto_train_threshold": 40, "gamma": 2.5,
            "beta": 0.2, "training_config": {"learning_rate": 1e-5, "epochs": 2}, "next_batch_size": 50,
            "promotion_policy": "manual", "promotion_margin": 0.05}
    answer = api.patch(f"/api/projects/{a.pk}/", body, format="json")
    assert answer.status_code == 200, answer.content
    a.refresh_from_db()
    assert (a.overlap, a.lease_minutes, a.record_trigger, a.gamma, a.beta, a.next_batch_size, a.promotion_policy) == (
        2, 15, "submit", 2.5, 0.2, 50, "manual")
    assert a.training_config == {"learning_rate": 1e-5, "epochs": 2}
    assert "<script>" not in answer.json()["instructions_html"]
    assert "&lt;script&gt;" in answer.json()["instructions_html"]
    for field, value in [("overlap", 0), ("lease_minutes", 0), ("gamma", 0.5), ("beta", 0), ("promotion_policy", "x"),
                         ("next_batch_size", 0), ("categories", []), ("categories", ["a", "a"]),
                         ("categories", [str(n) for n in range(10)]), ("training_config", {"epochs": 0}),
                         ("training_config", {"nope": 1}), ("record_trigger", "never"), ("name", "B"),
                         ("promotion_margin", 2), ("instructions", "x" * 20_001),
                         ("categories", ["c"] * 100_000)]:
        refused = api.patch(f"/api/projects/{a.pk}/", {"auto_train_threshold": 99, field: value}, format="json")
        assert refused.status_code == 400, (field, value, refused.content)
        assert field in refused.json()["fields"], (field, refused.json())
    a.refresh_from_db()
    assert a.auto_train_threshold == 40 and a.overlap == 2 and a.categories == ["object", "number", "colour"] and a.name == "A"


def test_a_category_in_use_cannot_be_removed_or_renamed(two_projects):
    """Segments keep their category: removing or renaming one in use is refused; reorder and add are fine."""
    from annotate.models import Annotation, AnnotationTask, Segment
    from tests.factories import make_response

    a, _, manager_a, _ = two_projects
    response = make_response(a)
    task = AnnotationTask.objects.get(response=response)
    annotation = Annotation.objects.create(task=task, annotator=manager_a, status="submitted")
    Segment.objects.create(annotation=annotation, start=0, end=1, category="object", replacement="x")
    api = client_for(manager_a)
    for categories in (["thing", "number"], ["number"]):
        refused = api.patch(f"/api/projects/{a.pk}/", {"categories": categories}, format="json")
        assert refused.status_code == 400 and "“object” is used by 1 segment" in refused.json()["fields"]["categories"][0]
    moved = api.patch(f"/api/projects/{a.pk}/", {"categories": ["number", "object", "colour"]}, format="json")
    assert moved.status_code == 200 and moved.json()["categories"] == ["number", "object", "colour"]


def test_members_add_create_change_and_remove(two_projects):
    """Add by username, create an account (validators apply), change a role, remove; the last manager stays."""
    a, _, manager_a, manager_b = two_projects
    api = client_for(manager_a)
    url = f"/api/projects/{a.pk}/members/"
    added = api.post(url, {"username": manager_b.username, "role": "reviewer"}, format="json")
    assert added.status_code == 201 and added.json()["role"] == "reviewer"
    unknown = api.post(url, {"username": "ghost", "role": "annotator"}, format="json")
    assert unknown.status_code == 400 and "username" in unknown.json()["fields"]
    created = api.post(url, {"username": "newbie", "role": "annotator", "password": STRONG}, format="json")
    assert created.status_code == 201, created.content
    newbie = authenticate(username="newbie", password=STRONG)
    assert newbie is not None and not newbie.is_staff
    taken = api.post(url, {"username": manager_b.username, "role": "annotator", "password": STRONG}, format="json")
    assert taken.status_code == 400 and "username" in taken.json()["fields"]
    promoted = api.patch(f"{url}{newbie.pk}/", {"role": "manager"}, format="json")
    assert promoted.status_code == 200 and promoted.json()["role"] == "manager"
    assert not get_user_model().objects.get(pk=newbie.pk).is_staff
    assert api.delete(f"{url}{manager_b.pk}/").status_code == 204
    assert api.patch(f"{url}{newbie.pk}/", {"role": "annotator"}, format="json").status_code == 200
    last = api.patch(f"{url}{manager_a.pk}/", {"role": "annotator"}, format="json")
    assert last.status_code == 409 and "role" in last.json()["fields"]
    assert api.delete(f"{url}{manager_a.pk}/").status_code == 409
    assert [m["username"] for m in api.get(url).json()] == [manager_a.username, "newbie"]


@pytest.mark.parametrize("password,message", [("short", "too short"), ("password123", "too common"),
                                              ("83719204655", "entirely numeric"), ("newbie123", "too similar")])
def test_a_weak_password_is_refused_with_djangos_messages(two_projects, password, message):
    """Django's validators: the 400 names ``password`` with their messages, and no account is made."""
    a, _, manager_a, _ = two_projects
    refused = client_for(manager_a).post(f"/api/projects/{a.pk}/members/",
                                         {"username": "newbie", "role": "annotator", "password": password}, format="json")
    assert refused.status_code == 400
    assert any(message in problem for problem in refused.json()["fields"]["password"]), refused.json()
    assert not get_user_model().objects.filter(username="newbie").exists()


def test_create_team_never_changes_an_existing_user(capsys):
    """An existing user is skipped (not added, password and flags unchanged); managers are not staff."""
    call_command("create_team", "--project", "first", "--password", "one-harbour-pass")
    first = Project.objects.get(name="first")
    manager = get_user_model().objects.get(username="manager1")
    assert not manager.is_staff and Membership.objects.get(user=manager).project == first
    call_command("create_team", "--project", "second", "--password", "two-harbour-pass", "--annotators", "3")
    output = capsys.readouterr().out
    assert "annotator1 SKIPPED" in output and "annotator3 / two-harbour-pass" in output
    second = Project.objects.get(name="second")
    assert list(second.memberships.values_list("user__username", flat=True)) == ["annotator3"]
    assert authenticate(username="annotator1", password="one-harbour-pass") is not None
    assert Membership.objects.filter(user__username="annotator1").count() == 1
    call_command("create_team", "--project", "first", "--password", "one-harbour-pass")
    assert "member already" in capsys.readouterr().out
    call_command("create_team", "--project", "second", "--password", "two-harbour-pass", "--prefix", "b-")
    assert second.memberships.filter(user__username="b-manager1", role=Role.MANAGER).exists()
    with pytest.raises(CommandError, match="too short"):
        call_command("create_team", "--project", "third", "--password", "x1")
    with pytest.raises(CommandError, match="too common"):
        call_command("create_team", "--project", "third", "--password", "password")
    assert not Project.objects.filter(name="third").exists()


def test_markdown_is_rendered_without_the_authors_html():
    """Raw HTML shows as text; links keep safe addresses only."""
    rendered = markdown_to_html('# Title\n\n<img src=x onerror="alert(1)"> *it* `<b>`\n\n- one\n- [ok](https://x.org)'
                                '\n- [bad](javascript:alert(1))\n\n```\n<script>\n```')
    assert "<img" not in rendered and "&lt;img" in rendered and "<script>" not in rendered
    assert "<h3>Title</h3>" in rendered and "<em>it</em>" in rendered and "<code>&lt;b&gt;</code>" in rendered
    assert '<a href="https://x.org" rel="nofollow noopener">ok</a>' in rendered
    assert "javascript" not in rendered.split("<a ")[-1].split(">")[0] and "<ul><li>one</li>" in rendered


def test_a_new_record_trigger_resyncs_the_records(two_projects):
    """As in the admin: a submitted annotation becomes due for the records sweep when the trigger changes."""
    from annotate.models import Annotation, AnnotationTask
    from tests.factories import make_response

    a, _, manager_a, _ = two_projects
    task = AnnotationTask.objects.get(response=make_response(a))
    annotation = Annotation.objects.create(task=task, annotator=manager_a, status="submitted", record_synced_version=1)
    api = client_for(manager_a)
    assert api.patch(f"/api/projects/{a.pk}/", {"instructions": "x"}, format="json").status_code == 200
    annotation.refresh_from_db()
    assert annotation.record_synced_version == 1
    assert api.patch(f"/api/projects/{a.pk}/", {"record_trigger": "submit"}, format="json").status_code == 200
    annotation.refresh_from_db()
    assert annotation.record_synced_version == 0
