"""The pipeline on a Spark Connect session: a real ``SparkConnectServer`` (``start_connect_server``)
on a free loopback port, for a warehouse of its own.

Every Connect client here is a subprocess: creating a Connect session sets
``SPARK_CONNECT_MODE_ENABLED=1`` in its process, which breaks the suite's classic session (the
``spark`` fixture). The results are read back with that classic session, by path.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import FAST
from deltalake import DeltaTable

from churn_spark.app.cli import main
from churn_spark.app.connect import start_connect_server, stop_connect_server
from churn_spark.config import load_config
from churn_spark.lake.tables import Lake

CLIENT_TIMEOUT = 600  # seconds per client subprocess (the tiny pipeline takes a few minutes over Connect)


@dataclass
class Server:
    url: str
    warehouse: str
    log: Path
    cfg: Any
    port: int
    proc: subprocess.Popen

    def restart(self) -> None:
        """A new server for the same warehouse and port (after the old one was killed)."""
        stop_connect_server(self.proc, grace=10.0)
        self.proc = start_connect_server(self.cfg, "127.0.0.1", self.port, log_path=self.log.with_suffix(".2.log"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory):
    """A Spark Connect server for a fresh warehouse: its Derby catalog is ``<warehouse>/_catalog``, so
    every client of this server writes that warehouse."""
    root = tmp_path_factory.mktemp("connect")
    warehouse = root / "wh"
    cfg = load_config(["local"], ["spark.shuffle_partitions=4", "spark.driver_memory=3g",
                                  f"run.warehouse={warehouse}"])
    port = _free_port()
    log = root / "connect-server.log"
    server = Server(f"sc://127.0.0.1:{port}", str(warehouse), log, cfg, port,
                    start_connect_server(cfg, "127.0.0.1", port, log_path=log))
    try:
        yield server
    finally:
        stop_connect_server(server.proc, grace=60.0)  # SIGTERM, wait; SIGKILL when it does not stop in time


def _client_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED")}
    return {**env, "CHURN_SPARK_VERBOSE": "1"}


def _run(command: list[str], server: Server) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=CLIENT_TIMEOUT, env=_client_env())
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"{command[:4]} did not finish in {CLIENT_TIMEOUT} s; server log: "
                    f"{server.log.read_text(errors='replace')[-3000:]}; client: {(err.stderr or b'')[-3000:]!r}")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "churn_spark.app.cli", *args]


def _why(proc: subprocess.CompletedProcess) -> str:
    """The errors a failed client printed (a Connect error carries the server's whole JVM stack)."""
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.lstrip().startswith("at ")]
    errors = [ln for ln in lines if "Error" in ln or "Exception" in ln]
    return "\n".join(errors[:8] + ["..."] + lines[-20:])[-5000:]


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


SMOKE = """
import json, sys
from pyspark.sql import functions as F
from churn_spark.config import load_config
from churn_spark.lake.tables import Lake
from churn_spark.session import get_spark, is_connect

cfg = load_config(["local"], ["spark.shuffle_partitions=4", "run.warehouse={warehouse}", "spark.remote={url}"])
spark = get_spark(cfg)
lake = Lake(spark, cfg)
frame = spark.range(10).select(F.col("id").alias("unit"), (F.col("id") % 3).alias("decile"))
v0 = lake.write(frame, "connect_smoke")
v1 = lake.write(frame.where("decile = 0"), "connect_smoke")
name = lake.table_name("connect_smoke")
history = spark.sql(f"DESCRIBE HISTORY {{name}}").select("version", "operation").collect()
at_v0 = spark.sql(f"SELECT count(*) AS n, sum(unit) AS s FROM {{name}} VERSION AS OF 0").first()
now = lake.read("connect_smoke")
python = F.udf(lambda _: sys.executable, "string")  # runs in a Python worker of the server
import pickle
import numpy as np
import pyarrow as pa
from churn_spark.linalg.shipped import ship
matrix = np.arange(300_000, dtype=float).reshape(1000, 300)
shipped = ship(spark, matrix)

def column_sums(batches):  # the executors read the array from the session's artifact
    values = shipped.value
    for _ in batches:
        yield pa.RecordBatch.from_pydict({{"s": [float(values[:, 7].sum())], "rows": [values.shape[0]]}})

sums = spark.range(4).repartition(2).mapInArrow(column_sums, "s double, rows long").collect()
result = {{
    "shipped": {{"sums": [[r.s, r.rows] for r in sums], "expected": float(matrix[:, 7].sum()),
                "pickled_bytes": len(pickle.dumps(shipped)), "artifact": shipped.artifact,
                "again": ship(spark, matrix).artifact}},
    "connect": is_connect(spark), "session_module": type(spark).__module__, "v0": v0, "v1": v1,
    "rows_now": now.count(), "units_now": sorted(r.unit for r in now.collect()),
    "at_v0": [at_v0.n, at_v0.s], "history": sorted((r.version, r.operation) for r in history),
    "tables": sorted(r.tableName for r in spark.sql("SHOW TABLES IN churn").collect()),
    "worker_python": spark.range(1).select(python("id")).first()[0],
}}
spark.stop()
print("RESULT " + json.dumps(result))
"""


def test_a_connect_session_writes_reads_and_time_travels_a_delta_table(connect_server):
    script = textwrap.dedent(SMOKE.format(warehouse=connect_server.warehouse, url=connect_server.url))
    proc = _run([sys.executable, "-c", script], connect_server)
    assert proc.returncode == 0, _why(proc)
    result = json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))[len("RESULT "):])
    assert result["connect"] and result["session_module"].startswith("pyspark.sql.connect")
    assert result["v0"] == 0 and result["v1"] > result["v0"]
    assert result["rows_now"] == 4 and result["units_now"] == [0, 3, 6, 9]
    assert result["at_v0"] == [10, 45]  # VERSION AS OF 0 through the server's Delta SQL
    writes = [version for version, operation in result["history"] if operation == "WRITE"]
    assert writes == [0, result["v1"]]
    assert "connect_smoke" in result["tables"]  # registered in the server's catalog
    assert result["worker_python"] == sys.executable  # the server's Python workers run this venv
    # a large array reaches the executors as a session artifact, uploaded once, not inline in the plan
    shipped = result["shipped"]
    assert shipped["sums"] == [[shipped["expected"], 1000]] * 2
    assert shipped["pickled_bytes"] < 1000 and shipped["artifact"] == shipped["again"]
    table = Path(connect_server.warehouse) / "connect_smoke"
    assert (table / "_delta_log").is_dir()  # the client's warehouse is the server's


def test_bad_input_fails_with_the_classic_one_line_error(connect_server, spark, tmp_path, capsys):
    missing_emails, missing_observations = str(tmp_path / "no_emails.csv"), str(tmp_path / "no_observations.csv")
    args = ["ingest", "--emails", missing_emails, "--observations", missing_observations]
    proc = _run(_cli(*args, "--remote", connect_server.url, "--warehouse", connect_server.warehouse), connect_server)
    assert proc.returncode == 1, _why(proc)
    over_connect = _last_line(proc.stderr)
    assert over_connect == f"churn-spark ingest: failed: IngestError: emails path does not exist: {missing_emails}"
    capsys.readouterr()
    assert main([*args, "--warehouse", str(tmp_path / "classic_wh")]) == 1  # the classic CLI, the suite's session
    assert _last_line(capsys.readouterr().err) == over_connect


def _gold(spark, warehouse: str) -> dict:
    def table(name: str):
        return spark.read.format("delta").load(f"{warehouse}/{name}")

    return {
        "k": [r.k for r in table("k_selection").where("chosen").collect()],
        "variables": [r.variable for r in table("feature_selection").orderBy("step").collect()],
        "auc": {r.model: r.auc for r in table("model_metrics").collect()},
    }


def test_the_tiny_pipeline_over_connect_matches_the_classic_run(connect_server, spark, tiny_warehouse):
    proc = _run(_cli("pipeline", "--preset", "tiny", "--warehouse", connect_server.warehouse,
                     "--remote", connect_server.url, *FAST), connect_server)
    assert proc.returncode == 0, _why(proc)
    classic, connect = _gold(spark, tiny_warehouse), _gold(spark, connect_server.warehouse)
    assert len(classic["k"]) == 1 and connect["k"] == classic["k"]
    assert classic["variables"] and connect["variables"] == classic["variables"]
    assert sorted(connect["auc"]) == sorted(classic["auc"]) == ["structured", "structured_text"]
    # The same numbers, not merely close ones: both sessions partition the data alike (the same
    # shuffle partitions and cores) and sum the partial results in the same order, so any difference
    # can only be floating-point rounding
    for model, auc in classic["auc"].items():
        assert connect["auc"][model] == pytest.approx(auc, rel=0, abs=1e-9), model
    tables = Lake(spark, root=tiny_warehouse).list()
    assert {"observations", "doc_vectors", "k_selection", "model_metrics", "churn_scores"} <= set(tables)
    # pipeline_runs records each run's configuration hash, which names its warehouse and server
    results = [name for name in tables if name != "pipeline_runs"]
    assert _differing_tables(spark, tiny_warehouse, connect_server.warehouse, results) == {}
    for name in tables:  # a Spark-less Delta reader opens every table the Connect run wrote
        assert DeltaTable(f"{connect_server.warehouse}/{name}").schema() is not None, name


# columns that name the run, not its result
RUN_COLUMNS = {"run_id", "ingested_at", "scored_at", "model_version", "started_at", "seconds", "summary",
               "inputs", "outputs"}


def _differing_tables(spark, first: str, second: str, tables: list[str]) -> dict[str, tuple[int, int]]:
    """Tables whose rows differ between two warehouses (rows only in the first, only in the second)."""
    differing = {}
    for name in tables:
        a, b = (spark.read.format("delta").load(f"{root}/{name}") for root in (first, second))
        columns = [c for c in a.columns if c not in RUN_COLUMNS]
        a, b = a.select(*columns), b.select(*columns)
        only_a, only_b = a.exceptAll(b).count(), b.exceptAll(a).count()
        if only_a or only_b:
            differing[name] = (only_a, only_b)
    return differing


def test_a_lost_server_fails_the_run_in_one_line_and_a_rerun_resumes(connect_server, spark, tiny_warehouse):
    """Kill the server while a stage runs: the client says so in one line, the tables keep their
    versions, and against a new server a re-run skips what is done (runs last: it restarts the server)."""
    versions = {name: _version(connect_server.warehouse, name) for name in ("feature_selection", "k_selection")}
    command = _cli("pipeline", "--preset", "tiny", "--warehouse", connect_server.warehouse, "--remote",
                   connect_server.url, "--force", "--from", "selection", "--conf", "spark.remote_retries=2", *FAST)
    errors = connect_server.log.with_name("killed-client.err")
    with open(errors, "w") as err_file:  # a file: a full stderr pipe would block the client
        client = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err_file, text=True, env=_client_env())
    started = time.monotonic()
    for line in client.stdout:  # the stage is under way: its first lines are printed
        if line.startswith("[selection] started") or time.monotonic() - started > CLIENT_TIMEOUT:
            break
    time.sleep(3.0)
    os.killpg(connect_server.proc.pid, 9)  # the server and its Python workers, no goodbye
    client.communicate(timeout=CLIENT_TIMEOUT)
    assert client.returncode == 1
    last = _last_line(errors.read_text())
    assert last.startswith("churn-spark pipeline: failed: ") and "Spark Connect call failed (UNAVAILABLE)" in last
    assert "start it again" in last
    connect_server.restart()
    proc = _run(_cli("pipeline", "--preset", "tiny", "--warehouse", connect_server.warehouse, "--remote",
                     connect_server.url, "--to", "selection", *FAST), connect_server)
    assert proc.returncode == 0, _why(proc)
    skipped = {line.split("]")[0][1:] for line in proc.stdout.splitlines() if line.endswith("up to date, skipped")}
    assert {"generate", "features", "text", "lsi", "selection"} == skipped
    assert {name: _version(connect_server.warehouse, name) for name in versions} == versions
    assert _differing_tables(spark, tiny_warehouse, connect_server.warehouse, ["feature_selection"]) == {}


def _version(warehouse: str, name: str) -> int:
    return DeltaTable(f"{warehouse}/{name}").version()


def test_malformed_rows_get_the_classic_quarantine_rows(connect_server, spark, tmp_path):
    """Runs after the pipeline tests: its ingest replaces the server warehouse's emails and observations."""
    from test_ingest import _bad_files

    emails, observations = _bad_files(tmp_path / "in")
    args = ["ingest", "--emails", emails, "--observations", observations]
    proc = _run(_cli(*args, "--remote", connect_server.url, "--warehouse", connect_server.warehouse), connect_server)
    assert proc.returncode == 0, _why(proc)
    classic_wh = str(tmp_path / "classic_wh")
    assert main([*args, "--warehouse", classic_wh]) == 0

    def quarantined(warehouse: str) -> list[tuple]:
        rows = spark.read.format("delta").load(f"{warehouse}/quarantine").collect()
        return sorted(((r.source, r.row_id, r.reason, r.record) for r in rows), key=repr)

    assert len(quarantined(classic_wh)) == 15 + 13 and quarantined(connect_server.warehouse) == quarantined(classic_wh)
    assert _differing_tables(spark, classic_wh, connect_server.warehouse, ["emails", "observations"]) == {}
