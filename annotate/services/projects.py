"""Projects: create one, change its annotation settings (name, instructions, categories, overlap, lease...).

The training side of a project's settings (gamma, beta, training config, the
loop) is ``training.project_settings``, which calls ``project_update`` here in
the same transaction.

A new ``overlap`` applies to answers queued afterwards (existing slots stay);
a new record trigger or policy marks the annotations it concerns for the
records sweep, as the admin does.

Categories: at most nine (the annotator marks with keys 1-9, by position, so
reordering changes the keys). A category that segments of the project
already carry may not be removed or renamed: their records and exports keep
naming it; add a new one and reorder instead.
"""
from django.db import IntegrityError, transaction
from django.db.models import Count

from annotate.models import Membership, Project, Role, Segment
from annotate.services.records import project_records_resync
from config.errors import ApplicationError

MAX_OVERLAP = 100  # annotators per answer
MAX_LEASE_MINUTES = 7 * 24 * 60
MAX_CATEGORIES = 9  # the annotator's number keys 1-9
CATEGORY_MAX_CHARS = Segment._meta.get_field("category").max_length
MAX_INSTRUCTIONS_CHARS = 20_000  # shown (rendered) on every annotation page
# What ``project_update`` sets; the rest of a project's fields belong to training.project_settings.
PROJECT_FIELDS = ("name", "instructions", "categories", "overlap", "lease_minutes", "record_trigger",
                  "record_policy", "consensus_threshold", "heldout_percent", "max_rewrite_chars")


def categories_clean(categories) -> list[str]:
    """The categories as given, stripped; 400 naming ``categories`` unless 1-9 distinct non-empty names."""
    if not isinstance(categories, list) or not all(isinstance(name, str) for name in categories):
        raise ApplicationError("categories must be a list of names.", fields={"categories": ["Expected a list of names."]})
    if len(categories) > MAX_CATEGORIES:  # before the checks below, which are quadratic in the list
        problem = f"Give 1 to {MAX_CATEGORIES} categories (annotators mark them with keys 1-9); got {len(categories)}."
        raise ApplicationError(f"Invalid categories: {problem}", fields={"categories": [problem]})
    names = [name.strip() for name in categories]
    problems = []
    if not 1 <= len(names) <= MAX_CATEGORIES:
        problems.append(f"Give 1 to {MAX_CATEGORIES} categories (annotators mark them with keys 1-9); got {len(names)}.")
    if any(not name for name in names):
        problems.append("A category needs a name.")
    problems += [f"“{name[:20]}…” is longer than {CATEGORY_MAX_CHARS} characters."
                 for name in names if len(name) > CATEGORY_MAX_CHARS]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        problems.append(f"Each category once: {', '.join(duplicates)} repeated.")
    if problems:
        raise ApplicationError(f"Invalid categories: {' '.join(problems)}", fields={"categories": problems})
    return names


def categories_in_use(*, project) -> dict[str, int]:
    """``{category: segments}`` of the project's annotations."""
    counts = (Segment.objects.filter(annotation__task__project=project).order_by().values("category")
              .annotate(n=Count("id")).values_list("category", "n"))
    return dict(counts)


def _categories_check_kept(*, project, categories):
    missing = {name: count for name, count in categories_in_use(project=project).items() if name not in categories}
    if missing:
        problems = [f"“{name}” is used by {count} segment{'s' if count != 1 else ''}: it cannot be removed or renamed."
                    for name, count in sorted(missing.items())]
        raise ApplicationError(" ".join(problems), fields={"categories": problems})


def _instructions_check(instructions):
    if len(instructions or "") > MAX_INSTRUCTIONS_CHARS:
        problem = f"{len(instructions)} characters; the limit is {MAX_INSTRUCTIONS_CHARS}."
        raise ApplicationError(f"The instructions are too long: {problem}", fields={"instructions": [problem]})


def _project_save(project, update_fields=None):
    try:
        with transaction.atomic():
            project.full_clean(exclude=["members"], validate_unique=True)
            project.save(update_fields=update_fields)
    except IntegrityError as exc:  # a name taken meanwhile
        raise ApplicationError("A project of that name exists already.", fields={"name": [str(exc)[:200]]}) from exc


@transaction.atomic
def project_create(*, user, name, **fields) -> Project:
    """A new project, ``user`` its manager (a membership: staff are managers everywhere anyway)."""
    unknown = sorted(set(fields) - set(PROJECT_FIELDS) - {"gamma", "beta"})
    if unknown:
        raise ApplicationError(f"Not a project setting: {', '.join(unknown)}.", fields={n: ["Unknown."] for n in unknown})
    name = (name or "").strip()
    if Project.objects.filter(name__iexact=name).exists():
        raise ApplicationError(f"A project named {name!r} exists already.", fields={"name": ["This name is taken."]})
    if "categories" in fields:
        fields["categories"] = categories_clean(fields["categories"])
    _instructions_check(fields.get("instructions"))
    project = Project(name=name, **fields)
    _project_save(project)
    Membership.objects.create(project=project, user=user, role=Role.MANAGER)
    return project


@transaction.atomic
def project_update(*, project, **changes) -> Project:
    """Set the project's annotation settings (``PROJECT_FIELDS``), validated by the model's constraints."""
    unknown = sorted(set(changes) - set(PROJECT_FIELDS))
    if unknown:
        raise ApplicationError(f"Not a project setting: {', '.join(unknown)}.", fields={n: ["Unknown."] for n in unknown})
    project = Project.objects.select_for_update().get(pk=project.pk)
    if "name" in changes:
        changes["name"] = (changes["name"] or "").strip()
        if Project.objects.filter(name__iexact=changes["name"]).exclude(pk=project.pk).exists():
            raise ApplicationError(f"A project named {changes['name']!r} exists already.",
                                   fields={"name": ["This name is taken."]})
    if "categories" in changes:
        changes["categories"] = categories_clean(changes["categories"])
        _categories_check_kept(project=project, categories=changes["categories"])
    _instructions_check(changes.get("instructions"))
    changed = {name for name, value in changes.items() if getattr(project, name) != value}
    for name, value in changes.items():
        setattr(project, name, value)
    if changes:
        _project_save(project, update_fields=list(changes))
    # As the admin does: the annotations whose record the new rule builds differently are due for the sweep.
    policy_changed = bool({"record_policy", "consensus_threshold"} & changed)
    if "record_trigger" in changed or policy_changed:
        project_records_resync(project_id=project.pk, policy_changed=policy_changed)
    return project
