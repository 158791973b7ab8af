"""Top-level URLs: the reseller panel at the root, the classic panel under
``/classic/`` and Django admin under ``/admin/``."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("classic/", include("classic_panel.urls")),
    path("", include("reseller_panel.urls")),
]
