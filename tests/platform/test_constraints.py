"""The database itself refuses rows that break the data model's rules."""
import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from annotate.models import Annotation, Project, Segment
from tests.factories import make_project, make_response, make_user
from training.ddpo.config import DDPOConfig

pytestmark = pytest.mark.django_db


def _annotation():
    project = make_project()
    response = make_response(project)
    user = make_user(role="annotator", project=project)
    return Annotation.objects.create(task=response.tasks.get(), annotator=user)


def test_segment_negative_start_refused():
    """A segment cannot start before the text."""
    annotation = _annotation()
    with pytest.raises(IntegrityError), transaction.atomic():
        Segment.objects.create(annotation=annotation, start=-1, end=2, category="object")


def test_segment_end_before_start_refused():
    """A segment cannot end before it starts."""
    annotation = _annotation()
    with pytest.raises(IntegrityError), transaction.atomic():
        Segment.objects.create(annotation=annotation, start=5, end=4, category="object")


def test_insertion_segment_allowed():
    """start == end is an insertion, a valid segment."""
    annotation = _annotation()
    Segment.objects.create(annotation=annotation, start=3, end=3, category="object", replacement="big ")
    assert annotation.segments.count() == 1


def test_second_annotation_by_same_annotator_on_task_refused():
    """One annotation per task and annotator."""
    annotation = _annotation()
    with pytest.raises(IntegrityError), transaction.atomic():
        Annotation.objects.create(task=annotation.task, annotator=annotation.annotator)


def test_project_overlap_must_be_positive():
    """Each response needs at least one annotator."""
    with pytest.raises(IntegrityError), transaction.atomic():
        Project.objects.create(name="zero", overlap=0)


@pytest.mark.parametrize("fields", [{"gamma": 0.5}, {"gamma": 0.999}, {"gamma": float("inf")}, {"gamma": float("nan")},
                                    {"beta": 0.0}, {"beta": -1.0}, {"beta": float("inf")}, {"beta": float("nan")}])
def test_project_training_defaults_that_ddpo_refuses_are_refused(fields):
    """A project's gamma and beta default every run: the database refuses what DDPOConfig refuses."""
    with pytest.raises((TypeError, ValueError)):  # as training_run_create checks a run's settings
        DDPOConfig.from_dict({"model": "-", "output_dir": "-", **fields})
    with pytest.raises(IntegrityError), transaction.atomic():
        Project.objects.create(name="bad", **fields)


def test_admin_form_names_the_refused_gamma():
    """Model validation (the admin's form runs it) says why gamma 0.5 is refused, before any run uses it."""
    with pytest.raises(ValidationError, match="gamma must be a finite number >= 1"):
        Project(name="low", gamma=0.5).validate_constraints()


def test_project_training_defaults_at_ddpo_bounds_allowed():
    """gamma 1 (plain DPO weights) and the smallest positive beta pass both DDPOConfig and the database."""
    DDPOConfig.from_dict({"model": "-", "output_dir": "-", "gamma": 1.0, "beta": 5e-324})
    assert Project.objects.create(name="edge", gamma=1.0, beta=5e-324).gamma == 1.0


def test_lease_holder_without_expiry_refused():
    """A lease always has an expiry."""
    project = make_project()
    task = make_response(project).tasks.get()
    task.leased_to = make_user()
    with pytest.raises(IntegrityError), transaction.atomic():
        task.save()
