from django.apps import AppConfig


class SyncsConfig(AppConfig):
    name = "audience_ops.syncs"
    label = "syncs"
    verbose_name = "Syncs"

    def ready(self) -> None:
        # Connect the receiver that disables a retired audience's syncs (see receivers.py).
        from . import receivers  # noqa: F401
