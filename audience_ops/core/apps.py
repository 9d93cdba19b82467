from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "audience_ops.core"
    label = "core"
    verbose_name = "Core"
