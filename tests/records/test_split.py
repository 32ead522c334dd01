"""The held-out split: deterministic per response (or imported row), kept by rebuilds and share changes, never
trained on."""
import io

import pytest
from django.db import IntegrityError, transaction

from annotate.models import Annotation, PreferenceRecord, Project, RecordSplit, Segment
from annotate.services import dataset_import, record_sync
from annotate.splits import HELDOUT, TRAIN, record_split, record_split_key
from tests.exchange.helpers import rlhfv_parquet, rlhfv_row
from tests.factories import make_project, make_response, make_user
from tests.records.conftest import RED_TO_GREEN
from training.selectors import heldout_records, projects_due_for_training, training_records


def test_record_split_is_a_pure_function_of_the_key_near_its_share():
    """The same key always lands on the same side; about ``percent`` in 100 keys are held out; 0 holds out none."""
    keys = [record_split_key(response_id=i) for i in range(4000)]
    sides = [record_split(key, 5) for key in keys]
    assert sides == [record_split(key, 5) for key in keys]
    assert 150 <= sides.count(HELDOUT) <= 250  # 5% of 4000 = 200, binomial sd ~14
    assert {record_split(key, 0) for key in keys} == {TRAIN}
    # A larger share only adds keys to the held-out side: none held out at 5% trains at 10%.
    assert all(record_split(key, 10) == HELDOUT for key, side in zip(keys, sides) if side == HELDOUT)
    assert record_split_key(response_id=7, import_key="abc") == "import:abc"
    with pytest.raises(ValueError):
        record_split_key()


def _response_with_side(project, side, text="There is a red circle and a blue square."):
    """A fresh response of ``project`` whose records the split puts on ``side``."""
    while True:
        response = make_response(project, text=text)
        if record_split(record_split_key(response_id=response.pk), project.heldout_percent) == side:
            return response


def _annotate(response, slot, segments=(RED_TO_GREEN,)):
    annotator = make_user(role="annotator", project=response.prompt.project)
    annotation = Annotation.objects.create(task=response.tasks.get(slot=slot), annotator=annotator, status="accepted")
    Segment.objects.bulk_create(Segment(annotation=annotation, **segment) for segment in segments)
    return record_sync(annotation_id=annotation.pk)


@pytest.mark.django_db
def test_every_record_of_a_response_and_every_rebuild_stays_on_its_side():
    """The k annotations of one answer share its side; a rebuilt record and a changed share move nothing."""
    project = make_project(overlap=2, heldout_percent=50)
    held = _response_with_side(project, HELDOUT)
    first = _annotate(held, 0)
    assert first.split == RecordSplit.HELDOUT
    Project.objects.filter(pk=project.pk).update(heldout_percent=0)  # no new response would be held out now
    second = _annotate(held, 1)
    assert second.split == RecordSplit.HELDOUT  # follows its answer's first record
    annotation = first.annotation
    annotation.segments.update(replacement="yellow")
    annotation.version += 1
    annotation.save()
    rebuilt = record_sync(annotation_id=annotation.pk)
    assert rebuilt.pk == first.pk and rebuilt.version == 2 and rebuilt.split == RecordSplit.HELDOUT
    fresh = make_response(Project.objects.get(pk=project.pk), text=held.text)
    assert _annotate(fresh, 0).split == RecordSplit.TRAIN


@pytest.mark.django_db
def test_training_takes_no_held_out_record_and_evaluation_takes_only_those():
    """training_records leaves held-out records out, heldout_records returns them (and only the active ones);
    held-out records do not count towards the auto-train threshold."""
    from training.models import ModelCheckpoint

    project = make_project(heldout_percent=50, auto_train_threshold=2)
    ModelCheckpoint.objects.create(project=project, name="base", path="/x", is_active=True)
    trained = [_annotate(_response_with_side(project, TRAIN), 0) for _ in range(2)]
    held = [_annotate(_response_with_side(project, HELDOUT), 0) for _ in range(3)]
    assert [r["id"] for r in training_records(project=project)] == [str(r.pk) for r in trained]
    assert [r["id"] for r in heldout_records(project=project)] == [str(r.pk) for r in held]
    assert [r["id"] for r in heldout_records(project=project, limit=2)] == [str(r.pk) for r in held[:2]]
    PreferenceRecord.objects.filter(pk=trained[0].pk).update(status="retired")
    assert projects_due_for_training() == []  # one training record, three held out: below the threshold of 2


@pytest.mark.django_db
def test_an_imported_row_lands_where_its_content_hash_says_every_time():
    """Imported rows are split by their import key: the same file imported into two projects splits alike."""
    rows = [rlhfv_row(i) for i in range(40)]
    sides = []
    for _ in range(2):
        project = make_project(heldout_percent=30)
        dataset_import(project=project, file=io.BytesIO(rlhfv_parquet(rows)))
        records = PreferenceRecord.objects.filter(project=project).order_by("import_key")
        assert all(r.split == record_split(record_split_key(import_key=r.import_key), 30) for r in records)
        sides.append([r.split for r in records])
    assert sides[0] == sides[1] and set(sides[0]) == {TRAIN, HELDOUT}


@pytest.mark.django_db
def test_the_share_and_the_side_are_checked_by_the_database():
    project = make_project()
    with pytest.raises(IntegrityError), transaction.atomic():
        Project.objects.filter(pk=project.pk).update(heldout_percent=51)
    with pytest.raises(IntegrityError), transaction.atomic():
        PreferenceRecord.objects.create(project=project, question="q", chosen="a", rejected="b", split="test")
