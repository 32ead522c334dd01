"""The dashboard's figures in Chromium: the annotators' verdict chart, checkpoint metrics as named figures, one
number format for steps and settings, and a favicon."""
import pytest
from django.urls import reverse

from annotate.models import AnnotationStatus, Role
from jobs.models import JobStatus
from tests.browser.conftest import log_in, screenshot
from tests.factories import make_judged_response, make_project, make_user
from training.models import ModelCheckpoint, TrainingMetric, TrainingRun

pytestmark = [pytest.mark.slow, pytest.mark.browser]

JUDGE = {"responses": 500, "response_hallucination_rate": 0.1334, "mention_hallucination_rate": 0.05,
         "coverage": 0.93, "empty_rate": 0.0, "unparsed_rate": 0.002, "seconds": 12.5, "held_out": 500,
         "categories": {"object": {"mentions": 1318, "false": 86, "response_rate": 0.112}}}
HELDOUT = {"records": 40, "preference_accuracy": 0.725, "reward_margin": 0.41234,
           "rejected_changed_logp_delta": -1.5, "chosen_changed_logp_delta": 0.25}


def _project():
    project = make_project(overlap=2)
    one, two = make_user(role=Role.ANNOTATOR, project=project), make_user(role=Role.ANNOTATOR, project=project)
    base = ModelCheckpoint.objects.create(project=project, name="base", path="/nowhere/base", is_active=True,
                                          eval_metrics=JUDGE)
    round1 = ModelCheckpoint.objects.create(project=project, name="round 1", path="/nowhere/r1", parent=base,
                                            eval_metrics={"heldout": HELDOUT, "judge": {**JUDGE, "coverage": 0.95}})
    ok, no = AnnotationStatus.SUBMITTED, AnnotationStatus.REJECTED
    make_judged_response(project, base, "one two three four five", [(one, ok, ["object", "number"]), (two, ok, [])])
    make_judged_response(project, base, "six seven eight", [(one, ok, ["object"]), (two, no, ["object"])])
    make_judged_response(project, round1, "alpha beta gamma delta", [(one, ok, []), (two, ok, ["attribute"])])
    for lr, step in ((1e-5, 40), (5e-7, 12)):
        run = TrainingRun.objects.create(project=project, base_checkpoint=base, step=step, total_steps=40,
                                         progress=step / 40, config={"gamma": 5.0, "beta": 0.5, "learning_rate": lr},
                                         status=JobStatus.SUCCEEDED if step == 40 else JobStatus.FAILED)
        TrainingMetric.objects.bulk_create(TrainingMetric(run=run, step=s, values={"loss": 0.7 - s / 100, "lr": lr})
                                           for s in range(1, step + 1))
    return project, base, round1, run


def test_dashboard_shows_the_verdict_chart_and_named_figures(watched, live_server):
    """Verdict: a point with its interval per judged checkpoint and the figures by category; evaluation metrics
    as a table of named figures (rates as percentages, counts as integers), checkpoint and parent side by side;
    steps and γ / β / lr written one way; no request of the page answered 404."""
    page = watched.page
    project, base, round1, failed = _project()
    missing = []
    page.on("response", lambda response: missing.append(response.url) if response.status == 404 else None)
    log_in(page, make_user(role=Role.MANAGER), then=reverse("dashboard", args=[project.id]))
    page.wait_for_selector("#verdict-chart .verdict-point")
    assert page.locator("#verdict-chart .verdict-point").count() == 2
    assert page.locator("#verdict-chart .error-bar").count() == 2
    verdict = page.inner_text("#verdict-figures")
    assert "66.7%" in verdict and "50.0%" in verdict  # base: 2 of 3 judgements, round 1: 1 of 2
    assert "3 (2)" in verdict and "23.1" in verdict  # judgements (answers); 3 segments per (5 + 5 + 3) words
    assert "1 (2)" not in verdict and "attribute" in verdict and "number" in verdict

    page.wait_for_selector("#checkpoint-figures")
    figures = page.inner_text("#checkpoint-figures")
    for text in ("Preference accuracy", "72.5%", "Answers with a hallucination", "13.3%", "Objects covered",
                 "93.0%", "95.0%", "Object · mentions", "1,318", "Held-out records", "Records", "0.412"):
        assert text in figures, text
    header = page.locator("#checkpoint-figures thead th").all_inner_texts()
    assert header[1:] == [f"#{base.pk} base", f"#{round1.pk} round 1"]  # the parent left of its child
    assert "categories object mentions" not in page.inner_text("body")
    assert "Preference accuracy 72.5%" in page.inner_text("#checkpoints")

    runs = page.inner_text("#runs")
    assert "5 / 0.5 / 1e-5" in runs and "5 / 0.5 / 5e-7" in runs and "0.00001" not in runs
    page.click(f"#runs tr[data-run='{failed.pk}']")
    page.wait_for_selector("#run-title:has-text('step 12/40')")
    assert "12/40" in page.inner_text(f"#runs tr[data-run='{failed.pk}']")
    assert page.input_value("#launch-form input[name=learning_rate]").startswith(("1e-", "5e-"))
    screenshot(page, "dashboard-figures")
    watched.wait_idle()
    assert missing == []


def test_favicon_and_number_formats(watched, live_server):
    """/favicon.ico answers 200 (the static icon); the format helpers write steps, settings and figures one way."""
    page = watched.page
    answer = page.goto("/favicon.ico")
    assert answer.status == 200 and "svg" in answer.headers["content-type"]
    log_in(page, make_user(role=Role.MANAGER), then="/")
    formats = page.evaluate("""async () => {
        const f = await import("/static/frontend/js/format.js");
        return [f.formatLearningRate(0.00001), f.formatLearningRate(5e-7), f.formatLearningRate(2.5e-4),
                f.formatLearningRate(4.99873e-7, 3), f.formatNumber(5), f.formatNumber(0.5), f.formatNumber(0.693147),
                f.formatNumber(12345.6), f.formatNumber(-0.0000123), f.formatStep(12, 40), f.formatStep(0, 0),
                f.formatPercent(0.1334), f.formatCount(1318), f.formatCount(null)];
    }""")
    assert formats == ["1e-5", "5e-7", "2.5e-4", "5e-7", "5", "0.5", "0.693", "12,346", "-1.23e-5", "12/40", "0/?",
                       "13.3%", "1,318", "—"]
