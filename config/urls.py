from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path, re_path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.apis import TokenApi
from config.errors import API_NOT_FOUND, api_not_found
from config.fields import IdConverter
from config.health import healthz

register_converter(IdConverter, "id")
handler404 = "config.errors.page_not_found"
handler500 = "config.errors.server_error"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Both need a login (SERVE_PERMISSIONS); a browser without one is sent to the login page for the docs.
    path("api/docs/", login_required(SpectacularSwaggerView.as_view(url_name="schema")), name="swagger-ui"),
    path("api/auth/token/", TokenApi.as_view(), name="api-token"),
    path("api/", include("annotate.urls")),
    path("api/", include("training.urls")),
    re_path(r"^api/", api_not_found, name=API_NOT_FOUND),
    path("", include("frontend.urls")),
]
