"""Running the sandbox as a child process of the demo, next to its worker and scheduler."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

from audience_ops.core.embedded import port_is_open

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})


def start_sandbox_process(base_url: str, *, log_dir: Path | None = None) -> subprocess.Popen | None:
    """Start ``manage.py run_sandbox`` for ``base_url`` and wait until it listens.

    None when ``base_url`` is not on this machine (nothing to start) or something already listens there
    (a sandbox left running, which is reused).
    """
    parts = urlsplit(base_url)
    host, port = parts.hostname or "", parts.port or 80
    if host not in LOCAL_HOSTS or port_is_open("127.0.0.1", port):
        return None
    log_dir = log_dir or Path(settings.BASE_DIR) / "var" / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "run_sandbox"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    log = (log_dir / "sandbox.log").open("ab")
    process = subprocess.Popen(command, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT)
    for _ in range(100):
        if port_is_open("127.0.0.1", port) or process.poll() is not None:
            break
        time.sleep(0.1)
    return process
