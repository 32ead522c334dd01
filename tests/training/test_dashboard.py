"""The manager dashboard: who may open it, its launch form's data, (in Chromium) charts, launch, cancel, activate."""
import json
import re

import pytest
from django.urls import reverse

from annotate.models import ExportJob, Role
from tests.browser.conftest import browser, log_in, screenshot, watched  # noqa: F401 (fixtures)
from tests.factories import make_project, make_user
from jobs.models import JobStatus
from training.ddpo.config import DDPOConfig
from training.models import GenerationBatch, ModelCheckpoint, TrainingMetric, TrainingRun


@pytest.mark.django_db
def test_only_managers_open_the_dashboard(client):
    """Staff and project managers get the page; reviewers 403; outsiders 404; anonymous users log in."""
    project = make_project()
    url = reverse("dashboard", args=[project.id])
    assert client.get(url).url.startswith(reverse("login"))
    client.force_login(make_user(role=Role.REVIEWER, project=project))
    assert client.get(url).status_code == 403
    client.force_login(make_user(role=Role.ANNOTATOR, project=make_project()))
    assert client.get(url).status_code == 404
    member_manager = make_user(role=Role.MANAGER, project=project)
    client.force_login(member_manager)
    page = client.get(url)
    assert page.status_code == 200 and b"frontend/dashboard.js" in page.content


@pytest.mark.django_db
def test_launch_form_defaults_and_bounds_come_from_the_server(client):
    """The form's values are the project's resolved settings, its mins DDPOConfig's bounds; the HTML holds neither."""
    project = make_project(gamma=3.0, beta=0.2)
    client.force_login(make_user(role=Role.MANAGER))
    html = client.get(reverse("dashboard", args=[project.id])).content.decode()
    page_data = re.search(r'<script id="page-data" type="application/json">(.*?)</script>', html).group(1)
    launch = json.loads(page_data)["launch"]
    defaults = DDPOConfig(model="-", output_dir="-")
    assert launch["gamma"] == {"value": 3.0, "min": 1.0} and launch["beta"] == {"value": 0.2, "min": 0}
    assert launch["learning_rate"] == {"value": defaults.learning_rate, "min": 0}  # > 0: the API's 400 says so
    assert launch["epochs"] == {"value": defaults.epochs, "min": 1} and launch["batch_size"]["min"] == 1
    form = re.search(r'<form class="grid" id="launch-form">.*?</form>', html, re.S).group(0)
    assert set(re.findall(r'<input type="number" name="(\w+)"', form)) == set(launch)
    assert " min=" not in form and " value=\"" not in form.replace('<option value="">', "")


@pytest.mark.slow
@pytest.mark.browser
def test_dashboard_charts_launch_cancel_activate(watched, live_server):
    """A finished run draws its metric charts; the form launches a run, Cancel stops it, Activate moves the flag."""
    page = watched.page
    project = make_project(gamma=3.0)
    base = ModelCheckpoint.objects.create(project=project, name="bootstrap", path="/nowhere/base", is_active=True)
    done = TrainingRun.objects.create(project=project, base_checkpoint=base, status=JobStatus.SUCCEEDED,
                                      step=3, total_steps=3, progress=1.0)
    for step in (1, 2, 3):
        TrainingMetric.objects.create(run=done, step=step, values={
            "loss": 0.7 - step / 10, "rewards/accuracies": step / 3, "rewards/chosen": step / 5, "rewards/rejected": -step / 5})
    trained = ModelCheckpoint.objects.create(project=project, name="round 1", path="/nowhere/r1", parent=base,
                                             produced_by=done, eval_metrics={"coverage": 0.93})
    log_in(page, make_user(role=Role.MANAGER), then=reverse("dashboard", args=[project.id]))
    page.wait_for_selector("#charts .chart svg path")
    assert page.locator("#charts .chart").count() == 3  # loss, accuracy, rewards (chosen + rejected)
    assert page.input_value("#launch-form input[name=gamma]") == "3"
    assert page.get_attribute("#launch-form input[name=gamma]", "min") == "1"
    assert float(page.input_value("#launch-form input[name=learning_rate]")) == DDPOConfig.learning_rate
    assert "Objects covered\t93.0%" in page.inner_text("#checkpoint-figures")
    screenshot(page, "training-dashboard")
    page.set_viewport_size({"width": 900, "height": 900})  # tables scroll inside their cards, not the page
    assert page.evaluate("document.documentElement.scrollWidth") <= 900
    page.set_viewport_size({"width": 1440, "height": 900})

    page.fill("#launch-form input[name=epochs]", "2")
    page.click("#launch-form button[type=submit]")
    page.wait_for_selector("#runs tr:has-text('queued')")
    run = TrainingRun.objects.exclude(pk=done.pk).get()
    assert run.config["epochs"] == 2 and run.config["gamma"] == 3.0 and run.base_checkpoint == base
    page.click(f"#runs tr[data-run='{run.pk}'] button:has-text('Cancel')")
    page.wait_for_selector(f"#runs tr[data-run='{run.pk}']:has-text('cancelled')")

    batch = GenerationBatch.objects.create(project=project, checkpoint=base, prompt_count=1)
    page.reload()
    page.click("#batches tr button:has-text('Cancel')")
    page.wait_for_selector("#batches tr:has-text('cancelled')")
    assert GenerationBatch.objects.get(pk=batch.pk).status == JobStatus.CANCELLED

    page.click("#checkpoints tr:has-text('round 1') button:has-text('Activate')")
    page.wait_for_selector("#checkpoints tr:has-text('round 1') .badge.ok")
    assert ModelCheckpoint.objects.get(is_active=True) == trained

    page.check("#export-form input[name=include_segments]")
    page.click("#export-form button[type=submit]")
    page.wait_for_selector("#exports tr:has-text('rlhfv-parquet')")
    job = ExportJob.objects.get()
    assert job.project == project and job.format == "rlhfv-parquet"
