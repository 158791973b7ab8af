"""A URLconf that puts the reseller panel's home elsewhere and names files
(tests of ``{% url %}``)."""

from django.http import HttpResponse
from django.urls import path

urlpatterns = [
    path("moved/", lambda request: HttpResponse(), name="home"),
    path("files/<str:name>/", lambda request, name: HttpResponse(), name="file"),
]
