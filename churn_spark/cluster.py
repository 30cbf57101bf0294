"""A real Spark standalone cluster on 127.0.0.1, and the artefacts spark-submit needs.

``python -m churn_spark.cluster up`` starts a master and two workers from the pip-installed
Spark (no ``sbin`` scripts needed: ``bin/spark-class`` runs the daemons), ``down`` stops
them, ``package`` builds ``dist/churn_spark-*.whl`` and ``dist/churn-spark-env.tar.gz`` (a
relocatable venv with churn_spark, jieba and its dictionaries, numpy, pandas, pyarrow ...,
for ``--archives dist/churn-spark-env.tar.gz#environment`` on YARN/Kubernetes/standalone).
State (pids, logs, the master URL) lives in ``.cluster/``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STATE = REPO / ".cluster"
DIST = REPO / "dist"
ENV_ARCHIVE = DIST / "churn-spark-env.tar.gz"
# the executors import pyspark from the Spark installation itself (pyspark.zip on the worker)
EXCLUDED_FROM_ENV = ("pyspark", "delta-spark")


def spark_home() -> str:
    import pyspark
    return os.path.dirname(pyspark.__file__)


def _spark_env() -> dict[str, str]:
    env = dict(os.environ)
    env["SPARK_HOME"] = spark_home()
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    env["PYSPARK_PYTHON"] = env.get("PYSPARK_PYTHON", sys.executable)
    return env


def _spawn(name: str, args: list[str]) -> int:
    STATE.mkdir(exist_ok=True)
    log = open(STATE / f"{name}.log", "w")
    proc = subprocess.Popen([os.path.join(spark_home(), "bin", "spark-class"), *args], stdout=log,
                            stderr=subprocess.STDOUT, env=_spark_env(), start_new_session=True)
    (STATE / f"{name}.pid").write_text(str(proc.pid))
    return proc.pid


def _alive_workers(ui_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=2) as resp:
            state = json.load(resp)
        return sum(1 for w in state.get("workers", []) if w.get("state") == "ALIVE")
    except OSError:
        return 0


def up(workers: int = 2, cores: int = 1, memory: str = "2g", port: int = 7077, ui_port: int = 8080,
       timeout: float = 120.0) -> str:
    """Start a master and ``workers`` workers on 127.0.0.1; return the master URL."""
    if master_url() and _alive_workers(int((STATE / "ui_port").read_text())) >= workers:
        return master_url()
    down()
    url = f"spark://127.0.0.1:{port}"
    _spawn("master", ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                      "--port", str(port), "--webui-port", str(ui_port)])
    for i in range(workers):
        work_dir = STATE / f"worker-{i}"
        work_dir.mkdir(parents=True, exist_ok=True)
        _spawn(f"worker-{i}", ["org.apache.spark.deploy.worker.Worker", url, "--host", "127.0.0.1",
                               "--cores", str(cores), "--memory", memory, "--webui-port", "0",
                               "--work-dir", str(work_dir)])
    deadline = time.time() + timeout
    while time.time() < deadline:
        if _alive_workers(ui_port) >= workers:
            (STATE / "master_url").write_text(url)
            (STATE / "ui_port").write_text(str(ui_port))
            return url
        time.sleep(1)
    down()
    raise RuntimeError(f"the standalone cluster did not come up in {timeout:.0f} s; see {STATE}/*.log")


def master_url() -> str | None:
    path = STATE / "master_url"
    return path.read_text().strip() if path.exists() else None


def down() -> None:
    """Stop every daemon started by :func:`up`."""
    for pid_file in STATE.glob("*.pid") if STATE.exists() else []:
        try:
            os.killpg(int(pid_file.read_text()), signal.SIGTERM)
        except (ProcessLookupError, ValueError, PermissionError):
            pass
        pid_file.unlink()
    for name in ("master_url", "ui_port"):
        (STATE / name).unlink(missing_ok=True)


def package(python: str = sys.executable) -> dict[str, str]:
    """Build the wheel and the packed Python environment for ``--archives``."""
    DIST.mkdir(exist_ok=True)
    for old in glob.glob(str(DIST / "churn_spark-*.whl")):
        os.remove(old)
    subprocess.run([python, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(DIST), str(REPO)],
                   check=True)
    wheel = glob.glob(str(DIST / "churn_spark-*.whl"))[0]
    env_dir = REPO / "build" / "pack-env"
    shutil.rmtree(env_dir, ignore_errors=True)
    subprocess.run([python, "-m", "venv", str(env_dir)], check=True)
    pip = [str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, wheel], check=True)
    subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "uninstall", "--quiet", "-y",
                    *EXCLUDED_FROM_ENV], check=True)
    ENV_ARCHIVE.unlink(missing_ok=True)
    venv_pack = os.path.join(os.path.dirname(python), "venv-pack")
    subprocess.run([venv_pack, "--quiet", "-p", str(env_dir), "-o", str(ENV_ARCHIVE)], check=True)
    return {"wheel": wheel, "env_archive": str(ENV_ARCHIVE)}


def submit_args(master: str, app: str, *app_args: str, env_archive: str | None = None) -> list[str]:
    """A spark-submit command line for ``app`` on ``master`` with the packed environment."""
    from churn_spark.config import default_conf_dir
    archive = env_archive or str(ENV_ARCHIVE)
    log4j = default_conf_dir() / "log4j2.properties"
    return [os.path.join(spark_home(), "bin", "spark-submit"), "--master", master,
            "--archives", f"{archive}#environment",
            "--driver-java-options", f"-Dlog4j.configurationFile=file:{log4j}",
            "--conf", "spark.pyspark.python=./environment/bin/python",
            "--conf", f"spark.pyspark.driver.python={sys.executable}",
            app, *app_args]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m churn_spark.cluster",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    p_up = sub.add_parser("up", help="start a master and workers on 127.0.0.1")
    p_up.add_argument("--workers", type=int, default=2)
    p_up.add_argument("--cores", type=int, default=1)
    p_up.add_argument("--memory", default="2g")
    p_up.add_argument("--port", type=int, default=7077)
    p_up.add_argument("--ui-port", type=int, default=8080)
    sub.add_parser("down", help="stop the daemons")
    sub.add_parser("package", help="build the wheel and the packed environment in dist/")
    args = parser.parse_args(argv)
    if args.action == "up":
        url = up(args.workers, args.cores, args.memory, args.port, args.ui_port)
        print(f"cluster: master {url} with {args.workers} workers "
              f"({args.cores} core, {args.memory} each); UI http://127.0.0.1:{args.ui_port}")
    elif args.action == "down":
        down()
        print("cluster: stopped")
    else:
        built = package()
        print(f"package: {built['wheel']}\npackage: {built['env_archive']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
