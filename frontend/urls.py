from django.contrib.auth import views as auth_views
from django.urls import path

from frontend import analytics, dashboard, projects, views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("projects/new/", projects.project_new, name="project-new"),
    path("projects/<id:project_id>/settings/", projects.project_settings, name="project-settings-page"),
    path("projects/<id:project_id>/members/", projects.project_members, name="project-members-page"),
    path("projects/<id:project_id>/annotate/", views.annotate, name="annotate"),
    path("projects/<id:project_id>/review/", views.review, name="review"),
    path("projects/<id:project_id>/playground/", views.playground, name="playground"),
    path("projects/<id:project_id>/upload/", views.upload, name="upload"),
    path("projects/<id:project_id>/dashboard/", dashboard.dashboard, name="dashboard"),
    path("projects/<id:project_id>/models/", dashboard.models, name="models"),
    path("projects/<id:project_id>/analytics/", analytics.analytics, name="analytics"),
    path("media/<path:name>", views.media, name="media"),
    path("favicon.ico", views.favicon, name="favicon"),
]
