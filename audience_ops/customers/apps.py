from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "audience_ops.customers"
    label = "customers"
    verbose_name = "Customer data"
