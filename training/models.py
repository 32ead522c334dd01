from django.conf import settings
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

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["project"], condition=models.Q(is_active=True), name="one_active_checkpoint_per_project"
            ),
        ]

    def __str__(self):
        return self.name


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
