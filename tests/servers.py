"""Real servers for tests and benchmarks: a throwaway PostgreSQL cluster and the bot as its own process."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on port {port} after {timeout}s")


def postgres_available() -> bool:
    return bool(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb")))


@contextlib.contextmanager
def temporary_postgres():
    """A PostgreSQL cluster on a loopback port for the duration of the block; yields its SQLAlchemy URL.

    initdb refuses to run as root, so as root the server runs as the `postgres` user, in a directory it can
    reach (pytest's own temp root is private to root).
    """
    bindir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
    holder = Path(tempfile.mkdtemp(prefix="feedbackbot-pg-"))
    data = holder / "data"
    data.mkdir()
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(holder, "postgres")
        shutil.chown(data, "postgres")
    port = free_port()
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(data / "log"), "-w", "-o",
                    f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c max_connections=200", "start"],
                   check=True, capture_output=True)
    try:
        subprocess.run([*as_user, str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                        "feedbackbot_test"], check=True, capture_output=True)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/feedbackbot_test"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(holder, ignore_errors=True)


def start_bot_server(model: str, db_url: str, port: int, log_path: Path, extra_env: dict | None = None):
    """`feedbackbot serve` as a separate process (rate limits off); returns it once /healthz answers."""
    env = dict(os.environ, FEEDBACKBOT_LIMITS_PER_IP_PER_MINUTE="0", FEEDBACKBOT_LIMITS_PER_SESSION_PER_MINUTE="0",
               PYTHONUNBUFFERED="1", **(extra_env or {}))
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--model", str(model), "--db", db_url,
                             "--port", str(port)], env=env, stdout=open(log_path, "ab"), stderr=subprocess.STDOUT)
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}; see {log_path}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise TimeoutError(f"server did not become healthy; see {log_path}")
