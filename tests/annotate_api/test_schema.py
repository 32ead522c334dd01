"""The OpenAPI schema covers the annotation API and generates without warnings for its views."""
from drf_spectacular.drainage import GENERATOR_STATS

from annotate.apis import agreement, annotations, review, tasks

PATHS = [
    "/api/tasks/next/",
    "/api/tasks/{task_id}/",
    "/api/tasks/{task_id}/skip/",
    "/api/annotations/",
    "/api/annotations/{annotation_id}/",
    "/api/annotations/{annotation_id}/accept/",
    "/api/annotations/{annotation_id}/reject/",
    "/api/review/next/",
    "/api/projects/{project_id}/agreement/",
]
MODULES = [agreement, annotations, review, tasks]


def test_schema_lists_the_annotation_api_without_warnings(team):
    """GET /api/schema/ answers 200 with every path; no warning or error points into these views."""
    GENERATOR_STATS.reset()
    answer = team.client(team.annotator).get("/api/schema/?format=json")
    assert answer.status_code == 200
    schema = answer.json()
    assert set(PATHS) <= set(schema["paths"])
    assert "204" in schema["paths"]["/api/tasks/next/"]["post"]["responses"]
    names = [module.__name__.replace(".", "/") for module in MODULES]
    names += [name for module in MODULES for name in vars(module) if name.endswith(("Api", "Serializer"))]
    messages = list(GENERATOR_STATS._warn_cache) + list(GENERATOR_STATS._error_cache)
    assert [m for m in messages if any(name in m for name in names)] == []


def test_idempotency_key_is_documented_on_claim_draft_and_submit(team):
    """Claim, draft/submit (POST and PATCH) and skip list the optional Idempotency-Key header and its 422."""
    paths = team.client(team.annotator).get("/api/schema/?format=json").json()["paths"]
    for path, method in [("/api/tasks/next/", "post"), ("/api/annotations/", "post"),
                         ("/api/annotations/{annotation_id}/", "patch"), ("/api/tasks/{task_id}/skip/", "post")]:
        operation = paths[path][method]
        headers = [p for p in operation["parameters"] if p["in"] == "header" and p["name"] == "Idempotency-Key"]
        assert len(headers) == 1 and not headers[0].get("required", False), (path, method)
        assert "422" in operation["responses"], (path, method)
