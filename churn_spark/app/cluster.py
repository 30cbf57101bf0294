"""A real Spark standalone cluster on 127.0.0.1, and the artefacts spark-submit needs.

``python -m churn_spark.app.cluster up`` starts a master and two workers from the pip-installed
Spark (no ``sbin`` scripts needed: ``bin/spark-class`` runs the daemons), ``down`` stops
them, ``package`` builds ``dist/churn_spark-*.whl``, ``dist/jars`` (the Delta Lake jars) and
``dist/churn-spark-env.tar.gz`` (a relocatable venv with churn_spark, jieba and its
dictionaries, numpy, pandas, pyarrow ..., for ``--archives
dist/churn-spark-env.tar.gz#environment`` on YARN/Kubernetes/standalone); it is rebuilt only
when the sources that go into the wheel (or the Python version) changed.
State (pids, logs, the master URL, the workers' work dirs) lives in ``.cluster/``.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # churn_spark/app/cluster.py -> the checkout
STATE = REPO / ".cluster"
DIST = REPO / "dist"
ENV_ARCHIVE = DIST / "churn-spark-env.tar.gz"
# records which sources the artefacts in dist/ were built from (see package_key)
PACKAGE_STAMP = DIST / "churn-spark-package.json"
# everything that goes into the wheel (the package, conf/ shipped as churn_spark.conf, setup.py) and the jars
PACKAGE_SOURCES = ("setup.py", "churn_spark/**/*.py", "churn_spark/py.typed", "churn_spark/synth/data/*",
                   "conf/*.yaml", "conf/*.properties", "conf/dict/*.txt", "jars/pom.xml")
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


def _spawn(state: Path, name: str, args: list[str]) -> int:
    state.mkdir(parents=True, exist_ok=True)
    with open(state / f"{name}.log", "w") as log:
        proc = subprocess.Popen([os.path.join(spark_home(), "bin", "spark-class"), *args], stdout=log,
                                stderr=subprocess.STDOUT, env=_spark_env(), start_new_session=True)
    (state / f"{name}.pid").write_text(str(proc.pid))
    return proc.pid


def _alive_workers(ui_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=2) as resp:
            state = json.load(resp)
        return sum(1 for w in state.get("workers", []) if w.get("state") == "ALIVE")
    except OSError:
        return 0


def up(workers: int = 2, cores: int = 1, memory: str = "2g", port: int = 7077, ui_port: int = 8080,
       timeout: float = 120.0, state: Path = STATE) -> str:
    """Start a master and ``workers`` workers on 127.0.0.1; return the master URL.

    ``state`` holds the pids, logs and the workers' work dirs (executor logs, unpacked
    archives); a cluster already running from the same ``state`` is reused.
    """
    state = Path(state)
    if master_url(state) and _alive_workers(int((state / "ui_port").read_text())) >= workers:
        return master_url(state)
    down(state)
    url = f"spark://127.0.0.1:{port}"
    _spawn(state, "master", ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                             "--port", str(port), "--webui-port", str(ui_port)])
    for i in range(workers):
        work_dir = state / f"worker-{i}"
        work_dir.mkdir(parents=True, exist_ok=True)
        _spawn(state, f"worker-{i}", ["org.apache.spark.deploy.worker.Worker", url, "--host", "127.0.0.1",
                                      "--cores", str(cores), "--memory", memory, "--webui-port", "0",
                                      "--work-dir", str(work_dir)])
    deadline = time.time() + timeout
    while time.time() < deadline:
        if _alive_workers(ui_port) >= workers:
            (state / "master_url").write_text(url)
            (state / "ui_port").write_text(str(ui_port))
            return url
        time.sleep(1)
    down(state)
    raise RuntimeError(f"the standalone cluster did not come up in {timeout:.0f} s; see {state}/*.log")


def master_url(state: Path = STATE) -> str | None:
    path = Path(state) / "master_url"
    return path.read_text().strip() if path.exists() else None


def down(state: Path = STATE, timeout: float = 30.0) -> None:
    """Stop every daemon started by :func:`up` with the same ``state``, and wait until they are gone."""
    state = Path(state)
    groups = []
    for pid_file in state.glob("*.pid") if state.exists() else []:
        try:
            groups.append(int(pid_file.read_text()))
            os.killpg(groups[-1], signal.SIGTERM)
        except (ProcessLookupError, ValueError, PermissionError):
            pass
        pid_file.unlink()
    # a worker stops its executors on SIGTERM; wait for that, then make sure no JVM is left
    deadline = time.time() + timeout
    while groups and time.time() < deadline:
        groups = [g for g in groups if _group_alive(g)]
        time.sleep(0.2)
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for name in ("master_url", "ui_port"):
        (state / name).unlink(missing_ok=True)


def _group_alive(group: int) -> bool:
    try:  # reap the leader if this process started it: a zombie would count as alive
        os.waitpid(group, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        os.killpg(group, 0)
        return True
    except ProcessLookupError:
        return False


def package_key(python: str = sys.executable) -> str:
    """SHA-256 over the wheel's sources (:data:`PACKAGE_SOURCES`) and the Python version."""
    digest = hashlib.sha256()
    version = subprocess.run([python, "-c", "import sys; print(sys.version)"], capture_output=True, text=True,
                             check=True).stdout
    digest.update(version.encode())
    for pattern in PACKAGE_SOURCES:
        for path in sorted(REPO.glob(pattern)):
            digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def package(python: str = sys.executable, force: bool = False) -> dict[str, str]:
    """Build the wheel, the packed Python environment for ``--archives`` and ``dist/jars`` for ``--jars``.

    Reuses the artefacts in ``dist/`` when they were built from the same sources
    (:func:`package_key`) unless ``force``; packing the environment takes minutes.
    """
    from churn_spark.session import delta_jars
    key = package_key(python)
    if not force and PACKAGE_STAMP.exists():
        built = json.loads(PACKAGE_STAMP.read_text())
        if built.get("key") == key and all(os.path.exists(built.get(k, "")) for k in ("wheel", "env_archive", "jars")):
            return {k: built[k] for k in ("wheel", "env_archive", "jars")}
    DIST.mkdir(exist_ok=True)
    PACKAGE_STAMP.unlink(missing_ok=True)
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
    # pack next to the archive, then rename: a reader never sees a half-written archive
    partial = ENV_ARCHIVE.with_name(ENV_ARCHIVE.name + ".partial.tar.gz")
    partial.unlink(missing_ok=True)
    venv_pack = os.path.join(os.path.dirname(python), "venv-pack")
    subprocess.run([venv_pack, "--quiet", "-p", str(env_dir), "-o", str(partial)], check=True)
    os.replace(partial, ENV_ARCHIVE)
    # the Delta Lake jars beside them, for spark-submit --jars on a cluster that has none
    jars_dir = DIST / "jars"
    shutil.rmtree(jars_dir, ignore_errors=True)
    jars_dir.mkdir()
    for jar in delta_jars():
        shutil.copy2(jar, jars_dir)
    built = {"wheel": wheel, "env_archive": str(ENV_ARCHIVE), "jars": str(jars_dir)}
    PACKAGE_STAMP.write_text(json.dumps({"key": key, **built}, indent=1))
    return built


def submit_args(master: str, app: str, *app_args: str, env_archive: str | None = None,
                options: Sequence[str] = ()) -> list[str]:
    """A spark-submit command line for ``app`` on ``master`` with the packed environment.

    The executors run ``./environment/bin/python`` from the unpacked archive (churn_spark,
    jieba and its dictionaries inside); the driver (client mode) runs this interpreter.
    ``--jars`` ships the Delta Lake jars of ``jars/lib`` to the driver and the executors.
    ``options`` are more spark-submit options, e.g. ``["--driver-memory", "2g"]``.
    """
    from churn_spark.config import default_conf_dir
    from churn_spark.session import delta_jars
    archive = env_archive or str(ENV_ARCHIVE)
    log4j = default_conf_dir() / "log4j2.properties"
    return [os.path.join(spark_home(), "bin", "spark-submit"), "--master", master,
            "--archives", f"{archive}#environment", "--jars", ",".join(delta_jars()),
            "--driver-java-options", f"-Dlog4j.configurationFile=file:{log4j}",
            "--conf", "spark.pyspark.python=./environment/bin/python",
            "--conf", f"spark.pyspark.driver.python={sys.executable}",
            *options, app, *app_args]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m churn_spark.app.cluster",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    p_up = sub.add_parser("up", help="start a master and workers on 127.0.0.1")
    p_up.add_argument("--workers", type=int, default=2)
    p_up.add_argument("--cores", type=int, default=1)
    p_up.add_argument("--memory", default="2g")
    p_up.add_argument("--port", type=int, default=7077)
    p_up.add_argument("--ui-port", type=int, default=8080)
    sub.add_parser("down", help="stop the daemons")
    p_package = sub.add_parser("package", help="build the wheel and the packed environment in dist/")
    p_package.add_argument("--force", action="store_true", help="rebuild even if dist/ is up to date")
    args = parser.parse_args(argv)
    if args.action == "up":
        url = up(args.workers, args.cores, args.memory, args.port, args.ui_port)
        print(f"cluster: master {url} with {args.workers} workers "
              f"({args.cores} core, {args.memory} each); UI http://127.0.0.1:{args.ui_port}")
    elif args.action == "down":
        down()
        print("cluster: stopped")
    else:
        built = package(force=args.force)
        print(f"package: {built['wheel']}\npackage: {built['env_archive']}\npackage: {built['jars']} (Delta Lake jars)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
