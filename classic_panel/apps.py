from django.apps import AppConfig


class ClassicPanelConfig(AppConfig):
    name = "classic_panel"
    verbose_name = "Classic panel"
