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
4. runs, in a fresh child process, the reference a data scientist would write on one machine, on
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
import subprocess
import sys
import tempfile
import time

from pyspark.sql import SparkSession

from bench.common import parse_size, read_table, write_json
from bench.pipeline_report import compare, markdown, targets
from bench.processes import MemorySampler, memory_sample
from bench.reference import reference_in_child
from bench.svd import JOB_COUNTING_CONF, compare_on_lake
from churn_spark.app.cli import main as cli_main
from churn_spark.config import Config, load_config
from churn_spark.lake.tables import Lake


def run_spark(emails: int, warehouse: str, overrides: list[str]) -> dict:
    """The generated pipeline at ``emails`` (scale preset): exit code, wall seconds, per-step seconds."""
    argv = ["pipeline", "-c", "local", "--preset", "scale", "--emails", str(emails), "--warehouse", warehouse]
    for item in overrides:
        argv += ["--conf", item]
    started = time.perf_counter()
    code = cli_main(argv)
    result: dict = {"exit_code": code, "wall_seconds": round(time.perf_counter() - started, 2)}
    if code != 0 or not os.path.exists(os.path.join(warehouse, "pipeline_runs")):
        return result
    runs = read_table(warehouse, "pipeline_runs").sort_values("started_at")
    stages = {r.stage: (float(r.seconds), json.loads(r.summary or "{}")) for r in runs.itertuples()}
    seconds = {name: round(value[0], 2) for name, value in stages.items()}
    text, lsi = stages.get("text", (0.0, {})), stages.get("lsi", (0.0, {}))
    steps = dict(text[1].get("seconds", {}))
    steps["text_rest"] = text[0] - sum(steps.values())
    steps["svd"] = lsi[1].get("svd_seconds", float("nan"))
    steps["fold_in"] = lsi[0] - steps["svd"]
    steps.update({s: seconds[s] for s in ("generate", "features", "selection", "kselect", "models", "evaluate",
                                          "score") if s in seconds})
    evaluation = stages.get("evaluate", (0, {}))[1]
    result.update(
        stage_seconds=seconds, steps={k: round(v, 2) for k, v in steps.items()},
        emails_segmented=text[1].get("emails"), emails_outside_windows=text[1].get("emails_outside_windows"),
        vocabulary_size=text[1].get("vocabulary_size"),
        train_units=lsi[1].get("train_units"), k=stages.get("kselect", (0, {}))[1].get("k"),
        selected=stages.get("selection", (0, {}))[1].get("selected"),
        auc={m["model"]: m["auc"] for m in evaluation.get("metrics", [])}, oracle_auc=evaluation.get("oracle_auc"))
    return result


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
    results = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine_info(), "argv": sys.argv[1:],
               "segmenter": cfg.text.segmenter, "overrides": overrides, "sizes": []}
    sampler = MemorySampler()
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
        size["spark"] = run_spark(n, warehouse, [*overrides, *([] if args.no_svd_compare else JOB_COUNTING_CONF)])
        size["memory"] = sampler.take()
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
    return 0 if all(s["spark"].get("exit_code") == 0 for s in results["sizes"]) else 1
