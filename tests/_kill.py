"""Kill a worker process (SIGKILL: no chance to clean up) once it has reached a point."""

import signal
import subprocess
import time


def kill_when(cmd, ready, *, timeout=300.0, poll=0.02):
    """Start ``cmd``, wait until ``ready()`` is true, then SIGKILL it; fails if the worker
    exits first or makes no progress within ``timeout`` seconds."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the worker made no progress"
            time.sleep(poll)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
