"""The tiny pipeline submitted with spark-submit to a real Spark standalone cluster on 127.0.0.1.

The module builds (or reuses) the spark-submit artefacts of ``make package``, starts a master and
two one-core workers on free ports, submits ``jobs/run_pipeline.py`` with the packed Python
environment as ``--archives ...#environment``, and checks the result tables. While the
application runs, a watcher looks at the Python processes started by the executors (their
working directory is inside a worker's work dir) to prove they ran the packed interpreter and
loaded their libraries from it, not from the repo's virtual environment.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import FAST

from churn_spark.app import cluster
from churn_spark.app.pipeline import GENERATED_PIPELINE, RUNS_TABLE
from churn_spark.lake.tables import Lake

SUBMIT_TIMEOUT = 1500  # seconds; the run takes a few minutes on a busy 2-core machine


def _free_ports(n: int) -> list[int]:
    """``n`` distinct ports free on 127.0.0.1 (all held open while choosing, so they differ)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _stop_group(proc: subprocess.Popen, grace: float = 60.0) -> None:
    """SIGTERM a process group (the driver's shutdown hooks delete its temp dirs), SIGKILL it after ``grace``."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(grace)


def _remove_folders(folders: list[Path]) -> None:
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


class ExecutorPythonWatcher(threading.Thread):
    """Samples /proc for Python processes whose working directory is under ``root``.

    Records, per process: the worker it runs under, the interpreter path it was started with
    (resolved against its working directory), and the site-packages folders of the shared
    libraries it has mapped (numpy, pyarrow ... once a task imported them).
    """

    def __init__(self, root: Path, interval: float = 0.5):
        super().__init__(daemon=True)
        self.root = str(root.resolve()) + os.sep
        self.interval = interval
        self.seen: dict[int, dict] = {}
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
                try:
                    self._sample(pid)
                except OSError:  # the process ended while being read
                    continue
            self._stop_event.wait(self.interval)

    def _sample(self, pid: int) -> None:
        cwd = os.readlink(f"/proc/{pid}/cwd")
        if not cwd.startswith(self.root):
            return
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode() for a in f.read().split(b"\0") if a]
        if not any(a.startswith("pyspark.") for a in argv):  # python -m pyspark.daemon / pyspark.worker
            return
        with open(f"/proc/{pid}/maps") as f:
            libraries = {line.split(None, 5)[-1].strip() for line in f if "site-packages" in line}
        record = self.seen.setdefault(pid, {"worker": cwd[len(self.root):].split(os.sep)[0],
                                            "python": os.path.normpath(os.path.join(cwd, argv[0])),
                                            "cwd": cwd, "site_packages": set()})
        record["site_packages"] |= {lib.split("site-packages")[0] + "site-packages" for lib in libraries}

    def stop(self) -> None:
        self._stop_event.set()
        self.join(10)


@pytest.fixture(scope="module")
def artefacts() -> dict[str, str]:
    """The wheel and packed environment in dist/, rebuilt only when the package sources changed."""
    return cluster.package()


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    """A master and two workers (1 core, 2 GiB each) on free ports; stopped whatever happens."""
    state = tmp_path_factory.mktemp("standalone")
    try:
        port, ui_port = _free_ports(2)
        url = cluster.up(workers=2, cores=1, memory="2g", port=port, ui_port=ui_port, state=state)
        yield url, state
    finally:
        cluster.down(state)
        # the unpacked environments are ~0.8 GB (14k files) per executor: keep only the logs; deleting takes
        # up to a minute on a busy disk, so it runs beside the next tests (a non-daemon thread: pytest waits)
        unpacked = list(state.glob("worker-*/app-*/*/environment"))
        threading.Thread(target=_remove_folders, args=(unpacked,), name="remove unpacked environments").start()


@pytest.fixture(scope="module")
def submitted(artefacts, standalone, tmp_path_factory):
    """spark-submit of the tiny pipeline; returns the warehouse, the logs and the executors' Pythons."""
    url, state = standalone
    out = tmp_path_factory.mktemp("submit")
    warehouse = str(out / "wh")
    command = cluster.submit_args(
        url, str(cluster.REPO / "jobs" / "run_pipeline.py"),
        "--preset", "tiny", "--warehouse", warehouse, "-c", "standalone", *FAST, "--verbose",
        env_archive=artefacts["env_archive"],
        # no waiting for a preferred executor: on one machine every executor reads the same disk
        options=["--driver-memory", "2g", "--conf", "spark.locality.wait=0s", "--conf", "spark.ui.enabled=false"])
    # the driver binds and advertises 127.0.0.1 only; nothing of the test's own Spark session leaks in
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK_", "SPARK_"))}
    env["SPARK_LOCAL_IP"] = "127.0.0.1"
    watcher = ExecutorPythonWatcher(state)
    watcher.start()
    started = time.time()
    with open(out / "stdout.log", "w") as stdout, open(out / "stderr.log", "w") as stderr:
        proc = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env, cwd=out, start_new_session=True)
        try:
            proc.wait(SUBMIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        finally:
            watcher.stop()
            if proc.poll() is None:  # timed out or interrupted (Ctrl-C): leave no driver behind
                _stop_group(proc)
    code = proc.returncode
    print(f"spark-submit on the standalone cluster: {time.time() - started:.0f} s, exit {code}")
    return {"code": code, "warehouse": warehouse, "stdout": (out / "stdout.log").read_text(),
            "stderr": (out / "stderr.log").read_text(), "pythons": list(watcher.seen.values()), "state": state}


@pytest.fixture(scope="module")
def lake(spark, submitted):
    assert submitted["code"] == 0, submitted["stdout"][-2000:] + submitted["stderr"][-5000:]
    return Lake(spark, root=submitted["warehouse"])


def test_spark_submit_of_the_tiny_pipeline_succeeds(submitted):
    assert submitted["code"] == 0, submitted["stdout"][-2000:] + submitted["stderr"][-5000:]
    for stage in GENERATED_PIPELINE:
        assert f"[{stage.name}] done" in submitted["stdout"], stage.name


def test_executors_ran_the_packed_python_environment(submitted, artefacts):
    """Both executors' Python processes are ./environment/bin/python of the unpacked archive."""
    pythons = submitted["pythons"]
    assert {p["worker"] for p in pythons} == {"worker-0", "worker-1"}, pythons
    for p in pythons:
        assert p["python"] == os.path.join(p["cwd"], "environment", "bin", "python"), p
    packed = {f"{p['cwd']}/environment/lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"
              for p in pythons}
    loaded = set().union(*(p["site_packages"] for p in pythons))
    # native libraries (numpy, pyarrow ...) were loaded from the archive, none from the repo's venv
    assert loaded & packed, loaded
    assert loaded <= packed, loaded - packed
    # the executors fetched the archive that make package built
    size = os.path.getsize(artefacts["env_archive"])
    logs = "".join(p.read_text() for p in Path(submitted["state"]).glob("worker-*/app-*/*/stderr"))
    assert f"#environment ({size} bytes)" in logs


def test_result_tables(lake):
    stages = {r.stage for r in lake.read(RUNS_TABLE).collect()}
    assert stages == {s.name for s in GENERATED_PIPELINE}
    metrics = {r.model: r.auc for r in lake.read("model_metrics").collect()}
    assert set(metrics) == {"structured", "structured_text"}
    assert all(0.5 < auc <= 1.0 for auc in metrics.values()), metrics
    observations = lake.read("observations")
    scores = lake.read("churn_scores")
    pending = observations.where("churn IS NULL").count()
    assert scores.count() == scores.select("unit_id").distinct().count() == pending > 0
    assert {r.unit_id for r in scores.select("unit_id").collect()} == \
        {r.unit_id for r in observations.where("churn IS NULL").select("unit_id").collect()}
    vectors = lake.read("doc_vectors")
    units = observations.count()
    assert vectors.count() == vectors.select("unit_id").distinct().count() == units


def test_report_written_by_the_cluster_driver(submitted, lake):
    report = Path(submitted["warehouse"]) / "report" / "summary.json"
    summary = json.loads(report.read_text(encoding="utf-8"))
    assert summary["k"] in (5, 10, 20, 40)
    metrics = {r.model: r.auc for r in lake.read("model_metrics").collect()}
    assert summary["models"]["structured_text"]["auc"] == pytest.approx(metrics["structured_text"])
