"""Training API for managers: runs (launch, follow, cancel), checkpoints (list, activate, evaluate, promote,
keep), generation batches (launch, follow, cancel), and the loop of a project (its settings, its rounds).

Who may manage which project: ``ManagerApi`` (as in the exchange API); a run,
checkpoint or batch of a project the caller does not manage answers 404.
"""

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from annotate.apis.base import ManagerApi, ProjectFilterSerializer
from annotate.markdown import markdown_to_html
from annotate.models import MAX_BATCH_PROMPTS, Project, PromotionPolicy
from annotate.services.projects import MAX_CATEGORIES, MAX_INSTRUCTIONS_CHARS, MAX_LEASE_MINUTES, MAX_OVERLAP
from config.fields import IdField, finite
from training import project_settings, promotion, selectors, services, timeline
from training.models import (CheckpointEvaluation, CheckpointStatus, GenerationBatch, ModelCheckpoint, PromotionDecision,
                             PromotionOutcome, TrainingRun, TrainingRunInterruption)


def _checkpoint_input(*, user, checkpoint_id, field):
    """The checkpoint an input names (None when it names none); an unknown id is a 400 naming ``field``."""
    if checkpoint_id is None:
        return None
    checkpoint = selectors.checkpoint_list(user=user).filter(pk=checkpoint_id).first()
    if checkpoint is None:
        raise serializers.ValidationError({field: [f"No checkpoint {checkpoint_id}."]})
    return checkpoint


# Training runs ---------------------------------------------------------------------------------


class TrainingRunInterruptionOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = TrainingRunInterruption
        fields = ["attempt", "at", "step", "resumed_step", "reason"]


class TrainingRunOutputSerializer(serializers.ModelSerializer):
    output_checkpoint = serializers.PrimaryKeyRelatedField(read_only=True)
    interruptions = TrainingRunInterruptionOutputSerializer(many=True, read_only=True)
    max_attempts = serializers.SerializerMethodField(help_text="TRAINING_RUN_MAX_ATTEMPTS: attempts a run gets.")

    class Meta:
        model = TrainingRun
        fields = ["id", "project", "base_checkpoint", "output_checkpoint", "status", "progress", "step",
                  "total_steps", "record_count", "config", "trigger", "cancel_requested", "error",
                  "created_at", "started_at", "finished_at", "heartbeat_at", "attempts", "max_attempts",
                  "interruptions"]

    def get_max_attempts(self, run) -> int:
        return settings.TRAINING_RUN_MAX_ATTEMPTS


class TrainingRunMetricsSerializer(serializers.Serializer):
    steps = serializers.ListField(child=serializers.IntegerField())
    series = serializers.DictField(child=serializers.ListField(child=serializers.FloatField(allow_null=True)))


class TrainingRunDetailOutputSerializer(TrainingRunOutputSerializer):
    metrics = serializers.SerializerMethodField()

    class Meta(TrainingRunOutputSerializer.Meta):
        fields = TrainingRunOutputSerializer.Meta.fields + ["metrics"]

    @extend_schema_field(TrainingRunMetricsSerializer)
    def get_metrics(self, run):
        return selectors.training_run_metrics(run=run)


class TrainingRunCreateInputSerializer(serializers.Serializer):
    project = IdField()
    base_checkpoint = IdField(required=False, help_text="Default: the project's active checkpoint.")
    config = serializers.DictField(required=False, help_text="training.ddpo config overrides: gamma, beta, "
                                   "learning_rate, epochs, batch_size, max_steps, sft_weight, dpop_lambda, lora, ... The run "
                                   "stores them resolved over the project's gamma and beta and DDPOConfig's defaults.")


class TrainingRunListCreateApi(ManagerApi):
    @extend_schema(parameters=[ProjectFilterSerializer], responses=TrainingRunOutputSerializer(many=True))
    def get(self, request):
        runs = selectors.training_run_list(user=request.user, project_id=self.project_filter())
        return self.paginated(runs, TrainingRunOutputSerializer)

    @extend_schema(request=TrainingRunCreateInputSerializer, responses={201: TrainingRunOutputSerializer})
    def post(self, request):
        data = TrainingRunCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        run = services.training_run_create(
            project=self.manager_project(values["project"]), config=values.get("config", {}), created_by=request.user,
            base_checkpoint=_checkpoint_input(user=request.user, checkpoint_id=values.get("base_checkpoint"),
                                              field="base_checkpoint"),
        )
        return Response(TrainingRunOutputSerializer(run).data, status=status.HTTP_201_CREATED)


class TrainingRunDetailApi(ManagerApi):
    @extend_schema(responses=TrainingRunDetailOutputSerializer)
    def get(self, request, run_id):
        run = get_object_or_404(selectors.training_run_list(user=request.user), pk=run_id)
        return Response(TrainingRunDetailOutputSerializer(run).data)


class TrainingRunCancelApi(ManagerApi):
    @extend_schema(request=None, responses=TrainingRunOutputSerializer)
    def post(self, request, run_id):
        run = get_object_or_404(selectors.training_run_list(user=request.user), pk=run_id)
        return Response(TrainingRunOutputSerializer(services.training_run_cancel(run=run)).data)


# Checkpoints -----------------------------------------------------------------------------------


class CheckpointEvaluationOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = CheckpointEvaluation
        fields = ["id", "checkpoint", "reference", "status", "progress", "record_count", "judge_scenes", "metrics",
                  "error", "created_at", "started_at", "finished_at"]


class CheckpointEvaluationSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = CheckpointEvaluation
        fields = ["id", "status", "progress", "error", "created_at", "finished_at"]


class CheckpointOutputSerializer(serializers.ModelSerializer):
    evaluation = serializers.SerializerMethodField(help_text="Its latest evaluation (null before the first): "
                                                   "eval_metrics hold the figures of the last one that succeeded.")
    status = serializers.ChoiceField(choices=CheckpointStatus.choices, read_only=True, help_text=(
        "ready; validating while the job that registers a manager's model checks it; failed (see error)."))
    error = serializers.CharField(read_only=True, help_text="Why its registration refused it.")
    registration = serializers.SerializerMethodField(help_text="The id of its registration job, if it had one.")

    class Meta:
        model = ModelCheckpoint
        fields = ["id", "project", "name", "path", "parent", "produced_by", "eval_metrics", "evaluation", "is_active",
                  "created_at", "status", "error", "registration", "architecture", "model_type", "parameters",
                  "dtype", "prefix_sharing", "adapter", "adapter_base"]

    def get_registration(self, checkpoint) -> int | None:
        registration = checkpoint.registration_job
        return registration and registration.pk

    @extend_schema_field(CheckpointEvaluationSummarySerializer(allow_null=True))
    def get_evaluation(self, checkpoint):
        latest = next(iter(checkpoint.evaluations.all()), None)  # newest first; prefetched by checkpoint_list
        return latest and CheckpointEvaluationSummarySerializer(latest).data


class CheckpointListApi(ManagerApi):
    @extend_schema(parameters=[ProjectFilterSerializer], responses=CheckpointOutputSerializer(many=True))
    def get(self, request):
        checkpoints = selectors.checkpoint_list(user=request.user, project_id=self.project_filter())
        return self.paginated(checkpoints, CheckpointOutputSerializer)


class CheckpointActivateApi(ManagerApi):
    @extend_schema(request=None, responses=CheckpointOutputSerializer)
    def post(self, request, checkpoint_id):
        checkpoint = get_object_or_404(selectors.checkpoint_list(user=request.user), pk=checkpoint_id)
        return Response(CheckpointOutputSerializer(services.checkpoint_activate(checkpoint=checkpoint)).data)


class CheckpointEvaluateInputSerializer(serializers.Serializer):
    reference = IdField(required=False, help_text="Default: the checkpoint's parent (its run's base), or the "
                                                   "checkpoint itself when it has none.")


class CheckpointEvaluationListApi(ManagerApi):
    """A checkpoint's evaluations, newest first."""

    @extend_schema(responses=CheckpointEvaluationOutputSerializer(many=True))
    def get(self, request, checkpoint_id):
        checkpoint = get_object_or_404(selectors.checkpoint_list(user=request.user), pk=checkpoint_id)
        return self.paginated(selectors.checkpoint_evaluation_list(checkpoint=checkpoint),
                              CheckpointEvaluationOutputSerializer)


class CheckpointEvaluateApi(ManagerApi):
    """Queue an evaluation of the checkpoint (409 while one is queued or running)."""

    @extend_schema(request=CheckpointEvaluateInputSerializer, responses={201: CheckpointEvaluationOutputSerializer})
    def post(self, request, checkpoint_id):
        checkpoint = get_object_or_404(selectors.checkpoint_list(user=request.user), pk=checkpoint_id)
        data = CheckpointEvaluateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reference = _checkpoint_input(user=request.user, checkpoint_id=data.validated_data.get("reference"),
                                      field="reference")
        evaluation = services.checkpoint_evaluation_create(checkpoint=checkpoint, reference=reference,
                                                           created_by=request.user)
        return Response(CheckpointEvaluationOutputSerializer(evaluation).data, status=status.HTTP_201_CREATED)


# Generation batches ----------------------------------------------------------------------------


class GenerationBatchOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = GenerationBatch
        fields = ["id", "project", "checkpoint", "status", "progress", "params", "prompt_count", "response_count",
                  "error", "created_at", "started_at", "finished_at"]


class GenerationBatchCreateInputSerializer(serializers.Serializer):
    project = IdField()
    checkpoint = IdField(required=False, help_text="Default: the project's active checkpoint.")
    prompts = serializers.ListField(child=IdField(), required=False, allow_empty=False, max_length=MAX_BATCH_PROMPTS,
                                    help_text=f"Prompt ids (at most {MAX_BATCH_PROMPTS}); default: prompts the "
                                              "checkpoint has not answered.")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=MAX_BATCH_PROMPTS,
                                     help_text="How many unanswered prompts when `prompts` is not given (64).")
    params = serializers.DictField(required=False, help_text="temperature, top_p, max_new_tokens, "
                                   "samples_per_prompt, batch_size, seed")


class GenerationBatchListCreateApi(ManagerApi):
    @extend_schema(parameters=[ProjectFilterSerializer], responses=GenerationBatchOutputSerializer(many=True))
    def get(self, request):
        batches = selectors.generation_batch_list(user=request.user, project_id=self.project_filter())
        return self.paginated(batches, GenerationBatchOutputSerializer)

    @extend_schema(request=GenerationBatchCreateInputSerializer, responses={201: GenerationBatchOutputSerializer})
    def post(self, request):
        data = GenerationBatchCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        batch = services.generation_batch_create(
            project=self.manager_project(values["project"]), prompt_ids=values.get("prompts"),
            checkpoint=_checkpoint_input(user=request.user, checkpoint_id=values.get("checkpoint"), field="checkpoint"),
            limit=values.get("limit"), params=values.get("params", {}), created_by=request.user,
        )
        return Response(GenerationBatchOutputSerializer(batch).data, status=status.HTTP_201_CREATED)


class GenerationBatchCancelApi(ManagerApi):
    @extend_schema(request=None, responses=GenerationBatchOutputSerializer)
    def post(self, request, batch_id):
        batch = get_object_or_404(selectors.generation_batch_list(user=request.user), pk=batch_id)
        return Response(GenerationBatchOutputSerializer(services.generation_batch_cancel(batch=batch)).data)


# Promotion and the loop ---------------------------------------------------------------------------


class PromotionDecisionOutputSerializer(serializers.ModelSerializer):
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = PromotionDecision
        fields = ["id", "checkpoint", "parent", "outcome", "kind", "policy", "reason", "decided_by", "next_batch",
                  "note", "created_at"]


class PromotionOverrideInputSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000,
                                   help_text="Why, in words; stored with the decision.")


class _CheckpointOverrideApi(ManagerApi):
    """A manager's decision on a checkpoint, recorded with the caller as ``decided_by``."""

    outcome = None

    @extend_schema(request=PromotionOverrideInputSerializer, responses={201: PromotionDecisionOutputSerializer})
    def post(self, request, checkpoint_id):
        checkpoint = get_object_or_404(selectors.checkpoint_list(user=request.user), pk=checkpoint_id)
        data = PromotionOverrideInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        decision = promotion.checkpoint_promotion_override(checkpoint=checkpoint, outcome=self.outcome, user=request.user,
                                                           reason=data.validated_data.get("reason", ""))
        return Response(PromotionDecisionOutputSerializer(decision).data, status=status.HTTP_201_CREATED)


class CheckpointPromoteApi(_CheckpointOverrideApi):
    """Activate the checkpoint and queue its first batch (``project.next_batch_size`` unanswered prompts)."""

    outcome = PromotionOutcome.PROMOTED


class CheckpointKeepApi(_CheckpointOverrideApi):
    """Keep the active checkpoint: the decision is recorded, nothing else changes."""

    outcome = PromotionOutcome.KEPT


def _below_one(value):
    if value >= 1:
        raise serializers.ValidationError("Must be below 1.")
    return value


class ProjectSettingsSerializer(serializers.ModelSerializer):
    """All the settings of a project; PATCH any of them (``training.project_settings``). Categories: 1-9 names,
    in key order; one that segments use cannot be removed or renamed. next_batch_params is stored resolved."""

    categories = serializers.ListField(child=serializers.CharField(allow_blank=True, trim_whitespace=False),
                                       max_length=MAX_CATEGORIES, required=False,
                                       help_text="1-9 names; the annotator's key is the position.")
    instructions = serializers.CharField(required=False, allow_blank=True, max_length=MAX_INSTRUCTIONS_CHARS,
                                         help_text="Markdown (rendered safely).")
    instructions_html = serializers.SerializerMethodField(help_text="The instructions' Markdown, rendered safely.")
    overlap = serializers.IntegerField(min_value=1, max_value=MAX_OVERLAP, required=False)
    lease_minutes = serializers.IntegerField(min_value=1, max_value=MAX_LEASE_MINUTES, required=False)
    consensus_threshold = serializers.FloatField(min_value=0.5, validators=[finite, _below_one], required=False)
    gamma = serializers.FloatField(min_value=1, validators=[finite], required=False)
    beta = serializers.FloatField(min_value=1e-12, validators=[finite], required=False)
    training_config = serializers.DictField(required=False, help_text="training.ddpo defaults of the project's "
                                            "runs: learning_rate, epochs, batch_size, ... (not gamma, beta, paths)")
    promotion_policy = serializers.ChoiceField(choices=PromotionPolicy.choices, required=False)
    promotion_margin = serializers.FloatField(min_value=0, max_value=1, validators=[finite], required=False)
    judge_margin = serializers.FloatField(min_value=0, max_value=1, validators=[finite], required=False)
    next_batch_size = serializers.IntegerField(min_value=1, max_value=MAX_BATCH_PROMPTS, required=False)
    next_batch_params = serializers.DictField(required=False, help_text="temperature, top_p, max_new_tokens, "
                                              "samples_per_prompt, batch_size, seed (SamplingParams)")

    class Meta:
        model = Project
        fields = ["id", *project_settings.SETTINGS, "instructions_html"]
        read_only_fields = ["id"]
        extra_kwargs = {"auto_train_threshold": {"min_value": 0, "max_value": 2**31 - 1},
                        "heldout_percent": {"min_value": 0, "max_value": 50},
                        "max_rewrite_chars": {"min_value": 1, "max_value": 2**31 - 1},
                        "name": {"validators": []}}  # the service says a name is taken, naming ``name``

    def get_instructions_html(self, project) -> str:
        return markdown_to_html(project.instructions)


class ProjectSettingsApi(ManagerApi):
    """``GET``/``PATCH /api/projects/<id>/``: every setting of the project, for its managers (members without
    the role 403, anyone else 404)."""

    permission_classes = [IsAuthenticated]  # which project: ``manager_project`` (404 / 403)

    @extend_schema(responses=ProjectSettingsSerializer)
    def get(self, request, project_id):
        return Response(ProjectSettingsSerializer(self.manager_project(project_id)).data)

    @extend_schema(request=ProjectSettingsSerializer, responses=ProjectSettingsSerializer)
    def patch(self, request, project_id):
        project = self.manager_project(project_id)
        data = ProjectSettingsSerializer(project, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        project = project_settings.project_settings_update(project=project, **data.validated_data)
        return Response(ProjectSettingsSerializer(project).data)


class LoopRoundSerializer(serializers.Serializer):
    round = serializers.IntegerField()
    run = serializers.DictField()
    checkpoint = serializers.DictField(allow_null=True)
    evaluation = serializers.DictField(allow_null=True)
    decision = serializers.DictField(allow_null=True)
    batch = serializers.DictField(allow_null=True)
    tasks = serializers.DictField(child=serializers.IntegerField(), allow_null=True)


class ProjectLoopOutputSerializer(serializers.Serializer):
    promotion_policy = serializers.ChoiceField(choices=PromotionPolicy.choices)
    next_round = serializers.DictField(child=serializers.IntegerField())
    notice = serializers.CharField(allow_null=True)
    rounds = LoopRoundSerializer(many=True)


class ProjectLoopApi(ManagerApi):
    """The loop of a project, one round per training run, newest first (the dashboard's timeline)."""

    @extend_schema(responses=ProjectLoopOutputSerializer)
    def get(self, request, project_id):
        loop = timeline.project_loop(project=self.manager_project(project_id))
        return Response(ProjectLoopOutputSerializer(loop).data)
