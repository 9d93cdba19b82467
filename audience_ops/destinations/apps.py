from django.apps import AppConfig


class DestinationsConfig(AppConfig):
    name = "audience_ops.destinations"
    verbose_name = "Destinations"
