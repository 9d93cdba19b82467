from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "audience_ops.monitoring"
    label = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        # Alerts are evaluated after every sync run (not only by the periodic job).
        from audience_ops.syncs.signals import sync_run_finished

        from .services import alerts_after_sync_run

        def on_sync_run_finished(sender, run, **kwargs) -> None:
            alerts_after_sync_run(run)

        sync_run_finished.connect(on_sync_run_finished, dispatch_uid="monitoring.alerts_after_sync_run", weak=False)
