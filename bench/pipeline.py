"""``make bench``: the whole pipeline at scale, and a single-machine reference on the same data.

For each size (``--sizes 100k 1M [5M]``: emails in the units' last terms, scale preset) this

1. runs the generated pipeline in-process (:func:`churn_spark.app.cli.main`, ``pipeline --preset
   scale``) in a fresh warehouse and reads each stage's seconds and summary from
   ``pipeline_runs`` (the text stage records its steps, the LSI stage its SVD seconds):
   :func:`run_spark`;
2. samples every 0.5 s, from ``/proc``, the memory (PSS) of the Spark JVM (driver and executor
   in local mode), of its Python workers (summed), of this Python process and of the reference's
   (:class:`bench.processes.MemorySampler`);
3. unless ``--no-svd-compare``, compares the LSI's SVD methods side by side on the matrix the LSI
   stage decomposed, at ``--svd-k`` (200) concepts: spark-randomized, spark-arpack, scikit-learn's
   ``TruncatedSVD`` (randomized and arpack), each timed and scored against
   ``scipy.sparse.linalg.svds`` (:mod:`bench.svd`);
4. up to ``--connect-up-to`` emails (100k; ``0``: never), runs the same pipeline again in a fresh
   warehouse through a Spark Connect server started for it with the classic run's settings
   (:func:`churn_spark.app.connect.start_connect_server`), the client a child process
   (``churn-spark pipeline --remote``: a Connect client and a classic session cannot share a
   process), samples the server JVM's, its Python workers' and the client's memory, stops the
   server, and compares per stage: seconds, results (k, variables, AUCs: identical) and the peak
   memory of the driver side (classic: JVM + this Python; Connect: server JVM + client Python):
   :func:`run_connect`, :func:`bench.pipeline_report.connect_overhead`;
5. runs, in a fresh child process, the reference a data scientist would write on one machine, on
   the same bronze tables and cores, Spark idle (:mod:`bench.reference`); it segments at most
   ``--reference-max-emails`` emails and extrapolates the rest linearly (labelled so).

    .venv/bin/python -m bench --sizes 100k 1M --out bench/results.json

Writes ``--out`` (JSON) and the same name with ``.md`` (the tables of :mod:`bench.pipeline_report`).
No figure is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pandas as pd
from pyspark.sql import SparkSession

from bench.common import parse_size, read_table, write_json
from bench.pipeline_report import compare, connect_overhead, markdown, targets
from bench.processes import (
    CONNECT_MEMORY_GROUPS,
    FullGcProbe,
    MemorySampler,
    connect_memory_sample,
    heap_after_gc,
    java_processes,
    memory_sample,
)
from bench.reference import reference_in_child
from bench.svd import JOB_COUNTING_CONF, compare_on_lake
from churn_spark.app.cli import main as cli_main
from churn_spark.app.connect import ConnectServerError, start_connect_server, stop_connect_server
from churn_spark.config import Config, load_config
from churn_spark.lake.tables import Lake

#: the memory groups whose sum is the driver side: in local mode the JVM is driver and executor at once
CLASSIC_DRIVER = ("jvm_mib", "driver_python_mib")
CONNECT_DRIVER = ("server_jvm_mib", "client_python_mib")
#: what the Connect client must not inherit from this process (which holds a classic session)
_CLASSIC_ENVIRONMENT = ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED", "PYSPARK_GATEWAY_PORT", "PYSPARK_GATEWAY_SECRET")


def pipeline_argv(emails: int, warehouse: str, overrides: list[str]) -> list[str]:
    """``churn-spark`` arguments of the generated pipeline at ``emails`` (scale preset) in ``warehouse``."""
    argv = ["pipeline", "-c", "local", "--preset", "scale", "--emails", str(emails), "--warehouse", warehouse]
    for item in overrides:
        argv += ["--conf", item]
    return argv


def run_spark(emails: int, warehouse: str, overrides: list[str]) -> dict:
    """The generated pipeline at ``emails`` (scale preset), in-process on a classic session: exit code,
    wall seconds and what :func:`read_runs` reads."""
    started = time.perf_counter()
    code = cli_main(pipeline_argv(emails, warehouse, overrides))
    result: dict = {"exit_code": code, "wall_seconds": round(time.perf_counter() - started, 2)}
    if code == 0:
        result.update(finished_runs(warehouse))
    return result


def finished_runs(warehouse: str) -> dict:
    """:func:`read_runs` of a command that exited 0, or nothing when it recorded no stage."""
    return read_runs(warehouse) if os.path.exists(os.path.join(warehouse, "pipeline_runs")) else {}


def read_runs(warehouse: str) -> dict:
    """Each stage's seconds and summary from ``pipeline_runs`` (delta-rs, no Spark): the text stage's
    steps, the LSI stage's SVD seconds, k, the selected variables, the AUCs, and each stage's time
    window (``stage_windows``: start and end, epoch seconds) for the memory samples."""
    runs = read_table(warehouse, "pipeline_runs").sort_values("started_at")
    stages = {r.stage: (float(r.seconds), json.loads(r.summary or "{}")) for r in runs.itertuples()}
    windows = {}
    for r in runs.itertuples():
        begin = pd.Timestamp(r.started_at)
        begin = (begin.tz_localize("UTC") if begin.tzinfo is None else begin).timestamp()
        windows[r.stage] = [round(begin, 3), round(begin + float(r.seconds), 3)]
    seconds = {name: round(value[0], 2) for name, value in stages.items()}
    text, lsi = stages.get("text", (0.0, {})), stages.get("lsi", (0.0, {}))
    steps = dict(text[1].get("seconds", {}))
    steps["text_rest"] = text[0] - sum(steps.values())
    steps["svd"] = lsi[1].get("svd_seconds", float("nan"))
    steps["fold_in"] = lsi[0] - steps["svd"]
    steps.update({s: seconds[s] for s in ("generate", "features", "selection", "kselect", "models", "evaluate",
                                          "score") if s in seconds})
    evaluation = stages.get("evaluate", (0, {}))[1]
    return dict(
        stage_seconds=seconds, steps={k: round(v, 2) for k, v in steps.items()}, stage_windows=windows,
        emails_segmented=text[1].get("emails"), emails_outside_windows=text[1].get("emails_outside_windows"),
        vocabulary_size=text[1].get("vocabulary_size"),
        train_units=lsi[1].get("train_units"), k=stages.get("kselect", (0, {}))[1].get("k"),
        selected=stages.get("selection", (0, {}))[1].get("selected"),
        auc={m["model"]: m["auc"] for m in evaluation.get("metrics", [])}, oracle_auc=evaluation.get("oracle_auc"))


def driver_memory(series: list[tuple[float, dict[str, float]]], windows: dict[str, list[float]],
                  keys: tuple[str, ...], gc_log: str | None = None, full_only: bool = False) -> dict:
    """The driver side's memory, overall and per stage (None when a stage was shorter than the
    sampling interval): the peak of the sum of ``keys`` (PSS, MiB) over the samples of ``series``;
    the peak of ``keys[-1]`` alone (the driver's Python); and, from the JVM's GC log ``gc_log``, the
    peak heap right after a GC pause within the stage or the last one before it
    (:func:`bench.processes.heap_after_gc`): the heap the stage needs, bounded by ``spark.driver.memory``,
    which PSS is not (a JVM keeps the pages it once touched); with ``full_only`` after full collections only
    (a :class:`bench.processes.FullGcProbe` ran): the live heap."""
    totals = [(t, sum(sample.get(k, 0.0) for k in keys)) for t, sample in series]
    python = [(t, sample.get(keys[-1], 0.0)) for t, sample in series]
    heap = heap_after_gc(gc_log, full_only) if gc_log else []

    def peak(values: list[tuple[float, float]], begin: float, end: float, carry: bool = False) -> float | None:
        inside = [v for t, v in values if begin <= t <= end]
        before = [v for t, v in values if t < begin][-1:] if carry else []
        return round(max(inside + before), 1) if inside or before else None

    out: dict = {"driver_peak_mib": round(max(v for _, v in totals), 1) if totals else None,
                 "stage_driver_peak_mib": {s: peak(totals, *w) for s, w in windows.items()},
                 "stage_driver_python_peak_mib": {s: peak(python, *w) for s, w in windows.items()}}
    if heap:
        per_stage = {s: peak(heap, *w, carry=True) for s, w in windows.items()}
        out["stage_heap_after_gc_peak_mib"] = per_stage
        out["heap_after_gc_peak_mib"] = max((v for v in per_stage.values() if v is not None), default=None)
    return out


def gc_log_option(path: str) -> str:
    """The override that makes a JVM this project starts log each GC pause, with wall-clock times, to ``path``."""
    return f"spark.driver_java_options=-Xlog:gc:file={path}:time"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now (the Connect server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _log_tail(path: str, n: int = 20) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return [line.rstrip() for line in fh.readlines()[-n:]]
    except OSError:
        return []


def run_connect(emails: int, warehouse: str, overrides: list[str], log_path: str, gc_log: str | None = None,
                full_only: bool = False) -> dict:
    """The pipeline of :func:`run_spark` with the same ``overrides``, through a Spark Connect server.

    The server is started for ``load_config(["local"], overrides + [run.warehouse=warehouse])`` (the
    classic run's Spark settings: master, driver memory, ``spark.conf``) on a free loopback port, its
    output in ``log_path``; the client is a child process (``python -m churn_spark.app.cli pipeline
    ... --remote``) given the overrides without ``spark.conf.*`` (a client cannot set static settings;
    the server already holds them all). While the client runs, the server JVM's, its Python workers'
    and the client's memory (PSS) are sampled every 0.5 s. The server is stopped afterwards, whatever
    happened. Returns what :func:`run_spark` returns, plus the memory peaks (``memory``), the driver
    side's peak overall and per stage (:func:`driver_memory`), the server's start-up seconds (not in
    ``wall_seconds``) and, on failure, the server log's last lines.
    """
    server_overrides = [*overrides, *([gc_log_option(gc_log)] if gc_log else [])]
    cfg = load_config(["local"], [*server_overrides, f"run.warehouse={warehouse}"])
    host, port = "127.0.0.1", free_port()
    result: dict = {"server_log": log_path}
    started = time.perf_counter()
    try:
        server = start_connect_server(cfg, host, port, log_path)
    except ConnectServerError as err:
        return {**result, "exit_code": None, "error": str(err)}
    result["server_start_seconds"] = round(time.perf_counter() - started, 2)
    client_overrides = [o for o in overrides if not o.strip().startswith("spark.conf.")]
    command = [sys.executable, "-m", "churn_spark.app.cli", *pipeline_argv(emails, warehouse, client_overrides),
               "--remote", f"sc://{host}:{port}"]
    env = {key: value for key, value in os.environ.items() if key not in _CLASSIC_ENVIRONMENT}
    client: subprocess.Popen | None = None
    sampler = MemorySampler(sample=lambda: connect_memory_sample(server.pid, client.pid if client else None),
                            groups=CONNECT_MEMORY_GROUPS, keep_series=True)
    sampler.start()
    try:
        started = time.perf_counter()
        client = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL)
        code = client.wait()
        result.update(exit_code=code, wall_seconds=round(time.perf_counter() - started, 2))
    finally:
        sampler.stop()
        sampler.join()
        if client is not None and client.poll() is None:  # interrupted: the client goes with its server
            client.kill()
            client.wait()
        result["server_exit_code"] = stop_connect_server(server, grace=60.0)
    result["memory"], series = sampler.take_with_series()
    runs = finished_runs(warehouse) if code == 0 else {}
    result.update(runs)
    if not runs:
        result["server_log_tail"] = _log_tail(log_path)
    result.update(driver_memory(series, result.get("stage_windows", {}), CONNECT_DRIVER, gc_log, full_only))
    return result


def run_classic_child(emails: int, warehouse: str, overrides: list[str], gc_log: str) -> dict:
    """The pipeline of :func:`run_spark` in a child process, whose driver JVM logs its GC pauses to ``gc_log``:
    what :func:`run_spark` returns, plus the heap after each full GC per stage (:func:`driver_memory`)."""
    command = [sys.executable, "-m", "churn_spark.app.cli",
               *pipeline_argv(emails, warehouse, [*overrides, gc_log_option(gc_log)])]
    env = {key: value for key, value in os.environ.items() if key not in _CLASSIC_ENVIRONMENT}
    started = time.perf_counter()
    code = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, check=False).returncode
    result: dict = {"exit_code": code, "wall_seconds": round(time.perf_counter() - started, 2)}
    if code == 0:
        result.update(finished_runs(warehouse))
    result.update(driver_memory([], result.get("stage_windows", {}), CLASSIC_DRIVER, gc_log, full_only=True))
    return result


def live_heap(emails: int, work: str, label: str, overrides: list[str], every: float) -> dict:
    """The driver memory each stage needs, as the live heap: the pipeline again on both kinds of session, each in
    a fresh warehouse and a fresh driver JVM, while a :class:`bench.processes.FullGcProbe` forces a full GC
    every ``every`` seconds in it; per stage the peak heap those collections leave.

    A pass of its own: the collections slow a run down by up to a half, so the timed runs go without them.
    After a young pause the heap still holds the old generation's garbage, up to wherever G1 starts its next
    marking (45% of the heap), so the timed runs' heap-after-GC figures say more about the collector than about
    what a stage keeps alive.
    """
    own = set(java_processes(os.getpid()))  # this process's own classic JVM is idle meanwhile: left alone
    probe = FullGcProbe(lambda: [p for p in java_processes(os.getpid()) if p not in own], every)
    probe.start()
    out: dict = {"probe_seconds": every}
    try:
        for kind in ("classic", "connect"):
            warehouse = os.path.join(work, f"wh_{label}_live_{kind}")
            shutil.rmtree(warehouse, ignore_errors=True)
            gc_log = os.path.join(work, f"gc_live_{kind}_{label}.log")
            if kind == "classic":
                run = run_classic_child(emails, warehouse, overrides, gc_log)
            else:
                run = run_connect(emails, warehouse, overrides, os.path.join(work, f"connect_server_{label}_live.log"),
                                  gc_log, full_only=True)
            out[kind] = {key: run.get(key) for key in ("exit_code", "stage_seconds", "stage_heap_after_gc_peak_mib",
                                                        "heap_after_gc_peak_mib")}
            shutil.rmtree(warehouse, ignore_errors=True)
    finally:
        probe.stop()
    return out


def svd_compare(cfg: Config, warehouse: str, k: int, arpack_timeout: float | None) -> dict:
    """:func:`bench.svd.compare_on_lake` on ``warehouse`` in the pipeline's session (an error
    is recorded, not raised: the rest of the bench goes on)."""
    spark = SparkSession.getActiveSession()
    try:
        return compare_on_lake(spark, Lake(spark, cfg, root=warehouse), cfg, k, arpack_timeout=arpack_timeout)
    except Exception as err:  # a benchmark reports a failed part and goes on
        import traceback
        traceback.print_exc()
        return {"error": f"{type(err).__name__}: {err}"}


def machine_info() -> dict:
    """Cores, memory, platform and the versions of what is measured."""
    from importlib.metadata import PackageNotFoundError, version

    with open("/proc/meminfo", encoding="ascii") as fh:
        ram = int(fh.readline().split()[1]) * 1024
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()
    versions = {"python": platform.python_version(), "java": java[0] if java else "?"}
    for package in ("pyspark", "scikit-learn", "numpy", "scipy", "jieba", "rjieba", "deltalake"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return {"cpu_count": os.cpu_count(), "ram_gib": round(ram / 2**30, 1), "load_average_start": os.getloadavg(),
            "platform": platform.platform(), "versions": versions}


def write_results(results: dict, out: str) -> None:
    """The JSON at ``out`` and its tables beside it (``.md``)."""
    write_json(out, results)
    with open(os.path.splitext(out)[0] + ".md", "w", encoding="utf-8") as fh:
        fh.write(markdown(results))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["100k", "1M"], help="emails per run: 100k 1M 5M ...")
    parser.add_argument("--work", help="folder for the warehouses (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the warehouses afterwards")
    parser.add_argument("--out", default="bench/results.json", help="JSON results; the tables go to .md")
    parser.add_argument("--reference-max-emails", default="100k", help="emails the reference segments itself")
    parser.add_argument("--reference-up-to", default="1M", help="largest size with a reference run")
    parser.add_argument("--connect-up-to", default="100k",
                        help="largest size also run through a Spark Connect server, compared per stage (0: none)")
    parser.add_argument("--live-heap-every", type=float, default=5.0, metavar="SECONDS",
                        help="with a Connect comparison, run both kinds again forcing a full GC this often and judge "
                             "driver memory by the live heap it leaves (0: no such pass; by the heap after any GC)")
    parser.add_argument("--segmenter", choices=["jieba", "rjieba"], help="Spark's text.segmenter (default: conf)")
    parser.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE", help="pipeline override")
    parser.add_argument("--no-svd-compare", action="store_true", help="skip the SVD methods side by side")
    parser.add_argument("--svd-k", type=int, default=200, help="concepts of the SVD comparison (default 200)")
    parser.add_argument("--svd-arpack-timeout", type=float, default=1800.0,
                        help="seconds before the comparison's spark-arpack is cancelled (default 1800)")
    args = parser.parse_args(argv)

    overrides = [*args.conf, *([f"text.segmenter={args.segmenter}"] if args.segmenter else [])]
    cfg = load_config(["local"], overrides)
    work = args.work or tempfile.mkdtemp(prefix="churn_bench_")
    os.makedirs(work, exist_ok=True)  # the JVMs' GC logs go there before any warehouse does
    results = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine_info(), "argv": sys.argv[1:],
               "segmenter": cfg.text.segmenter, "overrides": overrides, "sizes": []}
    # the classic JVM starts with the first size and logs its GC pauses for all of them
    classic_gc_log = os.path.join(os.path.abspath(work), "gc_classic.log")
    sampler = MemorySampler(keep_series=True)
    sampler.start()
    for label in args.sizes:
        n = parse_size(label)
        warehouse = os.path.join(os.path.abspath(work), f"wh_{label}")
        shutil.rmtree(warehouse, ignore_errors=True)  # a fresh warehouse: no stage may be skipped
        size: dict = {"label": label, "emails_target": n, "load_average": os.getloadavg()}
        results["sizes"].append(size)
        sampler.take()
        # the driver process lives on across sizes (imports, the previous size's comparison): what a run
        # adds is its peak minus this
        size["driver_python_start_mib"] = memory_sample()["driver_python_mib"]
        # the comparison counts Spark jobs: the session must keep their status (a static setting)
        spark_overrides = [*overrides, *([] if args.no_svd_compare else JOB_COUNTING_CONF)]
        size["spark"] = run_spark(n, warehouse, [*spark_overrides, gc_log_option(classic_gc_log)])
        size["memory"], series = sampler.take_with_series()
        size["spark"].update(driver_memory(series, size["spark"].get("stage_windows", {}), CLASSIC_DRIVER,
                                           classic_gc_log))
        write_results(results, args.out)
        if size["spark"]["exit_code"] == 0 and n <= parse_size(args.connect_up_to):
            connect_warehouse = os.path.join(os.path.abspath(work), f"wh_{label}_connect")
            shutil.rmtree(connect_warehouse, ignore_errors=True)
            size["load_average_connect"] = os.getloadavg()
            size["connect"] = run_connect(n, connect_warehouse, spark_overrides,
                                          os.path.join(os.path.abspath(work), f"connect_server_{label}.log"),
                                          os.path.join(os.path.abspath(work), f"gc_connect_{label}.log"))
            if size["connect"].get("exit_code") == 0 and args.live_heap_every > 0:
                size["live_heap"] = live_heap(n, os.path.abspath(work), label, spark_overrides, args.live_heap_every)
            # the server's JVM is a "java" child of this process too: the main sampler's peaks meanwhile are not
            # this process's session's
            sampler.take()
            write_results(results, args.out)  # the raw figures first, whatever their comparison does
            if size["connect"].get("exit_code") == 0:
                size["connect_overhead"] = connect_overhead(size)
            if not args.keep:
                shutil.rmtree(connect_warehouse, ignore_errors=True)
            write_results(results, args.out)
        if size["spark"]["exit_code"] == 0 and not args.no_svd_compare:
            size["svd_compare"] = svd_compare(cfg, warehouse, args.svd_k, args.svd_arpack_timeout)
            size["svd_compare_memory"] = sampler.take()
            write_results(results, args.out)
        if size["spark"]["exit_code"] == 0 and n <= parse_size(args.reference_up_to):
            cores = SparkSession.getActiveSession().sparkContext.defaultParallelism
            size["reference"] = reference_in_child(overrides, warehouse, cores, parse_size(args.reference_max_emails))
            size["reference_memory"] = sampler.take()
            if "error" not in size["reference"]:
                size["comparison"] = compare(size)
        if not args.keep:
            shutil.rmtree(warehouse, ignore_errors=True)
        results["targets"] = targets(results)
        write_results(results, args.out)
        print(markdown(results), flush=True)
    sampler.stop()
    results["machine"]["load_average_end"] = os.getloadavg()
    write_results(results, args.out)
    if not args.keep and not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(s["spark"].get("exit_code") == 0 and s.get("connect", {"exit_code": 0})["exit_code"] == 0
                    for s in results["sizes"]) else 1
