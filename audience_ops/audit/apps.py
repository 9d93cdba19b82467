from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audience_ops.audit"
    label = "audit"
    verbose_name = "Audit log"
