"""The RQ worker class used everywhere (see ``RQ["WORKER_CLASS"]``)."""

from rq.worker import Worker as RQWorker


class Worker(RQWorker):
    """A plain RQ worker that also runs against the embedded Redis-protocol server.

    The embedded server answers ``CLIENT INFO`` in a shape redis-py cannot parse; the worker only uses it
    to display its peer address, so we fall back to a label instead of crashing at start-up.
    """

    def _set_ip_address(self, connection) -> None:
        try:
            super()._set_ip_address(connection)
        except (ValueError, KeyError):
            self.ip_address = "embedded"
