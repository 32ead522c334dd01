"""The dashboard's run row in a real browser: a run sent again after a lost worker says which attempt it is."""
import pytest
from django.utils import timezone

from annotate.models import Role
from jobs.models import JobStatus
from tests.browser.conftest import log_in
from tests.factories import make_project, make_user
from training.models import ModelCheckpoint, TrainingRun, TrainingRunInterruption

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_resumed_run_shows_its_attempt_and_resumed_step(watched):
    project = make_project()
    base = ModelCheckpoint.objects.create(project=project, name="base", path="/nowhere", is_active=True)
    run = TrainingRun.objects.create(project=project, base_checkpoint=base, status=JobStatus.RUNNING, attempts=2,
                                     step=45, total_steps=100, heartbeat_at=timezone.now())
    TrainingRunInterruption.objects.create(run=run, attempt=1, at=timezone.now(), step=43, resumed_step=40,
                                           reason="worker lost (no heartbeat for 600 s)")
    first = TrainingRun.objects.create(project=project, base_checkpoint=base, status=JobStatus.SUCCEEDED)
    page = watched.page
    log_in(page, make_user(role=Role.MANAGER), then=f"/projects/{project.pk}/dashboard/")
    row = page.locator(f'#runs tr[data-run="{run.pk}"]')
    note = row.locator("small")
    assert note.text_content().strip() == "attempt 2/3, resumed at step 40"
    assert note.get_attribute("title") == "attempt 1: worker lost (no heartbeat for 600 s) at step 43"
    assert page.locator(f'#runs tr[data-run="{first.pk}"] small').count() == 0  # a first attempt says nothing
