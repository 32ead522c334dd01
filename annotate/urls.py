from django.urls import path
from rest_framework.authtoken.views import obtain_auth_token

from annotate.apis.projects import ProjectListApi

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("projects/", ProjectListApi.as_view(), name="project-list"),
]
