from django.urls import path
from rest_framework.authtoken.views import obtain_auth_token

from annotate.apis.projects import ProjectListApi
from annotate.apis.exchange import ExportApi, ExportJobDetailApi, ExportJobDownloadApi, ExportJobListApi, ImportApi

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("projects/", ProjectListApi.as_view(), name="project-list"),
    path("export/", ExportApi.as_view(), name="export"),
    path("import/", ImportApi.as_view(), name="import"),
    path("export-jobs/", ExportJobListApi.as_view(), name="export-job-list"),
    path("export-jobs/<int:pk>/", ExportJobDetailApi.as_view(), name="export-job-detail"),
    path("export-jobs/<int:pk>/download/", ExportJobDownloadApi.as_view(), name="export-job-download"),
]
