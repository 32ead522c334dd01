from django.contrib import admin

from training import models


@admin.register(models.ModelCheckpoint)
class ModelCheckpointAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "project", "is_active", "parent", "produced_by", "created_at"]
    list_filter = ["project", "is_active"]
    search_fields = ["name", "path"]


class TrainingMetricInline(admin.TabularInline):
    model = models.TrainingMetric
    extra = 0
    readonly_fields = ["step", "values", "logged_at"]


@admin.register(models.TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "status", "trigger", "step", "total_steps", "record_count", "created_at"]
    list_filter = ["status", "trigger", "project"]
    search_fields = ["project__name", "error"]
    inlines = [TrainingMetricInline]


@admin.register(models.TrainingMetric)
class TrainingMetricAdmin(admin.ModelAdmin):
    list_display = ["run", "step", "logged_at"]
    list_filter = ["run__project"]
    search_fields = ["run__id"]


@admin.register(models.GenerationBatch)
class GenerationBatchAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "checkpoint", "status", "prompt_count", "response_count", "created_at"]
    list_filter = ["status", "project"]
    search_fields = ["project__name", "error"]
    raw_id_fields = ["prompts"]


@admin.register(models.PromotionDecision)
class PromotionDecisionAdmin(admin.ModelAdmin):
    list_display = ["id", "checkpoint", "outcome", "kind", "policy", "decided_by", "next_batch", "created_at"]
    list_filter = ["outcome", "kind", "checkpoint__project"]
    search_fields = ["reason", "note"]
    raw_id_fields = ["checkpoint", "parent", "next_batch"]


@admin.register(models.CheckpointEvaluation)
class CheckpointEvaluationAdmin(admin.ModelAdmin):
    list_display = ["id", "checkpoint", "reference", "status", "record_count", "created_at"]
    list_filter = ["status", "checkpoint__project"]
    search_fields = ["checkpoint__name", "error"]
    raw_id_fields = ["checkpoint", "reference"]


@admin.register(models.PlaygroundRequest)
class PlaygroundRequestAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "checkpoint", "second_checkpoint", "status", "created_by", "created_at"]
    list_filter = ["status", "project"]
    search_fields = ["project__name", "question", "error"]
    raw_id_fields = ["image", "checkpoint", "second_checkpoint"]


@admin.register(models.ModelRegistration)
class ModelRegistrationAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "checkpoint", "source", "location", "status", "created_at"]
    list_filter = ["status", "source", "project"]
    search_fields = ["location", "error"]
