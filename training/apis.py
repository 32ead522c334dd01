"""Training API for managers: runs (launch, follow, cancel), checkpoints (list, activate), generation batches
(launch, follow, cancel).

Who may manage which project: ``ManagerApi`` (as in the exchange API); a run,
checkpoint or batch of a project the caller does not manage answers 404.
"""
from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response

from annotate.apis.base import ManagerApi, ProjectFilterSerializer
from config.fields import IdField
from training import selectors, services
from training.models import (
    GenerationBatch,
    ModelCheckpoint,
    TrainingRun,
    TrainingRunInterruption,
)


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
                                   "learning_rate, epochs, batch_size, max_steps, sft_weight, lora, ... The run "
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


class CheckpointOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelCheckpoint
        fields = ["id", "project", "name", "path", "parent", "produced_by", "eval_metrics", "is_active", "created_at"]


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


# Generation batches ----------------------------------------------------------------------------


class GenerationBatchOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = GenerationBatch
        fields = ["id", "project", "checkpoint", "status", "progress", "params", "prompt_count", "response_count",
                  "error", "created_at", "started_at", "finished_at"]


class GenerationBatchCreateInputSerializer(serializers.Serializer):
    project = IdField()
    checkpoint = IdField(required=False, help_text="Default: the project's active checkpoint.")
    prompts = serializers.ListField(child=IdField(), required=False, allow_empty=False, max_length=10000,
                                    help_text="Prompt ids (at most 10000); default: prompts the checkpoint "
                                              "has not answered.")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=10000,
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
