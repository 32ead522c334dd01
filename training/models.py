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

    class Meta:
        ordering = ["-created_at"]
        constraints = Job.status_constraints("trainingrun") + [
            models.CheckConstraint(condition=models.Q(step__lte=models.F("total_steps")) | models.Q(total_steps=0), name="trainingrun_step_le_total"),
            # training_run_create checks this under a project lock; the database holds it for every other writer.
            models.UniqueConstraint(fields=["project"], condition=models.Q(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]),
                                    name="one_unfinished_run_per_project"),
        ]

    def __str__(self):
        return f"Training run {self.pk} ({self.status})"


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
