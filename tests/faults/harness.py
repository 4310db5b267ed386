"""The moving parts the fault cases break: a Redis server, Celery workers, sandbox sockets.

Each is a real process or a real socket, started and stopped here so a case can kill,
stop or slow it at a chosen moment:
- `RedisServer`: its own `redis-server` on a spare port (no persistence, so a restart
  loses everything, like a Redis that died), stoppable and restartable on that port.
- `Workers`: `celery worker --pool=solo` subprocesses against the test database and that
  Redis, killed with SIGKILL as the OOM killer would.
- `FaultGate`: WSGI middleware in front of a sandbox that slows it, or answers 429 / 5xx
  for a stretch, and counts requests in progress (so a kill lands mid-call).
- `Socket`: a sandbox on a fixed port that can be closed (connection refused) and opened
  again.
- `Beat`: the test process plays celery beat, sending the real tasks by name.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from syncapp.sandbox_server import RunningSandbox

ROOT = Path(__file__).resolve().parents[2]
CELERY = ROOT / ".venv" / "bin" / "celery"

# Short engine timings for the workers only (production defaults are untouched): a lease
# a live worker renews, backoff small enough for a storm shorter than the retry budget to
# pass inside the case's time, the sweep every SWEEP_SECONDS from the test process.
WORKER_TIMINGS = {
    "SYNC_LEASE_SECONDS": "15",
    "SYNC_HEARTBEAT_SECONDS": "3",
    "SYNC_BACKOFF_BASE_SECONDS": "2",
    "SYNC_BACKOFF_MAX_SECONDS": "16",
    "SYNC_MAX_ATTEMPTS": "5",
}
LEASE_SECONDS = float(WORKER_TIMINGS["SYNC_LEASE_SECONDS"])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(predicate: Callable[[], object], *, timeout: float, every: float = 0.2,
               tick: Callable[[], None] | None = None) -> object:
    """Poll `predicate` until it is truthy (returned) or `timeout` passes (returns the last
    falsy value). `tick` runs between polls (the beat, health samples)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        if tick:
            tick()
        time.sleep(every)


# ---------------------------------------------------------------- Redis


class RedisServer:
    """A redis-server of the suite's own, on a spare port, without persistence."""

    def __init__(self, workdir: Path) -> None:
        self.binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_until(self.answers, timeout=10):
            raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def flush(self) -> None:
        import redis

        redis.Redis.from_url(self.url).flushall()


# ---------------------------------------------------------------- workers


def test_database_url(database_name: str) -> str:
    """DATABASE_URL of the test database pytest-django created (same server, its name)."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit((parts.scheme, parts.netloc, f"/{database_name}", parts.query, parts.fragment))


class Workers:
    """Celery worker subprocesses on the default queue; each solo (one task at a time), or
    with `concurrency` above 1 a prefork pool of that many processes (as docker-compose.yml)."""

    def __init__(self, *, database_url: str, redis_url: str, logdir: Path, extra_env: dict[str, str],
                 concurrency: int = 1) -> None:
        # The workers get the test's own database and Redis, not an xdist worker's share of them.
        inherited = {name: value for name, value in os.environ.items() if name != "PYTEST_XDIST_WORKER"}
        self.env = inherited | {
            "DATABASE_URL": database_url, "REDIS_URL": redis_url, "CELERY_BROKER_URL": redis_url,
            "SYNC_ENVIRONMENT": "test", "SANDBOXES_ENABLED": "true", "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "syncapp.settings", "CELERY_TASK_ALWAYS_EAGER": "false",
        } | WORKER_TIMINGS | extra_env
        self.logdir = logdir
        self.pool = ["--pool=solo", "--concurrency=1"] if concurrency == 1 else [
            "--pool=prefork", f"--concurrency={concurrency}"]
        self.processes: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        number = len(self.processes) + 1
        self.logdir.mkdir(parents=True, exist_ok=True)
        path = self.logdir / f"worker-{number}.log"
        log = open(path, "ab")
        process = subprocess.Popen(
            [str(CELERY), "-A", "syncapp", "worker", *self.pool, "-Q", "celery",
             "-n", f"faults{number}@%h", "--without-heartbeat", "--without-mingle", "--without-gossip",
             "-l", "WARNING"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.processes.append(process)
        # The banner lists the queues once the app has loaded; a worker that cannot load exits.
        wait_until(lambda: process.poll() is not None or b"[queues]" in path.read_bytes(), timeout=60)
        if process.poll() is not None:
            raise RuntimeError(f"worker {number} exited at start: {path.read_text(errors='replace')[-2000:]}")
        return process

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL: no cleanup, no ack, no finally blocks, as when the machine kills it."""
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                self.kill(process)

    def alive(self) -> list[subprocess.Popen]:
        return [p for p in self.processes if p.poll() is None]


class Beat:
    """The test process as celery beat: sends the real tasks by name to the suite's broker.
    A broker that is down makes a send fail; beat goes on (as the real one does)."""

    def __init__(self, broker_url: str) -> None:
        from celery import Celery

        # Not the process's current app: Celery keeps that per thread, and a test thread whose
        # current app differs from the live server's would patch a task the pages never call.
        self.app = Celery("faults-beat", broker=broker_url, set_as_current=False)
        self.app.conf.broker_connection_retry_on_startup = False
        self.app.conf.broker_transport_options = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}
        self.sent, self.refused = 0, 0
        self._last_sweep = 0.0

    def send(self, name: str, *args) -> bool:
        try:
            self.app.send_task(name, args=list(args), retry=False)
        except Exception:  # noqa: BLE001 - the broker is down: that is the fault under test
            self.refused += 1
            return False
        self.sent += 1
        return True

    def sweep(self, *, every: float = 2.0) -> None:
        """The periodic safety net, at most every `every` seconds."""
        if time.monotonic() - self._last_sweep >= every:
            self._last_sweep = time.monotonic()
            self.send("syncapp.outbox_sweep_task")

    def pull(self, connection_id: int, entity: str = "business_partners") -> bool:
        return self.send("syncapp.connection_pull_task", connection_id, entity)


# ---------------------------------------------------------------- sandboxes


@dataclass
class Storm:
    """Answer `status` to matching requests for `seconds`, from the first matching request
    (so the storm meets the pushes, however long the pull before them took)."""

    status: int
    seconds: float
    retry_after: float | None
    paths: tuple[str, ...]
    starts: float | None = None

    def matches(self, path: str) -> bool:
        return any(fragment in path for fragment in self.paths)


class FaultGate:
    """WSGI middleware before a sandbox: slows it, answers storms, counts calls in progress."""

    def __init__(self, app) -> None:
        self.app = app
        self.delays: dict[str, float] = {}  # path fragment -> seconds added to each matching call
        self.storms: list[Storm] = []
        self.in_progress: dict[str, int] = {}
        self.storm_answers = 0
        self._lock = threading.Lock()

    def slow(self, fragment: str, seconds: float) -> None:
        self.delays[fragment] = seconds

    def unslow(self) -> None:
        self.delays.clear()

    def storm(self, *phases: tuple[int, float], retry_after: float | None = None,
              paths: Iterable[str] = ("",)) -> None:
        """Phases of (status, seconds), one after another from the first matching request."""
        self.storms = [Storm(status, seconds, retry_after, tuple(paths)) for status, seconds in phases]

    def storm_over(self) -> bool:
        """The storm started and its last phase has ended."""
        last = self.storms[-1] if self.storms else None
        return last is not None and last.starts is not None and time.monotonic() >= last.starts + last.seconds

    def _storm_at(self, now: float, path: str) -> Storm | None:
        """The storm phase answering `path` at `now`, starting the storm at its first match."""
        with self._lock:
            if self.storms and self.storms[0].starts is None:
                if not self.storms[0].matches(path):
                    return None
                start = now
                for phase in self.storms:
                    phase.starts, start = start, start + phase.seconds
            for phase in self.storms:
                if phase.starts <= now < phase.starts + phase.seconds and phase.matches(path):
                    return phase
            return None

    def busy(self, fragment: str) -> int:
        with self._lock:
            return sum(n for path, n in self.in_progress.items() if fragment in path)

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        storm = self._storm_at(time.monotonic(), path)
        if storm is not None:
            with self._lock:
                self.storm_answers += 1
            headers = [("Content-Type", "application/json"), ("Content-Length", "2")]
            if storm.retry_after is not None:
                headers.append(("Retry-After", f"{storm.retry_after:g}"))
            start_response(f"{storm.status} Storm", headers)
            return [b"{}"]
        with self._lock:
            self.in_progress[path] = self.in_progress.get(path, 0) + 1
        try:
            delay = max((s for f, s in self.delays.items() if f in path), default=0.0)
            if delay:
                time.sleep(delay)  # a slow vendor: the point of the gate, not a test's timing
            return self.app(environ, start_response)
        finally:
            with self._lock:
                self.in_progress[path] -= 1


class Socket:
    """A sandbox on a fixed port that can be closed (connection refused) and opened again."""

    def __init__(self, app) -> None:
        self.app = app
        self.port = free_port()
        self.server: RunningSandbox | None = None
        self.open()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def open(self) -> None:
        if self.server is None:
            self.server = RunningSandbox(self.app, port=self.port).start()

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
