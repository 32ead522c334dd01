from django.contrib import admin

from annotate import models
from annotate.services.records import project_records_resync


class MembershipInline(admin.TabularInline):
    model = models.Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(models.Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "overlap", "record_trigger", "record_policy", "gamma", "beta", "auto_train_threshold", "created_at"]
    list_filter = ["record_trigger", "record_policy"]
    search_fields = ["name", "instructions"]
    inlines = [MembershipInline]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        policy_changed = bool({"record_policy", "consensus_threshold"} & set(form.changed_data))
        if change and ("record_trigger" in form.changed_data or policy_changed):
            project_records_resync(project_id=obj.pk, policy_changed=policy_changed)


@admin.register(models.Consensus)
class ConsensusAdmin(admin.ModelAdmin):
    """Read-only: the consensus follows the judgements (record sync) and the reviewer's adjudication."""

    list_display = ["response", "status", "adjudicated_by", "adjudicated_at", "updated_at"]
    list_filter = ["status"]
    readonly_fields = ["response", "status", "clusters", "segments", "basis", "adjudicated_basis",
                       "adjudicated_segments", "adjudicated_by", "adjudicated_at", "disputed_at"]

    def has_add_permission(self, request):
        return False


@admin.register(models.Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role"]
    list_filter = ["role", "project"]
    search_fields = ["user__username", "project__name"]


@admin.register(models.ImageAsset)
class ImageAssetAdmin(admin.ModelAdmin):
    list_display = ["id", "sha256", "width", "height", "size_bytes", "created_at"]
    search_fields = ["sha256"]


@admin.register(models.Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "question", "image", "created_at"]
    list_filter = ["project"]
    search_fields = ["question"]
    raw_id_fields = ["image"]


@admin.register(models.Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["id", "prompt", "checkpoint", "generation_batch", "created_at"]
    list_filter = ["prompt__project", "checkpoint"]
    search_fields = ["text", "prompt__question"]
    raw_id_fields = ["prompt", "generation_batch"]


@admin.register(models.AnnotationTask)
class AnnotationTaskAdmin(admin.ModelAdmin):
    list_display = ["id", "response", "slot", "status", "leased_to", "lease_expires_at"]
    list_filter = ["status", "response__prompt__project"]
    search_fields = ["response__text", "leased_to__username"]
    raw_id_fields = ["response"]


class SegmentInline(admin.TabularInline):
    model = models.Segment
    extra = 0


@admin.register(models.Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    list_display = ["id", "task", "annotator", "status", "no_hallucination", "version", "submitted_at", "reviewer"]
    list_filter = ["status", "no_hallucination", "task__response__prompt__project"]
    search_fields = ["annotator__username", "task__response__text"]
    raw_id_fields = ["task"]
    readonly_fields = ["record_synced_version"]
    inlines = [SegmentInline]


@admin.register(models.Segment)
class SegmentAdmin(admin.ModelAdmin):
    list_display = ["id", "annotation", "start", "end", "category", "replacement"]
    list_filter = ["category"]
    search_fields = ["replacement"]
    raw_id_fields = ["annotation"]


@admin.register(models.PreferenceRecord)
class PreferenceRecordAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "source", "status", "version", "created_at"]
    list_filter = ["project", "source", "status"]
    search_fields = ["question", "chosen", "rejected"]
    raw_id_fields = ["annotation", "response", "image"]


@admin.register(models.ExportJob)
class ExportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "format", "status", "rows_written", "total_rows", "created_at"]
    list_filter = ["status", "format", "project"]
    search_fields = ["project__name"]
