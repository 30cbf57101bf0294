"""The Spark Connect path, read from the source: only ``churn_spark/classic.py`` touches what a
Connect session does not have (the SparkContext, RDDs, broadcast variables, the JVM gateway, MLlib).

A Spark Connect client has no driver JVM: ``spark.sparkContext``, ``df.rdd``, ``sc.broadcast``,
``spark._jvm`` and ``pyspark.mllib`` raise there. Every other module must work on both kinds of
session, so none of them may use these; the classic-only code lives in :mod:`churn_spark.classic`,
whose callers choose a Connect alternative or say that the feature is classic-only.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "churn_spark"
CLASSIC = PACKAGE / "classic.py"

# attributes that exist only on classic sessions, frames and contexts
CLASSIC_ATTRIBUTES = {"sparkContext", "rdd", "_jvm", "_jsc", "_jsparkSession", "_jdf"}
# names that are classic-only wherever pyspark exports them (pyspark, pyspark.rdd, pyspark.context ...)
CLASSIC_NAMES = {"RDD", "SparkContext", "Broadcast", "mllib"}
CLASSIC_MODULES = ("pyspark.mllib", "pyspark.rdd", "pyspark.context", "pyspark.broadcast")
# receivers whose .broadcast(df) is the DataFrame join hint, not a broadcast variable
FUNCTIONS_MODULE = {"F", "functions"}


def _is_classic_module(name: str) -> bool:
    return any(name == m or name.startswith(m + ".") for m in CLASSIC_MODULES)


def _is_functions_module(node: ast.expr) -> bool:
    """``F``, ``functions`` or ``pyspark.sql.functions``: the receiver of the join hint ``F.broadcast(df)``."""
    if isinstance(node, ast.Name):
        return node.id in FUNCTIONS_MODULE
    return isinstance(node, ast.Attribute) and node.attr == "functions"


def classic_uses(source: str) -> list[tuple[int, str]]:
    """Every use of a classic-only API in ``source``: (line, what), in line order."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            if node.attr in CLASSIC_ATTRIBUTES:
                found.append((node.lineno, f".{node.attr}"))
            elif isinstance(node.value, ast.Name) and node.value.id == "pyspark" and node.attr in CLASSIC_NAMES:
                found.append((node.lineno, f"pyspark.{node.attr}"))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "broadcast":
            if not _is_functions_module(node.func.value):
                found.append((node.lineno, f"{ast.unparse(node.func)}(...) (a broadcast variable)"))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, f"import {alias.name}") for alias in node.names if _is_classic_module(alias.name)]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if _is_classic_module(node.module):
                found.append((node.lineno, f"from {node.module} import ..."))
            elif node.module == "pyspark" or node.module.startswith("pyspark."):
                found += [(node.lineno, f"from {node.module} import {alias.name}")
                          for alias in node.names if alias.name in CLASSIC_NAMES]
    return sorted(set(found))


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p != CLASSIC)


def test_only_classic_py_uses_classic_only_spark_apis():
    modules = _modules()
    assert len(modules) > 20, "the package's modules were not found"
    wrong = [f"{path.relative_to(ROOT)}:{line}: {what}"
             for path in modules for line, what in classic_uses(path.read_text(encoding="utf-8"))]
    assert not wrong, ("classic-only Spark APIs outside churn_spark/classic.py (a Spark Connect session has "
                       "none of them):\n" + "\n".join(wrong))


def test_classic_py_says_it_is_classic_only():
    docstring = ast.get_docstring(ast.parse(CLASSIC.read_text(encoding="utf-8"))) or ""
    assert re.search(r"classic(-| sessions? )only", docstring, re.IGNORECASE), docstring[:300]


def test_the_check_finds_each_pattern_and_allows_the_join_hint():
    source = """
import pyspark.mllib.linalg
from pyspark import RDD, StorageLevel
from pyspark import SparkContext as SC
from pyspark.broadcast import Broadcast
from pyspark.mllib.linalg.distributed import RowMatrix
from pyspark.sql import functions as F
import pyspark
import pyspark.sql.functions

def f(spark, df, small, sc):
    a = spark.sparkContext.defaultParallelism
    b = df.rdd.map(len)
    c = spark._jvm.java.lang.System
    d = spark._jsparkSession, sc._jsc, df._jdf
    e = sc.broadcast([1, 2])
    g = spark.sparkContext.broadcast(3)
    h = pyspark.RDD
    ok = df.join(F.broadcast(small), "id"), df.join(functions.broadcast(small), "id")
    ok2 = df.join(pyspark.sql.functions.broadcast(small), "id")
    ok3 = spark.catalog, df.rdd_like, spark.sparkSession
"""
    found = classic_uses(source)
    lines = {line for line, _ in found}
    assert lines == {2, 3, 4, 5, 6, 12, 13, 14, 15, 16, 17, 18}, found
    assert (3, "from pyspark import RDD") in found and (3, "from pyspark import StorageLevel") not in found
    assert (16, "sc.broadcast(...) (a broadcast variable)") in found
    assert {what for line, what in found if line == 15} == {"._jsparkSession", "._jsc", "._jdf"}
    assert not [f for f in found if f[0] >= 19]  # the join hint, and look-alike names, are fine


# ---------------------------------------------------------------------------------------
# the Connect server's command line and start-up (no JVM: the server is replaced by small processes)


def _cfg(tmp_path):
    from churn_spark.config import load_config

    return load_config(["local"], [f"run.warehouse={tmp_path / 'wh'}", "spark.driver_memory=3g"])


def _settings(command: list[str]) -> dict[str, str]:
    """``--conf k=v`` and spark-submit's own options of a command line, as Spark settings."""
    options = {"--master": "spark.master", "--driver-memory": "spark.driver.memory", "--jars": "spark.jars"}
    settings = {}
    for flag, value in zip(command, command[1:], strict=False):
        if flag == "--conf":
            key, _, setting = value.partition("=")
            settings[key] = setting
        elif flag in options:
            settings[options[flag]] = value
    return settings


def test_the_server_command_line_holds_every_embedded_setting(tmp_path):
    from churn_spark.app.connect import SERVER_CLASS, connect_server_command
    from churn_spark.session import embedded_conf

    cfg = _cfg(tmp_path)
    command = connect_server_command(cfg, "127.0.0.1", 15555)
    assert Path(command[0]).name == "spark-submit" and Path(command[0]).is_file()
    assert command[1:3] == ["--class", SERVER_CLASS] and command[-1] == "spark-internal"
    settings = _settings(command)
    expected = embedded_conf(cfg)
    assert {k: settings.get(k) for k in expected} == expected
    assert expected["spark.sql.catalogImplementation"] == "hive"  # the Derby catalog in the warehouse
    assert str(tmp_path / "wh" / "_catalog") in expected["spark.hadoop.javax.jdo.option.ConnectionURL"]
    assert settings["spark.connect.grpc.binding.address"] == "127.0.0.1"
    assert settings["spark.connect.grpc.binding.port"] == "15555"
    assert int(settings["spark.connect.grpc.maxInboundMessageSize"]) >= 1 << 30
    assert settings["spark.driver.memory"] == "3g"


def test_a_server_on_a_non_loopback_address_is_refused_unless_allowed(tmp_path):
    import pytest

    from churn_spark.app.connect import ConnectServerError, connect_server_command, is_loopback

    cfg = _cfg(tmp_path)
    for host in ("0.0.0.0", "192.0.2.10", "::"):
        with pytest.raises(ConnectServerError, match=f"refusing to bind .*{re.escape(host)}.*not a loopback"):
            connect_server_command(cfg, host, 15555)
    command = connect_server_command(cfg, "0.0.0.0", 15555, allow_non_loopback=True)
    assert "spark.connect.grpc.binding.address=0.0.0.0" in command
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")


def test_remote_maps_to_spark_remote_on_every_command():
    import pytest

    from churn_spark.app.cli import COMMANDS, _overrides, _parser

    for command in ("smoke", "sql", "lsi", "thrift", "connect-server"):
        args = _parser().parse_args([command, "--remote", "sc://127.0.0.1:15002"])
        assert "spark.remote=sc://127.0.0.1:15002" in _overrides(args)
    args = _parser().parse_args(["connect-server"])
    assert (args.host, args.port, args.allow_non_loopback, args.remote) == ("127.0.0.1", 15002, False, None)
    assert "connect-server" in {c.name for c in COMMANDS}
    with pytest.raises(SystemExit) as exited:
        _parser().parse_args(["smoke", "--remote", "http://127.0.0.1:15002"])
    assert exited.value.code == 2


def _fake_server(monkeypatch, code: str) -> None:
    import sys

    from churn_spark.app import connect

    monkeypatch.setattr(connect, "connect_server_command", lambda *a, **k: [sys.executable, "-c", code])


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_server_that_dies_is_reported_in_one_line_with_its_log(tmp_path, monkeypatch):
    import pytest

    from churn_spark.app.connect import ConnectServerError, start_connect_server

    _fake_server(monkeypatch, "import sys; print('starting'); print('Error: class not found'); sys.exit(3)")
    with pytest.raises(ConnectServerError) as raised:
        start_connect_server(_cfg(tmp_path), "127.0.0.1", _free_port(), tmp_path / "server.log", timeout=60)
    message = str(raised.value)
    assert "\n" not in message and "exited with code 3" in message
    assert "Error: class not found" in message and str(tmp_path / "server.log") in message


def test_a_server_that_does_not_listen_in_time_is_stopped(tmp_path, monkeypatch):
    import time

    import pytest

    from churn_spark.app.connect import ConnectServerError, start_connect_server

    marker = tmp_path / "still-running"
    _fake_server(monkeypatch, f"import time, pathlib; print('waiting', flush=True); time.sleep(30); "
                              f"pathlib.Path({str(marker)!r}).touch()")
    started = time.monotonic()
    with pytest.raises(ConnectServerError, match=r"did not listen on 127\.0\.0\.1:\d+ within 2 s; .*waiting"):
        start_connect_server(_cfg(tmp_path), "127.0.0.1", _free_port(), tmp_path / "server.log", timeout=2)
    assert time.monotonic() - started < 20


def test_a_port_in_use_is_refused_before_anything_starts(tmp_path, monkeypatch):
    import socket

    import pytest

    from churn_spark.app.connect import ConnectServerError, start_connect_server

    _fake_server(monkeypatch, "raise SystemExit('must not start')")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(ConnectServerError, match=f"127.0.0.1:{port} is already in use"):
            start_connect_server(_cfg(tmp_path), "127.0.0.1", port, tmp_path / "server.log")
    assert not (tmp_path / "server.log").exists()


def test_a_started_server_is_stopped_with_its_process_group(tmp_path, monkeypatch):
    import time

    from churn_spark.app.connect import start_connect_server, stop_connect_server

    port = _free_port()
    # a "server" that listens, with a child process in its group (as the JVM has Python workers)
    _fake_server(monkeypatch, f"import socket, subprocess, sys, time; "
                              f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); "
                              f"print('child', child.pid, flush=True); s = socket.socket(); "
                              f"s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(300)")
    proc = start_connect_server(_cfg(tmp_path), "127.0.0.1", port, tmp_path / "server.log", timeout=60)
    assert proc.log_path == tmp_path / "server.log"
    child = int(next(ln.split()[1] for ln in (tmp_path / "server.log").read_text().splitlines()
                     if ln.startswith("child ")))
    assert stop_connect_server(proc, grace=10) is not None
    deadline = time.monotonic() + 10  # the orphaned child is reaped by init a moment later
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.1)
    assert not _alive(child)  # the child is gone too


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its parent's wait counts as gone)."""
    import os

    if Path("/proc").is_dir():
        try:
            return Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()[0] != "Z"
        except FileNotFoundError:
            return False
    try:  # no /proc (macOS): the orphan's new parent reaps it
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
