from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import models

from jobs.models import Job, JobStatus


class ModelCheckpoint(models.Model):
    """A model on disk (a ``save_pretrained`` folder) that can generate answers or be trained further."""

    project = models.ForeignKey("annotate.Project", on_delete=models.CASCADE, related_name="checkpoints", null=True, blank=True)
    name = models.CharField(max_length=200)
    path = models.CharField(max_length=1000, help_text="Local folder or hub id loadable with from_pretrained.")
    parent = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="children")
    produced_by = models.OneToOneField(
        "training.TrainingRun", on_delete=models.SET_NULL, null=True, blank=True, related_name="output_checkpoint"
    )
    eval_metrics = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=False, help_text="The checkpoint that generates the project's next batch.")
    created_at = models.DateTimeField(auto_now_add=True)
    # What its registration found (``ModelRegistration``); empty for the checkpoints the platform made itself.
    architecture = models.CharField(max_length=200, blank=True, help_text="config.architectures[0].")
    model_type = models.CharField(max_length=100, blank=True, help_text="config.model_type.")
    parameters = models.BigIntegerField(null=True, blank=True, help_text="Parameter count of the loaded model.")
    dtype = models.CharField(max_length=32, blank=True, help_text="The dtype its weights load in.")
    prefix_sharing = models.BooleanField(null=True, blank=True, help_text=(
        "Whether DDPO scores its pairs on the shared-prefix path (not for M-RoPE models such as Qwen2-VL)."))
    adapter = models.CharField(max_length=1000, blank=True, help_text=(
        "The PEFT adapter folder it was registered from; ``path`` holds the adapter merged into its base."))
    adapter_base = models.CharField(max_length=1000, blank=True, help_text="The adapter's base model folder.")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["project"], condition=models.Q(is_active=True), name="one_active_checkpoint_per_project"
            ),
            models.CheckConstraint(condition=models.Q(parameters__isnull=True) | models.Q(parameters__gt=0),
                                   name="modelcheckpoint_parameters_positive"),
        ]

    def __str__(self):
        return self.name

    @property
    def registration_job(self):
        """Its ``ModelRegistration``, None for a checkpoint that needed none (a run's output, the CLI's)."""
        try:
            return self.registration
        except ObjectDoesNotExist:
            return None

    @property
    def status(self) -> str:
        """``ready`` to generate and train; ``validating`` while its registration runs; ``failed`` (see
        ``error``) when its registration refused it."""
        registration = self.registration_job
        if registration is None or registration.status == JobStatus.SUCCEEDED:
            return CheckpointStatus.READY
        if registration.is_finished:
            return CheckpointStatus.FAILED
        return CheckpointStatus.VALIDATING

    @property
    def error(self) -> str:
        registration = self.registration_job
        if registration is None or registration.status == JobStatus.SUCCEEDED:
            return ""
        return registration.error or ("The registration was cancelled." if registration.is_finished else "")


class CheckpointStatus(models.TextChoices):
    VALIDATING = "validating", "Validating"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


# The checkpoints that may generate, train and be asked: those no registration holds back.
CHECKPOINT_READY = models.Q(registration__isnull=True) | models.Q(registration__status=JobStatus.SUCCEEDED)


class ModelSource(models.TextChoices):
    FOLDER = "folder", "A folder under MODELS_ROOT"
    HUB = "hub", "A hub id from the local Hugging Face cache"


class ModelRegistration(Job):
    """A model brought by a manager, checked on queue ``gpu`` before it generates or trains: its folder or hub
    id is resolved, its config, processor and weights loaded, one image and a chat prompt answered, and its
    facts written on the checkpoint (``training.ddpo.registry``). Refused: failed, with the reason as ``error``;
    the checkpoint stays, ``failed``, and nothing runs from it."""

    task_name = "training.tasks.model_registration_execute"

    project = models.ForeignKey("annotate.Project", on_delete=models.CASCADE, related_name="model_registrations")
    checkpoint = models.OneToOneField(ModelCheckpoint, on_delete=models.CASCADE, related_name="registration")
    source = models.CharField(max_length=8, choices=ModelSource.choices)
    location = models.CharField(max_length=1000, help_text="The folder (resolved, inside MODELS_ROOT) or hub id.")
    base = models.CharField(max_length=1000, blank=True, help_text=(
        "The base of a PEFT adapter as asked (a folder or hub id); empty: the one its adapter_config.json names."))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = Job.status_constraints("modelregistration") + [
            models.CheckConstraint(condition=models.Q(source__in=ModelSource.values),
                                   name="modelregistration_source_valid"),
        ]

    def __str__(self):
        return f"Registration {self.pk} of {self.location} ({self.status})"


class TrainingTrigger(models.TextChoices):
    MANUAL = "manual", "Manual"
    AUTO = "auto", "Auto (enough new records)"
    LOOP = "loop", "Loop command"
    BOOTSTRAP = "bootstrap", "Checkpoint 0 (trained from nothing)"


class TrainingRun(Job):
    """One fine-tuning job, DDPO unless its task says otherwise; executes on a worker of queue ``gpu``."""

    project = models.ForeignKey("annotate.Project", on_delete=models.CASCADE, related_name="training_runs")
    base_checkpoint = models.ForeignKey(ModelCheckpoint, on_delete=models.PROTECT, related_name="training_runs",
                                        null=True, blank=True, help_text="None for a model trained from nothing.")
    # Per run, not per class: an app above training (the demo's checkpoint 0) runs its own trainer in the
    # same job frame, and the resend sweep must send each run's own task.
    task_name = models.CharField(max_length=200, default="training.tasks.training_run_execute", editable=False)
    config = models.JSONField(default=dict, blank=True, help_text=(
        "The run's settings, resolved when it was created: for DDPO, DDPOConfig's defaults, the project's "
        "gamma and beta, the caller's overrides. The paths (model, output_dir...) are set when it runs."))
    trigger = models.CharField(max_length=16, choices=TrainingTrigger.choices, default=TrainingTrigger.MANUAL)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    record_count = models.PositiveIntegerField(default=0)
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(default=1, help_text=(
        "Which attempt runs (or ran last): a run whose worker was lost is sent again, up to "
        "TRAINING_RUN_MAX_ATTEMPTS, and continues from its last saved step."))

    # A lost worker's run is sent again (training_run_resume_lost) instead of failed: its steps are saved.
    resume_service = "training.services.training_run_resume_lost"

    class Meta:
        ordering = ["-created_at"]
        constraints = Job.status_constraints("trainingrun") + [
            models.CheckConstraint(condition=models.Q(step__lte=models.F("total_steps")) | models.Q(total_steps=0), name="trainingrun_step_le_total"),
            # training_run_create checks this under a project lock; the database holds it for every other writer.
            models.UniqueConstraint(fields=["project"], condition=models.Q(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]),
                                    name="one_unfinished_run_per_project"),
            models.CheckConstraint(condition=models.Q(attempts__gte=1), name="trainingrun_attempts_positive"),
        ]

    def __str__(self):
        return f"Training run {self.pk} ({self.status})"


class TrainingRunInterruption(models.Model):
    """An attempt of a run that ended without finishing: its worker was lost (no heartbeat)."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="interruptions")
    attempt = models.PositiveIntegerField(help_text="The attempt that was interrupted (1 = the first).")
    at = models.DateTimeField(help_text="When the lost worker was noticed.")
    step = models.PositiveIntegerField(help_text="The last step the interrupted attempt reported.")
    resumed_step = models.PositiveIntegerField(null=True, blank=True, help_text=(
        "The saved step the next attempt continued from (0: from the start); empty until it starts."))
    reason = models.TextField()

    class Meta:
        ordering = ["run", "attempt"]
        constraints = [models.UniqueConstraint(fields=["run", "attempt"], name="one_interruption_per_run_attempt")]


class TrainingRunRecord(models.Model):
    """A record a run trained on, at the version it trained on: the run's record set, chosen when its first
    attempt started (a resumed attempt trains on the same set)."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="trained_records")
    # RESTRICT: a record a run trained on is deleted only with its project (and so with the run).
    record = models.ForeignKey("annotate.PreferenceRecord", on_delete=models.RESTRICT,
                               related_name="training_run_records")
    record_version = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "record"], name="one_row_per_run_record")]


class TrainingMetric(models.Model):
    """One logged step of a run (loss, rewards/*, logps/*, lr, tokens/s), streamed to the dashboard."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="metrics")
    step = models.PositiveIntegerField()
    values = models.JSONField()
    logged_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "step"]
        constraints = [models.UniqueConstraint(fields=["run", "step"], name="one_metric_row_per_run_step")]


class GenerationBatch(Job):
    """A checkpoint answering many prompts; the answers become annotation tasks."""

    task_name = "training.tasks.generation_batch_execute"

    project = models.ForeignKey("annotate.Project", on_delete=models.CASCADE, related_name="generation_batches")
    checkpoint = models.ForeignKey(ModelCheckpoint, on_delete=models.PROTECT, related_name="generation_batches")
    prompts = models.ManyToManyField("annotate.Prompt", blank=True, related_name="generation_batches")
    params = models.JSONField(default=dict, blank=True, help_text="temperature, top_p, max_new_tokens, samples_per_prompt, batch_size")
    prompt_count = models.PositiveIntegerField(default=0)
    response_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "generation batches"
        constraints = Job.status_constraints("generationbatch")

    def __str__(self):
        return f"Generation batch {self.pk} ({self.status})"


class PromotionOutcome(models.TextChoices):
    PROMOTED = "promoted", "Promoted"
    KEPT = "kept", "Kept (the active checkpoint stays)"
    PENDING = "pending", "Waiting for a manager"


class DecisionKind(models.TextChoices):
    POLICY = "policy", "The project's promotion policy"
    OVERRIDE = "override", "A manager"


class PromotionDecision(models.Model):
    """Whether a checkpoint replaced the active one, who or what decided it and why (``training.promotion``).

    One policy decision per checkpoint, taken when its evaluation is in; a manager may add overrides after it.
    A promotion queues the next batch from the new checkpoint: ``next_batch``, or ``note`` says why none."""

    checkpoint = models.ForeignKey(ModelCheckpoint, on_delete=models.CASCADE, related_name="promotion_decisions")
    parent = models.ForeignKey(ModelCheckpoint, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                               help_text="The active checkpoint when decided: the one a promotion replaces.")
    outcome = models.CharField(max_length=8, choices=PromotionOutcome.choices)
    kind = models.CharField(max_length=8, choices=DecisionKind.choices)
    policy = models.CharField(max_length=8, help_text="The project's promotion policy when decided.")
    reason = models.TextField()
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   help_text="The manager of an override; none for the policy.")
    next_batch = models.OneToOneField(GenerationBatch, on_delete=models.SET_NULL, null=True, blank=True,
                                      related_name="promotion_decision")
    note = models.TextField(blank=True, help_text="Why a promotion queued no next batch (e.g. the prompt pool is empty).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Deciding twice (a resent evaluation task) must not promote twice.
            models.UniqueConstraint(fields=["checkpoint"], condition=models.Q(kind=DecisionKind.POLICY),
                                    name="one_policy_decision_per_checkpoint"),
            models.CheckConstraint(condition=models.Q(outcome__in=PromotionOutcome.values),
                                   name="promotiondecision_outcome_valid"),
            models.CheckConstraint(condition=models.Q(kind__in=DecisionKind.values), name="promotiondecision_kind_valid"),
            # The policy has no user; a manager's override promotes or keeps, it never waits.
            models.CheckConstraint(condition=models.Q(kind=DecisionKind.POLICY, decided_by__isnull=True)
                                   | models.Q(kind=DecisionKind.OVERRIDE, outcome__in=[PromotionOutcome.PROMOTED,
                                                                                        PromotionOutcome.KEPT]),
                                   name="promotiondecision_policy_by_nobody_override_decides"),
            models.CheckConstraint(condition=models.Q(next_batch__isnull=True)
                                   | models.Q(outcome=PromotionOutcome.PROMOTED),
                                   name="promotiondecision_batch_only_after_promotion"),
        ]

    def __str__(self):
        return f"{self.checkpoint} {self.outcome} ({self.kind})"


class CheckpointEvaluation(Job):
    """A checkpoint measured on its project's held-out records (and, for the shapes world, by the judge);
    executes on a worker of queue ``gpu``. One is queued by itself for every checkpoint a run produces.

    ``metrics`` (copied to ``ModelCheckpoint.eval_metrics`` when it succeeds)::

        {"evaluation": <this id>,
         "heldout": {                       # training.ddpo.evaluate.evaluate_pairs, on held-out records
             "records": n,                  # pairs evaluated: the first EVALUATION_MAX_RECORDS, oldest first
             "available": m,                # active held-out records of the project
             "reference": <checkpoint id>,  # what the implicit reward is measured against
             "gamma": g, "beta": b, "average": true,   # as the checkpoint's run trained (else the project's)
             "preference_accuracy": ...,    # share of pairs with reward(chosen) > reward(rejected); ties 1/2
             "reward_margin": ...,          # mean reward(chosen) - reward(rejected)
             "loss": ...,                   # mean DDPO loss
             "chosen_changed_logp_delta": ...,    # mean policy - reference log-prob per corrected token
             "rejected_changed_logp_delta": ...,  # the same on the hallucinated tokens of the rejected side
             "chosen_logp": ..., "rejected_logp": ...,  # mean weighted log-prob of each side under the policy
             "logp_accuracy": ...},         # share of pairs whose chosen side the policy finds likelier
         "judge": {...}}                    # shapes world only: synthetic.evaluate.evaluate_held_out, e.g.
                                            # response_hallucination_rate, mention_hallucination_rate, coverage,
                                            # held_out (scenes judged)

    With no held-out record the figures of ``heldout`` are null. A checkpoint without a parent (a base model)
    is its own reference: its rewards and margins are 0 and its accuracy 1/2 by construction; only the
    log-probs and ``logp_accuracy`` say something about it.
    """

    task_name = "training.tasks.checkpoint_evaluation_execute"

    checkpoint = models.ForeignKey(ModelCheckpoint, on_delete=models.CASCADE, related_name="evaluations")
    reference = models.ForeignKey(ModelCheckpoint, on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="+", help_text=(
                                      "The checkpoint the rewards are measured against, resolved when queued: "
                                      "its parent (its run's base), or itself without one. Null once deleted."))
    judge_scenes = models.PositiveIntegerField(default=0, help_text=(
        "Held-out scenes the judge describes (EVALUATION_JUDGE_SCENES) if the project is a shapes world when "
        "the evaluation runs; other projects have no judge."))
    metrics = models.JSONField(default=dict, blank=True)
    record_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = Job.status_constraints("checkpointevaluation") + [
            models.UniqueConstraint(fields=["checkpoint"], condition=models.Q(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]),
                                    name="one_unfinished_evaluation_per_checkpoint"),
        ]

    def __str__(self):
        return f"Evaluation {self.pk} of checkpoint {self.checkpoint_id} ({self.status})"


class PlaygroundRequest(Job):
    """One question about one image put to one or two checkpoints, answered side by side on queue ``gpu``.

    An answer can then be sent to the annotation queue as a task (``sent``),
    with the words its sender marked as hallucination-prone by hand."""

    task_name = "training.tasks.playground_request_execute"

    project = models.ForeignKey("annotate.Project", on_delete=models.CASCADE, related_name="playground_requests")
    image = models.ForeignKey("annotate.ImageAsset", on_delete=models.PROTECT, null=True, blank=True,
                              related_name="playground_requests")
    question = models.TextField()
    checkpoint = models.ForeignKey(ModelCheckpoint, on_delete=models.CASCADE, related_name="playground_requests")
    second_checkpoint = models.ForeignKey(ModelCheckpoint, on_delete=models.CASCADE, null=True, blank=True,
                                          related_name="playground_requests_second",
                                          help_text="The one shown beside the first, if any.")
    params = models.JSONField(default=dict, blank=True, help_text="training.generation.SamplingParams, resolved.")
    answers = models.JSONField(default=dict, blank=True, help_text="Checkpoint id (a string) -> its answer.")
    sent = models.JSONField(default=dict, blank=True, help_text=(
        "Checkpoint id (a string) -> {response, marks}: the Response its answer became, and the [start, end) "
        "code-point ranges its sender marked as hallucination-prone."))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = Job.status_constraints("playgroundrequest") + [
            models.CheckConstraint(condition=~models.Q(second_checkpoint=models.F("checkpoint")),
                                   name="playgroundrequest_two_different_checkpoints"),
        ]

    def __str__(self):
        return f"Playground request {self.pk} ({self.status})"

    @property
    def checkpoints(self) -> list[ModelCheckpoint]:
        """The checkpoints asked, in the order they are shown."""
        return [self.checkpoint] + ([self.second_checkpoint] if self.second_checkpoint_id else [])
