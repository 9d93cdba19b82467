from django.apps import AppConfig


class AudiencesConfig(AppConfig):
    name = "audience_ops.audiences"
    label = "audiences"
    verbose_name = "Audiences"
