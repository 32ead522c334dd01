"""The annotation side of the loop: what is shown, what annotators say, and the records it yields.

Offsets everywhere are Unicode code points of ``Response.text`` (Python ``str``
indices), half-open ``[start, end)``.
"""
import sys

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from annotate import splits
from jobs.models import Job

DEFAULT_CATEGORIES = ["object", "position", "number", "attribute", "action", "other"]


def default_categories():
    return list(DEFAULT_CATEGORIES)


class RecordTrigger(models.TextChoices):
    SUBMIT = "submit", "When an annotation is submitted"
    ACCEPT = "accept", "When a reviewer accepts it"


class RecordPolicy(models.TextChoices):
    """How the ``overlap`` judgements of one answer become records (``annotate.services.consensus``)."""

    EACH = "each", "Each accepted annotation is its own record"
    CONSENSUS = "consensus", "One record per answer from the agreed segments"


class PromotionPolicy(models.TextChoices):
    """What happens to a checkpoint once its evaluation is in (``training.promotion``)."""

    MANUAL = "manual", "Manual: a manager promotes"
    GATE = "gate", "Automatic when the evaluation passes the gate"
    ALWAYS = "always", "Always promote"


# The most prompts one automatic batch may take: the generation API's own bound on ``limit``.
MAX_BATCH_PROMPTS = 10_000


class Project(models.Model):
    name = models.CharField(max_length=200, unique=True)
    instructions = models.TextField(blank=True)
    categories = models.JSONField(default=default_categories)
    overlap = models.PositiveSmallIntegerField(default=1, help_text="Distinct annotators per response (k).")
    lease_minutes = models.PositiveIntegerField(default=30)
    record_trigger = models.CharField(max_length=8, choices=RecordTrigger.choices, default=RecordTrigger.ACCEPT)
    record_policy = models.CharField(max_length=16, choices=RecordPolicy.choices, default=RecordPolicy.EACH)
    consensus_threshold = models.FloatField(
        default=0.5, help_text="Consensus: a segment is kept when more than this share of the answer's judgements "
                               "mark it, dropped when more than this share do not, and disputed otherwise; "
                               "in [0.5, 1), 0.5 = a strict majority.")
    gamma = models.FloatField(default=5.0, help_text="DDPO weight of changed tokens.")
    beta = models.FloatField(default=0.5, help_text="DPO temperature.")
    # Every run of the project starts from these (the beat's auto runs too), under its gamma and beta and
    # above DDPOConfig's defaults: a loop's recipe (learning rate, epochs...) without a launch to carry it.
    training_config = models.JSONField(
        default=dict, blank=True, help_text="training.ddpo config defaults of the project's runs (not gamma, beta "
                                            "or paths); a run's own config overrides them.")
    auto_train_threshold = models.PositiveIntegerField(
        default=0, help_text="Launch training when this many new records exist (0 = never)."
    )
    max_rewrite_chars = models.PositiveIntegerField(default=2000)
    # The loop after a run (training.promotion). The gate by default: the platform keeps going by itself,
    # but never hands annotators a checkpoint its held-out evaluation says is worse than the one it replaces.
    promotion_policy = models.CharField(max_length=8, choices=PromotionPolicy.choices, default=PromotionPolicy.GATE)
    promotion_margin = models.FloatField(
        default=0.02, help_text="Gate: held-out preference accuracy may be below the active checkpoint's by at most this.")
    judge_margin = models.FloatField(
        default=0.02, help_text="Gate, where a judge scores checkpoints (the shapes world): the judge's response "
                                "hallucination rate may be above the active checkpoint's by at most this.")
    next_batch_size = models.PositiveIntegerField(
        default=200, help_text="Prompts the newly promoted checkpoint answers in the batch queued after a promotion.")
    next_batch_params = models.JSONField(
        default=dict, blank=True, help_text="Sampling of that batch (training.generation.SamplingParams fields: "
                                            "temperature, top_p, max_new_tokens, samples_per_prompt); {} = defaults.")
    heldout_percent = models.PositiveSmallIntegerField(default=5, help_text=(
        "Share of new preference records held out for evaluation, never trained on (annotate/splits.py). A "
        "record keeps the side it was given: a change applies to records built afterwards, except that the "
        "records of an answer that already has one follow it, so a held-out record never trains."))
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="projects")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(overlap__gte=1), name="project_overlap_positive"),
            models.CheckConstraint(condition=Q(lease_minutes__gte=1), name="project_lease_positive"),
            # training.ddpo.DDPOConfig's bounds: every run takes these as defaults. At most the largest double
            # = finite, as DDPOConfig wants: PostgreSQL sorts NaN above infinity (SQLite stores NaN as NULL).
            models.CheckConstraint(condition=Q(gamma__gte=1, gamma__lte=sys.float_info.max), name="project_gamma_valid",
                                   violation_error_message="gamma must be a finite number >= 1."),
            models.CheckConstraint(condition=Q(beta__gt=0, beta__lte=sys.float_info.max), name="project_beta_valid",
                                   violation_error_message="beta must be a finite number > 0."),
            models.CheckConstraint(condition=Q(record_policy__in=RecordPolicy.values), name="project_record_policy_valid"),
            # At least one half: "kept" and "dropped" can never both hold; below 1: unanimity still decides.
            models.CheckConstraint(condition=Q(consensus_threshold__gte=0.5, consensus_threshold__lt=1),
                                   name="project_consensus_threshold_valid",
                                   violation_error_message="consensus_threshold must lie in [0.5, 1)."),
            models.CheckConstraint(condition=Q(promotion_policy__in=PromotionPolicy.values),
                                   name="project_promotion_policy_valid"),
            # Both compare shares (accuracy, hallucination rate): a margin is one too.
            models.CheckConstraint(condition=Q(promotion_margin__gte=0, promotion_margin__lte=1),
                                   name="project_promotion_margin_valid",
                                   violation_error_message="promotion_margin must lie in [0, 1]."),
            models.CheckConstraint(condition=Q(judge_margin__gte=0, judge_margin__lte=1),
                                   name="project_judge_margin_valid",
                                   violation_error_message="judge_margin must lie in [0, 1]."),
            models.CheckConstraint(condition=Q(next_batch_size__gte=1, next_batch_size__lte=MAX_BATCH_PROMPTS),
                                   name="project_next_batch_size_valid",
                                   violation_error_message=f"next_batch_size must lie in [1, {MAX_BATCH_PROMPTS}]."),
            models.CheckConstraint(condition=Q(heldout_percent__gte=0, heldout_percent__lte=50), name="project_heldout_percent_range",
                                   violation_error_message="heldout_percent must be between 0 and 50."),
        ]

    def __str__(self):
        return self.name


class Role(models.TextChoices):
    ANNOTATOR = "annotator", "Annotator"
    REVIEWER = "reviewer", "Reviewer"
    MANAGER = "manager", "Manager"


class Membership(models.Model):
    """Who works on which project, and as what. Staff users are managers everywhere."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_user_and_project"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self):
        return f"{self.user} as {self.role} in {self.project}"


class ImageAsset(models.Model):
    file = models.FileField(upload_to="images/%Y/%m/")
    sha256 = models.CharField(max_length=64, unique=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size_bytes = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.sha256[:12]} ({self.width}x{self.height})"


class Prompt(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prompts")
    image = models.ForeignKey(ImageAsset, on_delete=models.PROTECT, null=True, blank=True, related_name="prompts")
    question = models.TextField()
    origin = models.JSONField(default=dict, blank=True, help_text="Where it came from: dataset, split, scene id, question type.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.question[:80]


class Response(models.Model):
    """A model's answer to a prompt: the text annotators correct (the rejected side)."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="responses")
    checkpoint = models.ForeignKey(
        "training.ModelCheckpoint", on_delete=models.SET_NULL, null=True, blank=True, related_name="responses"
    )
    generation_batch = models.ForeignKey(
        "training.GenerationBatch", on_delete=models.SET_NULL, null=True, blank=True, related_name="responses"
    )
    text = models.TextField()
    model_name = models.CharField(
        max_length=200, blank=True,
        help_text="Who wrote an answer generated outside the platform (an upload's `model`); checkpoint stays null.")
    sampling_params = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.text[:80]

    @property
    def written_by(self) -> str:
        """The checkpoint's name, else the uploaded model name ('' when neither is known)."""
        return self.checkpoint.name if self.checkpoint_id else self.model_name


# Whether a slot is leased (false first: the slots nobody holds); the queue's order and its index's second key.
TASK_LEASED = models.ExpressionWrapper(Q(leased_to__isnull=False), output_field=models.BooleanField())


class AnnotationTask(models.Model):
    """One of the ``overlap`` slots of a response; leased to one annotator at a time.

    ``project`` repeats ``response.prompt.project`` so that the queue's indexes lead with it (the claim walks
    them in order, ``annotate.services.queue.task_next``); ``responses_create`` sets it.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="tasks")
    slot = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN, db_index=True)
    leased_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="leased_tasks"
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    leased_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When the slot last went to a new holder (a renewal keeps it): where an annotator's time starts.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["response", "slot"], name="one_task_per_response_slot"),
            models.CheckConstraint(condition=Q(status__in=["open", "done"]), name="task_status_valid"),
            models.CheckConstraint(
                condition=Q(leased_to__isnull=True, lease_expires_at__isnull=True)
                | Q(leased_to__isnull=False, lease_expires_at__isnull=False),
                name="task_lease_holder_and_expiry_together",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "lease_expires_at"], name="task_queue_idx"),
            # The open slots in claim order: those nobody holds by response, then the leases. A claim reads its
            # head (LIMIT 1), so its cost does not depend on how many slots are open. Its second key is the
            # expression the claim sorts by: no other index gives that order, so the plan is this walk whatever
            # the statistics (and SQLite, which has no NULLS FIRST in an index, builds it too).
            models.Index(F("project"), TASK_LEASED, F("response"), F("slot"), condition=Q(status="open"),
                         name="task_open_idx"),
        ]

    def __str__(self):
        return f"Task {self.pk} (response {self.response_id}, slot {self.slot})"


class ResponseClaim(models.Model):
    """``user`` holds an open slot of ``response`` or has an annotation on one (draft, skip, submission, review).

    Written in the transaction that leases them the slot and kept while they annotate; dropped only when someone
    else takes over their expired lease before they wrote anything. "Is this response still for this user" is
    then one probe of the unique index, not an anti-join over annotations and leases. ``response_open`` says
    whether the response still has an open slot (``annotate.services.queue`` keeps it), so the queue position
    counts the user's unfinished claims from the partial index alone.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="claims")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="response_claims")
    response_open = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["response", "user"], name="one_claim_per_response_and_user")]
        indexes = [models.Index(fields=["project", "user"], condition=Q(response_open=True), name="claim_open_idx")]

    def __str__(self):
        return f"{self.user} on response {self.response_id}"


# Rows per project of ``ProjectQueue``: enough that 64 annotators' submits rarely meet on one.
QUEUE_SHARDS = 16


class ProjectQueue(models.Model):
    """How many responses of the project have an open slot, as the sum of ``QUEUE_SHARDS`` rows: kept by the
    services that open and close slots (``responses_create``, a submit closing a response's last slot, a reject
    reopening one), read by the queue position instead of a count over every open slot. Each change goes to the
    row of its response's shard, so concurrent submits closing different responses do not queue behind one row's
    lock until their commits (one row made every such submit wait on the one before). Slots or responses
    written around those services (the admin's deletes) leave the sum off by as many; the position then clamps
    at 0 rather than failing.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="queue_shards")
    shard = models.PositiveSmallIntegerField()
    open_responses = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "shard"], name="project_queue_shard_unique"),
            models.CheckConstraint(condition=Q(shard__lt=QUEUE_SHARDS), name="project_queue_shard_range"),
        ]

    def __str__(self):
        return f"{self.project} shard {self.shard}: {self.open_responses} open responses"


class AnnotationStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    SKIPPED = "skipped", "Skipped"


class Annotation(models.Model):
    """One annotator's judgement of one response: corrections (segments), "no hallucination", or a skip."""

    task = models.ForeignKey(AnnotationTask, on_delete=models.CASCADE, related_name="annotations")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="annotations")
    status = models.CharField(max_length=16, choices=AnnotationStatus.choices, default=AnnotationStatus.DRAFT)
    no_hallucination = models.BooleanField(default=False)
    skip_reason = models.TextField(blank=True)
    review_reason = models.TextField(blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="reviewed_annotations"
    )
    version = models.PositiveIntegerField(default=1, help_text="Bumped on every write; PATCH must send the current one.")
    record_synced_version = models.PositiveIntegerField(
        default=0, help_text="The version its record (or the lack of one) was last synced to; beat syncs the ones behind.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(
        null=True, blank=True,
        help_text="The slot's leased_at when the annotation was created; null before it was stored (untimed).")
    submitted_at = models.DateTimeField(null=True, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    annotator_segments = models.JSONField(
        null=True, blank=True,
        help_text="The annotator's own segments, kept when a reviewer edited them before accepting: agreement "
                  "between annotators is measured on these, not on the reviewer's.")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["task", "annotator"], name="one_annotation_per_task_and_annotator"),
            models.CheckConstraint(condition=Q(status__in=AnnotationStatus.values), name="annotation_status_valid"),
            models.CheckConstraint(condition=Q(version__gte=1), name="annotation_version_positive"),
        ]
        # Only the annotations whose record is not synced yet (a few in flight, drafts left idle): the
        # records drains read them oldest first without scanning the rest.
        indexes = [models.Index(fields=["updated_at"], condition=Q(record_synced_version__lt=F("version")),
                                name="annotation_record_due_idx")]

    def __str__(self):
        return f"Annotation {self.pk} by {self.annotator} ({self.status})"


class Segment(models.Model):
    """A hallucinated span ``[start, end)`` of the response and its rewrite ('' deletes; start == end inserts)."""

    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="segments")
    start = models.IntegerField()
    end = models.IntegerField()
    category = models.CharField(max_length=64)
    replacement = models.TextField(blank=True)

    class Meta:
        ordering = ["annotation", "start", "end"]
        constraints = [
            models.CheckConstraint(condition=Q(start__gte=0) & Q(end__gte=F("start")), name="segment_offsets_ordered"),
        ]

    def __str__(self):
        return f"[{self.start}, {self.end}) {self.category}"


class ConsensusStatus(models.TextChoices):
    WAITING = "waiting", "Fewer judgements than the overlap count"
    AGREED = "agreed", "Every segment decided by the threshold"
    DISPUTED = "disputed", "Waits for a reviewer to adjudicate"
    ADJUDICATED = "adjudicated", "Decided by a reviewer"


class Consensus(models.Model):
    """What the judgements of one answer agree on, under the "consensus" record policy (``annotate.services.consensus``).

    ``clusters`` is the computed matching (each cluster's versions and decision, for the adjudication view);
    ``segments`` what the answer's one record is built from: the agreed segments, or the reviewer's. ``basis``
    fingerprints the judgements it was computed from; an adjudication holds while they stay the same.
    """

    response = models.OneToOneField(Response, on_delete=models.CASCADE, related_name="consensus")
    status = models.CharField(max_length=16, choices=ConsensusStatus.choices, default=ConsensusStatus.WAITING)
    clusters = models.JSONField(default=list, blank=True)
    segments = models.JSONField(default=list, blank=True)
    basis = models.CharField(max_length=64, blank=True)
    adjudicated_basis = models.CharField(max_length=64, blank=True)
    adjudicated_segments = models.JSONField(null=True, blank=True)
    adjudicated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="adjudications")
    adjudicated_at = models.DateTimeField(null=True, blank=True)
    disputed_at = models.DateTimeField(null=True, blank=True, help_text="Since when it waits for a reviewer.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=ConsensusStatus.values), name="consensus_status_valid"),
            models.CheckConstraint(condition=~Q(status="adjudicated") | Q(adjudicated_segments__isnull=False),
                                   name="consensus_adjudicated_has_segments"),
        ]
        indexes = [models.Index(fields=["disputed_at"], condition=Q(status="disputed"), name="consensus_disputed_idx")]

    def __str__(self):
        return f"Consensus of response {self.response_id} ({self.status})"


class RecordSource(models.TextChoices):
    ANNOTATION = "annotation", "Annotation"
    IMPORTED = "imported", "Imported"


class RecordStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    RETIRED = "retired", "Retired"


class RecordSplit(models.TextChoices):
    TRAIN = splits.TRAIN, "Training"
    HELDOUT = splits.HELDOUT, "Held out (evaluation only)"


class PreferenceRecord(models.Model):
    """A dense preference pair: chosen (corrected), rejected (original) and where they differ.

    ``alignment`` lists ``{"rejected": [s, e], "chosen": [s, e], "category": c}``
    in code points of each side; ``chosen_spans`` / ``rejected_spans`` are the
    changed ranges per side, ready for ``training.ddpo.weights.token_weights``.
    ``split`` is set once, when the record is created (``annotate.splits``), and
    never changed by a rebuild: a held-out record is evaluation data for good.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="records")
    annotation = models.OneToOneField(
        Annotation, on_delete=models.SET_NULL, null=True, blank=True, related_name="record"
    )
    consensus = models.OneToOneField(
        Consensus, on_delete=models.SET_NULL, null=True, blank=True, related_name="record",
        help_text="Set instead of annotation under the consensus record policy: the answer's one record.")
    response = models.ForeignKey(Response, on_delete=models.SET_NULL, null=True, blank=True, related_name="records")
    image = models.ForeignKey(ImageAsset, on_delete=models.PROTECT, null=True, blank=True, related_name="records")
    question = models.TextField()
    chosen = models.TextField()
    rejected = models.TextField()
    alignment = models.JSONField(default=list, blank=True)
    chosen_spans = models.JSONField(default=list, blank=True)
    rejected_spans = models.JSONField(default=list, blank=True)
    source = models.CharField(max_length=16, choices=RecordSource.choices, default=RecordSource.ANNOTATION)
    status = models.CharField(max_length=16, choices=RecordStatus.choices, default=RecordStatus.ACTIVE, db_index=True)
    version = models.PositiveIntegerField(default=1)
    origin = models.JSONField(default=dict, blank=True, help_text="ds_name, origin_dataset, origin_split, idx, image_path.")
    import_key = models.CharField(max_length=64, blank=True, help_text="Content hash of an imported row (idempotent import).")
    split = models.CharField(max_length=8, choices=RecordSplit.choices, default=RecordSplit.TRAIN,
                             help_text="Held-out records are evaluation data: no training run ever takes them.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "import_key"], condition=~Q(import_key=""), name="one_record_per_imported_row"
            ),
            models.CheckConstraint(condition=Q(source__in=RecordSource.values), name="record_source_valid"),
            models.CheckConstraint(condition=Q(status__in=RecordStatus.values), name="record_status_valid"),
            models.CheckConstraint(condition=Q(version__gte=1), name="record_version_positive"),
            models.CheckConstraint(condition=Q(split__in=RecordSplit.values), name="record_split_valid"),
        ]
        indexes = [models.Index(fields=["project", "status", "created_at"], name="record_export_idx"),
                   models.Index(fields=["project", "split"], name="record_split_idx")]

    def __str__(self):
        return f"Record {self.pk} v{self.version}"


class ExportFormat(models.TextChoices):
    RLHFV_PARQUET = "rlhfv-parquet", "RLHF-V parquet"
    RLHFV_JSONL = "rlhfv-jsonl", "RLHF-V JSON lines"
    TRL_PARQUET = "trl-parquet", "TRL vision preference parquet"


class ExportJob(Job):
    """An export written to storage in the background, to keep and download later."""

    task_name = "annotate.tasks.exports.export_job_execute"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="export_jobs")
    format = models.CharField(max_length=16, choices=ExportFormat.choices)
    filters = models.JSONField(default=dict, blank=True)
    file = models.FileField(upload_to="exports/", blank=True)
    rows_written = models.PositiveIntegerField(default=0)
    total_rows = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = Job.status_constraints("exportjob") + [
            models.CheckConstraint(condition=Q(format__in=ExportFormat.values), name="exportjob_format_valid"),
        ]

    def __str__(self):
        return f"Export {self.pk} ({self.format}, {self.status})"


class IdempotentRequest(models.Model):
    """The stored outcome of a write sent with an ``Idempotency-Key`` header (``annotate.apis.idempotency``).

    Written in the transaction of the write itself, so a write that committed always has its outcome here for
    the client's retry to get back, and one that rolled back never has.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=2000)
    request_fingerprint = models.CharField(max_length=64, help_text="sha256 of the canonical query and body.")
    status_code = models.PositiveSmallIntegerField(null=True, help_text="Null only inside the request's own transaction.")
    body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotent_request_user_key_unique")]
        indexes = [models.Index(fields=["created_at"], name="idempotent_request_created_idx")]

    def __str__(self):
        return f"{self.method} {self.path} [{self.key}] -> {self.status_code}"
