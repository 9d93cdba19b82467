"""The embedded runtime: a Redis-protocol server in-process, plus real ``rqworker``/``rqcron`` processes.

Used when ``REDIS_URL`` is unset (the one-command demo, local tests). Jobs still run off the request thread
and scheduled jobs still fire, through exactly the same job code as production.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings


def port_is_open(host: str, port: int) -> bool:
    """True when something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def start_embedded_redis(port: int) -> threading.Thread | None:
    """Serve fakeredis over TCP on 127.0.0.1:port in a daemon thread; None when one is already there."""
    if port_is_open("127.0.0.1", port):
        return None
    from fakeredis import TcpFakeServer

    server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="embedded-redis", daemon=True)
    thread.start()
    for _ in range(50):
        if port_is_open("127.0.0.1", port):
            break
        time.sleep(0.1)
    return thread


@dataclass
class BackgroundProcesses:
    """Worker and scheduler child processes, stopped together."""

    processes: list[subprocess.Popen] = field(default_factory=list)

    def start(self, *, queues: list[str], with_cron: bool = True, log_dir: Path | None = None) -> None:
        """Start one ``rqworker`` (with RQ's scheduler) and, optionally, ``rqcron`` for recurring jobs."""
        manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
        environment = os.environ.copy()
        log_dir = log_dir or Path(settings.BASE_DIR) / "var" / "log"
        log_dir.mkdir(parents=True, exist_ok=True)
        commands = [("worker", [*manage, "rqworker", "--with-scheduler", *queues])]
        if with_cron:
            commands.append(("cron", [*manage, "rqcron", "audience_ops.cron"]))
        for name, command in commands:
            log = (log_dir / f"{name}.log").open("ab")
            self.processes.append(subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT))

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()
