"""A Spark Connect server for the project's configuration (``churn-spark connect-server``, ``make connect``).

The server is pyspark's own ``SparkConnectServer`` (the ``spark-connect`` jar ships with the
pyspark package), started by pyspark's ``bin/spark-submit`` with every setting of an embedded
session (:func:`churn_spark.session.embedded_conf`): the Delta Lake jars, extension and catalog,
and with ``lake.metastore: derby`` the Hive metastore in Derby inside the warehouse. Clients
(``churn-spark ... --remote sc://HOST:PORT``) can only change SQL settings; the rest is the server's.
A client must use the server's warehouse (``--warehouse``): the tables are registered in the
server's catalog.

The server has no authentication and runs any Python or SQL its clients send: it binds a
loopback address unless told otherwise (``allow_non_loopback``, ``--allow-non-loopback``).
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from churn_spark.config import Config
from churn_spark.lake.sql import wait_for_port
from churn_spark.session import embedded_conf

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
DEFAULT_PORT = 15002  # Spark Connect's own default
# the pipeline's Python functions carry the LSI projection matrix (tens of MB) in their closures,
# which travel in the plan: far above gRPC's default 128 MiB limit for large k_max and vocabularies
MAX_INBOUND_MESSAGE_BYTES = 1 << 30
START_TIMEOUT = 180.0  # seconds: a JVM, the Hive metastore and the gRPC service on a busy small machine
# settings that spark-submit takes as options of its own
_SUBMIT_OPTIONS = {"spark.master": "--master", "spark.driver.memory": "--driver-memory", "spark.jars": "--jars"}
# a server started from a process that is itself a Connect client (or under spark-submit) must not inherit that
_CLIENT_ENVIRONMENT = ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED", "PYSPARK_GATEWAY_PORT", "PYSPARK_GATEWAY_SECRET")


class ConnectServerError(RuntimeError):
    """The Spark Connect server cannot be started (refused address, dead process, timeout)."""


def spark_submit_path() -> str:
    """The ``spark-submit`` launcher that ships with the pyspark package."""
    import pyspark

    return os.path.join(os.path.dirname(pyspark.__file__), "bin", "spark-submit")


def is_loopback(host: str) -> bool:
    """True when every address ``host`` names is a loopback address (127.0.0.0/8, ::1)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


def check_host(host: str, allow_non_loopback: bool = False) -> None:
    """Refuse to serve on a non-loopback address unless explicitly allowed: the server has no
    authentication, and any client that reaches it runs arbitrary code as this user."""
    if not allow_non_loopback and not is_loopback(host):
        raise ConnectServerError(
            f"refusing to bind the Spark Connect server to {host!r}, not a loopback address: it has no "
            "authentication and runs any code a client sends; bind 127.0.0.1 (reach it through an SSH tunnel) "
            "or pass --allow-non-loopback on a trusted network")


def connect_server_command(cfg: Config, host: str, port: int, *, allow_non_loopback: bool = False) -> list[str]:
    """The spark-submit command line of a Spark Connect server for ``cfg`` on ``host:port``."""
    check_host(host, allow_non_loopback)
    conf = embedded_conf(cfg)
    command = [spark_submit_path(), "--class", SERVER_CLASS]
    for key, option in _SUBMIT_OPTIONS.items():
        if conf.get(key):
            command += [option, conf.pop(key)]
    conf.update({
        "spark.connect.grpc.binding.address": host,
        "spark.connect.grpc.binding.port": str(int(port)),
        "spark.connect.grpc.maxInboundMessageSize": str(MAX_INBOUND_MESSAGE_BYTES),
        # the Python workers of the server (UDFs, mapInArrow, ...) run this interpreter: the venv with jieba etc.
        "spark.pyspark.python": sys.executable,
    })
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    return [*command, "spark-internal"]


def server_environment() -> dict[str, str]:
    """The server's environment: this one, with the Python workers on this interpreter."""
    env = {key: value for key, value in os.environ.items() if key not in _CLIENT_ENVIRONMENT}
    env["PYSPARK_PYTHON"] = sys.executable
    env["PYSPARK_DRIVER_PYTHON"] = sys.executable
    return env


def _probe_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def _last_lines(path: Path, n: int = 6) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "(no log)"
    return " | ".join(lines[-n:])[-1500:] or "(empty log)"


def start_connect_server(cfg: Config, host: str, port: int, log_path: str | Path | None = None, *,
                         allow_non_loopback: bool = False, timeout: float = START_TIMEOUT) -> subprocess.Popen:
    """Start a Spark Connect server for ``cfg`` on ``host:port`` and return once it accepts connections.

    Its output goes to ``log_path`` (by default a new temporary file); the returned process has
    the attribute ``log_path``. The server runs in its own process group (:func:`stop_connect_server`
    stops it with its Python workers). Raises :class:`ConnectServerError` (one line, with the log's
    last lines) when the address is refused or taken, or the server dies or does not listen in time.
    """
    command = connect_server_command(cfg, host, port, allow_non_loopback=allow_non_loopback)
    probe = _probe_host(host)
    if wait_for_port(probe, port, timeout=0.1):
        raise ConnectServerError(f"cannot start the Spark Connect server: {host}:{port} is already in use")
    if log_path is None:
        fd, name = tempfile.mkstemp(prefix="churn-spark-connect-", suffix=".log")
        os.close(fd)
        log_path = name
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=server_environment(), start_new_session=True)
    proc.log_path = log_path  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise ConnectServerError(f"the Spark Connect server exited with code {proc.returncode} before "
                                     f"listening on {host}:{port}; log {log_path}: {_last_lines(log_path)}")
        if wait_for_port(probe, port, timeout=1.0):
            return proc
        if time.monotonic() > deadline:
            stop_connect_server(proc, grace=10.0)
            raise ConnectServerError(f"the Spark Connect server did not listen on {host}:{port} within "
                                     f"{timeout:.0f} s; log {log_path}: {_last_lines(log_path)}")


def stop_connect_server(proc: subprocess.Popen, grace: float = 60.0) -> int | None:
    """SIGTERM the server's process group (its shutdown hooks close the metastore), SIGKILL after ``grace`` s."""
    if proc.poll() is not None:
        return proc.returncode
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            return proc.wait(grace)
        except subprocess.TimeoutExpired:
            continue
    return proc.wait(grace)
