from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "audience_ops.monitoring"
    label = "monitoring"
    verbose_name = "Monitoring"
