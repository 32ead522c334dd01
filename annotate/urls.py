from django.urls import path

from annotate.apis.agreement import ProjectAgreementApi
from annotate.apis.analytics import TABLES, ProjectAnalyticsApi, ProjectAnalyticsCsvApi
from annotate.apis.annotations import AnnotationDetailApi, AnnotationListCreateApi
from annotate.apis.members import ProjectMemberDetailApi, ProjectMemberListApi
from annotate.apis.projects import ProjectListApi
from annotate.apis.review import AnnotationAcceptApi, AnnotationRejectApi, ConsensusAdjudicateApi, ReviewNextApi
from annotate.apis.uploads import ProjectUploadApi
from annotate.apis.tasks import TaskDetailApi, TaskNextApi, TaskSkipApi
from annotate.apis.exchange import ExportApi, ExportJobDetailApi, ExportJobDownloadApi, ExportJobListApi, ImportApi


urlpatterns = [
    path("projects/", ProjectListApi.as_view(), name="project-list"),
    path("projects/<id:project_id>/members/", ProjectMemberListApi.as_view(), name="project-member-list"),
    path("projects/<id:project_id>/members/<id:user_id>/", ProjectMemberDetailApi.as_view(), name="project-member-detail"),
    path("projects/<id:project_id>/agreement/", ProjectAgreementApi.as_view(), name="project-agreement"),
    path("projects/<id:project_id>/analytics/", ProjectAnalyticsApi.as_view(), name="project-analytics"),
    *[path(f"projects/<id:project_id>/analytics/{table}.csv", ProjectAnalyticsCsvApi.as_view(), {"table": table},
           name=f"project-analytics-{table}-csv") for table in TABLES],
    path("projects/<id:project_id>/uploads/", ProjectUploadApi.as_view(), name="project-uploads"),
    path("tasks/next/", TaskNextApi.as_view(), name="task-next"),
    path("tasks/<id:task_id>/", TaskDetailApi.as_view(), name="task-detail"),
    path("tasks/<id:task_id>/skip/", TaskSkipApi.as_view(), name="task-skip"),
    path("annotations/", AnnotationListCreateApi.as_view(), name="annotation-list"),
    path("annotations/<id:annotation_id>/", AnnotationDetailApi.as_view(), name="annotation-detail"),
    path("annotations/<id:annotation_id>/accept/", AnnotationAcceptApi.as_view(), name="annotation-accept"),
    path("annotations/<id:annotation_id>/reject/", AnnotationRejectApi.as_view(), name="annotation-reject"),
    path("review/next/", ReviewNextApi.as_view(), name="review-next"),
    path("consensus/<id:consensus_id>/adjudicate/", ConsensusAdjudicateApi.as_view(), name="consensus-adjudicate"),
    path("export/", ExportApi.as_view(), name="export"),
    path("import/", ImportApi.as_view(), name="import"),
    path("export-jobs/", ExportJobListApi.as_view(), name="export-job-list"),
    path("export-jobs/<id:pk>/", ExportJobDetailApi.as_view(), name="export-job-detail"),
    path("export-jobs/<id:pk>/download/", ExportJobDownloadApi.as_view(), name="export-job-download"),
]
