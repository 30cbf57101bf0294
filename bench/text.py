"""Benchmark: the text stage on Spark against plain single-process jieba, per core.

For each corpus size (generated emails, :mod:`churn_spark.synth.text`) and segmenter backend:

* ``segment``   — clean + segment + normalise in the stage's single ``mapInPandas`` pass
  (:func:`churn_spark.text.pipeline.emails_to_terms`), terms written to Parquet;
* ``weigh``     — ``LogTfIdf.fit`` (one explode + group-by) and ``transform`` (noop sink);
* ``aggregate`` — :func:`churn_spark.text.aggregate.aggregate_unit_vectors` (noop sink);
* ``plain``     — the same clean + segment + normalise functions in ONE Python process on a
  sample of the same emails (the reference: what a core does without Spark), and jieba's
  POS segmentation alone on the cleaned sample;
* ``staged``    — (first size) ``PipelineModel.transform`` with the three Python stages as
  separate pandas UDFs, to measure what the fused single pass saves.

Spark's overhead per core = (Spark seconds x cores / emails) / (plain seconds / email) - 1.
The Python workers are warmed up first (dictionaries loaded); that one-off cost per worker
is reported apart. The machine's load average is recorded: on a shared machine every figure
is a wall-clock figure.

    .venv/bin/python -m bench.text --sizes 10k 100k 1M --backends jieba rjieba \\
        --jieba-max 10k --out bench/results_text.json

Results go to ``--out`` as JSON and are printed as a Markdown table. Not part of the tests.
The generated corpus is cached as Parquet under ``--cache`` (default: the temp folder);
sizes above ``--max-distinct`` repeat the distinct emails under new ids.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time

import numpy as np
import pandas as pd
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from bench.common import parse_size, timed, write_json
from bench.processes import process_tree_cpu
from churn_spark.config import Config, load_config
from churn_spark.text.aggregate import aggregate_unit_vectors
from churn_spark.text.cleaning import clean_email
from churn_spark.text.pipeline import build_text_stages, emails_to_terms

EMAIL_SCHEMA = T.StructType([
    T.StructField("email_id", T.StringType()), T.StructField("customer_id", T.StringType()),
    T.StructField("sent_at", T.TimestampType()), T.StructField("subject", T.StringType()),
    T.StructField("body", T.StringType())])
BLOCK = 2_000  # emails rendered per generator task


def _render_blocks(seed: int):
    def render(batches):
        from churn_spark.synth.text import TOPICS, render_emails

        for pdf in batches:
            for block in pdf["id"]:
                rng = np.random.default_rng([seed, int(block)])
                texts = render_emails(rng.dirichlet(np.full(len(TOPICS), 0.3), size=BLOCK), rng, 0.1)
                days = rng.integers(0, 365, size=BLOCK)
                # three emails per two customers: 1.5 emails per unit, as in the paper (1.47)
                yield pd.DataFrame({
                    "email_id": [f"b{block}e{i}" for i in range(BLOCK)],
                    "customer_id": [f"b{block}c{i * 2 // 3}" for i in range(BLOCK)],
                    "sent_at": pd.Timestamp("2004-07-01") + pd.to_timedelta(days, unit="D"),
                    "subject": [s for s, _ in texts], "body": [b for _, b in texts]})
    return render


def corpus(spark: SparkSession, n: int, seed: int, cache: str, max_distinct: int) -> DataFrame:
    """``n`` generated emails, cached as Parquet; above ``max_distinct`` the texts repeat.

    ``n`` is rounded up to whole blocks (and to whole copies of the distinct emails): no
    ``limit``, which would funnel every row through one partition.
    """
    distinct = min(n, max_distinct)
    blocks = -(-distinct // BLOCK)
    path = os.path.join(cache, f"emails_seed{seed}_{blocks * BLOCK}")
    if not os.path.exists(os.path.join(path, "_SUCCESS")):
        started = time.perf_counter()
        tasks = spark.range(blocks, numPartitions=min(blocks, 4 * spark.sparkContext.defaultParallelism))
        tasks.mapInPandas(_render_blocks(seed), EMAIL_SCHEMA).write.mode("overwrite").parquet(path)
        print(f"generated {blocks * BLOCK} emails in {time.perf_counter() - started:.0f} s -> {path}",
              file=sys.stderr)
    emails = spark.read.parquet(path)
    if n > distinct:
        copies = spark.range(-(-n // (blocks * BLOCK))).withColumnRenamed("id", "copy").hint("broadcast")
        emails = (emails.crossJoin(copies)
                  .withColumn("email_id", F.concat_ws("_", "email_id", "copy"))
                  .withColumn("customer_id", F.concat_ws("_", "customer_id", "copy")).drop("copy"))
    return emails


def observations_for(emails: DataFrame) -> DataFrame:
    """One unit per customer, cutoff 2005-06-30 (every email falls in its 365-day window)."""
    return (emails.select("customer_id").distinct()
            .select(F.concat(F.lit("u"), "customer_id").alias("unit_id"), "customer_id",
                    F.lit("2005-06-30").cast("date").alias("cutoff_date"),
                    F.when(F.xxhash64("customer_id") % 4 == 0, "test").otherwise("train").alias("split"),
                    (F.abs(F.xxhash64("customer_id")) % 5 == 0).cast("int").alias("churn")))


def _noop(df: DataFrame) -> None:
    df.write.format("noop").mode("overwrite").save()


def plain_reference(emails: list[tuple[str, str]], warm_up: list[tuple[str, str]], stages) -> dict:
    """Single-process seconds per email: full clean + segment + normalise, and jieba POS alone.

    A fresh segmenter first processes ``warm_up`` (other emails, untimed): the rjieba
    backend memoises the HMM tagging of unknown character runs, so its steady state is warm.
    """
    from churn_spark.text.dictionaries import parse_user_dict
    from churn_spark.text.segment import Segmenter

    seg = stages.segmenter
    segmenter = Segmenter(seg.getOrDefault("backend"), parse_user_dict(seg.getOrDefault("userDictionary")),
                          seg.getOrDefault("keepPos"), seg.getOrDefault("dropPos"))
    synonyms = stages.normalizer.getOrDefault("synonyms")
    for subject, body in warm_up:
        segmenter.terms(clean_email(subject, body))
    started, cpu = time.perf_counter(), time.process_time()
    for subject, body in emails:
        [synonyms.get(t, t) for t in segmenter.terms(clean_email(subject, body, {}))]
    full, full_cpu = time.perf_counter() - started, time.process_time() - cpu
    cleaned = [clean_email(s, b) for s, b in emails]
    started = time.perf_counter()
    for text in cleaned:
        segmenter.tag(text)
    tag_only = time.perf_counter() - started
    return {"sample": len(emails), "seconds_per_email": full / len(emails),
            "cpu_seconds_per_email": full_cpu / len(emails), "tag_seconds_per_email": tag_only / len(emails),
            "chars_per_email": float(np.mean([len(t) for t in cleaned]))}


def backend_agreement(emails: list[tuple[str, str]], overrides: tuple[str, ...] = ()) -> dict:
    """How often rjieba's (word, POS) output equals jieba's on the same cleaned emails."""
    from collections import Counter

    tagged = {}
    for backend in ("jieba", "rjieba"):
        segmenter = build_text_stages(bench_config([*overrides, f"text.segmenter={backend}"])).segmenter
        local = segmenter.local_segmenter()
        tagged[backend] = [local.tag(clean_email(s, b)) for s, b in emails]
    ref, fast = (Counter(t for tags in tagged[b] for t in tags) for b in ("jieba", "rjieba"))
    same = sum(a == b for a, b in zip(tagged["jieba"], tagged["rjieba"], strict=True))
    return {"emails": len(emails), "identical_emails": same / len(emails),
            "token_agreement": sum((ref & fast).values()) / max(sum(ref.values()), sum(fast.values()))}


def _python_crossings(df: DataFrame) -> int:
    plan = df._jdf.queryExecution().executedPlan().toString()
    # Spark 4.2 names the node MapInArrow (PythonMapInArrow before): the substring counts either once
    return plan.count("ArrowEvalPython") + plan.count("MapInPandas") + plan.count("MapInArrow")


def run(spark: SparkSession, sizes: list, out: str = "bench/results_text.json", *,
        backends: tuple[str, ...] = ("jieba", "rjieba"), jieba_max: int = 10_000, plain_max: int = 2_000,
        max_distinct: int = 200_000, seed: int = 7, cache: str | None = None, overrides: tuple[str, ...] = (),
        staged: bool = True) -> dict:
    """Benchmark every (backend, size); write the JSON to ``out`` and return it.

    ``jieba`` (slow: pure-Python POS HMM) runs only for sizes up to ``jieba_max``.
    """
    cache = cache or os.path.join(tempfile.gettempdir(), "churn_spark_bench_text")
    cores = spark.sparkContext.defaultParallelism
    jvm_pid = int(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())

    def measured(action) -> tuple[float, float]:
        """(wall seconds, CPU seconds of the Spark JVM and its Python workers) of ``action``."""
        cpu = process_tree_cpu(jvm_pid)
        _, wall = timed(action)
        return wall, process_tree_cpu(jvm_pid) - cpu

    results: dict = {"machine": {"cores": cores, "python": platform.python_version(), "spark": spark.version,
                                 "cpu_count": os.cpu_count(), "load_average_start": os.getloadavg()},
                     "runs": []}
    for backend in backends:
        stages = build_text_stages(bench_config([*overrides, f"text.segmenter={backend}"]))
        for position, label in enumerate(sizes):
            if backend == "jieba" and parse_size(label) > jieba_max:
                continue
            emails = corpus(spark, parse_size(label), seed, cache, max_distinct)
            n = emails.count()
            entry: dict = {"backend": backend, "emails": n, "cores": cores, "load_average": os.getloadavg()}
            partitions = 4 * cores
            spread = emails.repartition(partitions)

            # warm-up: every Python worker loads its dictionaries once
            warm = emails_to_terms(emails.limit(200 * partitions).repartition(partitions),
                                   stages.cleaner, stages.segmenter, stages.normalizer)
            _, entry["warmup_seconds"] = timed(lambda warm=warm: _noop(warm))

            terms_path = os.path.join(cache, f"terms_{backend}_{n}")
            fused = emails_to_terms(spread, stages.cleaner, stages.segmenter, stages.normalizer)
            entry["fused_python_crossings"] = _python_crossings(fused)
            entry["segment_seconds"], entry["segment_cpu_seconds"] = measured(
                lambda fused=fused, path=terms_path: fused.write.mode("overwrite").parquet(path))
            terms = spark.read.parquet(terms_path)
            model, entry["fit_seconds"] = timed(lambda terms=terms, w=stages.weighting: w.fit(terms))
            entry["vocabulary_size"] = model.vocabulary_size
            weighed = model.transform(terms)
            _, entry["transform_seconds"] = timed(lambda df=weighed: _noop(df))
            units = aggregate_unit_vectors(model.transform(terms), observations_for(terms), 365)
            _, entry["aggregate_seconds"] = timed(lambda units=units: _noop(units))
            entry["units"] = observations_for(terms).count()

            # the sample comes from the distinct emails (a repeated corpus would warm rjieba's memo)
            distinct = corpus(spark, min(n, max_distinct), seed, cache, max_distinct)
            rows = [(r.subject, r.body) for r in distinct.limit(min(n, 2 * plain_max)).collect()]
            entry["plain"] = plain_reference(rows[len(rows) // 2:], rows[:len(rows) // 2], stages)
            spark_per_email_core = entry["segment_seconds"] * cores / n
            entry["spark_seconds_per_email_core"] = spark_per_email_core
            entry["overhead_vs_plain"] = spark_per_email_core / entry["plain"]["seconds_per_email"] - 1
            entry["spark_cpu_seconds_per_email"] = entry["segment_cpu_seconds"] / n
            entry["cpu_overhead_vs_plain"] = (entry["spark_cpu_seconds_per_email"]
                                              / entry["plain"]["cpu_seconds_per_email"] - 1)

            if staged and position == 0:
                pipeline = PipelineModel([stages.cleaner, stages.segmenter, stages.normalizer])
                staged_df = pipeline.transform(spread).select("email_id", "customer_id", "sent_at", "terms")
                entry["staged_python_crossings"] = _python_crossings(staged_df)
                staged_path = terms_path + "_staged"
                entry["staged_segment_seconds"], entry["staged_segment_cpu_seconds"] = measured(
                    lambda df=staged_df, path=staged_path: df.write.mode("overwrite").parquet(path))
            results["runs"].append(entry)
            write_json(out, results)
            print(_row(entry), file=sys.stderr)
    if set(backends) == {"jieba", "rjieba"} and sizes:
        sample = corpus(spark, parse_size(sizes[0]), seed, cache, max_distinct).limit(plain_max).collect()
        results["agreement"] = backend_agreement([(r.subject, r.body) for r in sample], overrides)
        print(f"rjieba vs jieba: {results['agreement']}", file=sys.stderr)
    results["machine"]["load_average_end"] = os.getloadavg()
    write_json(out, results)
    print(markdown(results))
    return results


def bench_config(overrides: list[str]) -> Config:
    """The local configuration with ``overrides``; dictionary files that do not exist yet are left out."""
    cfg = load_config(["local"], overrides)
    missing = [f"text.{k}=" for k in ("user_dict", "synonyms", "stopwords", "exclusions")
               if cfg.path(f"text.{k}") and not os.path.exists(cfg.path(f"text.{k}"))]
    return load_config(["local"], [*overrides, *missing])


def _row(e: dict) -> str:
    plain = e["plain"]
    staged = (f"{e['staged_segment_seconds']:.1f} ({e['staged_python_crossings']})"
              if "staged_segment_seconds" in e else "")
    per_core = e["emails"] / (e["segment_seconds"] * e["cores"])
    return (f"| {e['backend']} | {e['emails']:,} | {e['warmup_seconds']:.1f} | {e['segment_seconds']:.1f} "
            f"({e['fused_python_crossings']}) | {staged} | {per_core:,.0f} "
            f"| {1 / e['spark_cpu_seconds_per_email']:,.0f} | {1 / plain['seconds_per_email']:,.0f} "
            f"| {1 / plain['cpu_seconds_per_email']:,.0f} | {1 / plain['tag_seconds_per_email']:,.0f} "
            f"| {100 * e['overhead_vs_plain']:+.0f}% | {100 * e['cpu_overhead_vs_plain']:+.0f}% "
            f"| {e['fit_seconds']:.1f} | {e['transform_seconds']:.1f} "
            f"| {e['aggregate_seconds']:.1f} "
            f"| {e['vocabulary_size']:,} | {e['load_average'][0]:.1f} |")


def markdown(results: dict) -> str:
    """The results as a Markdown table (one row per backend and size)."""
    lines = [f"Spark local[{results['machine']['cores']}], Python {results['machine']['python']}, "
             f"Spark {results['machine']['spark']}. Seconds are wall clock; (n) = Python crossings in the "
             "plan.",
             "",
             "| backend | emails | warm-up s | segment s (fused) | segment s (staged) | Spark emails/s/core "
             "| Spark emails/CPU-s | plain emails/s | plain emails/CPU-s | plain POS-only emails/s "
             "| overhead (wall/core) | overhead (CPU) | fit s | transform s | aggregate s "
             "| V | load avg |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [_row(entry) for entry in results["runs"]]
    if "agreement" in results:
        a = results["agreement"]
        lines += ["", f"rjieba vs jieba on {a['emails']:,} emails: {100 * a['token_agreement']:.3f}% of "
                  f"(word, POS) tokens agree; {100 * a['identical_emails']:.2f}% of emails identical."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from churn_spark.session import get_spark

    parser = argparse.ArgumentParser(prog="python -m bench.text", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["10k", "100k"])
    parser.add_argument("--backends", nargs="+", default=["jieba", "rjieba"], choices=["jieba", "rjieba"])
    parser.add_argument("--jieba-max", default="10k", help="largest size run with the (slow) jieba backend")
    parser.add_argument("--plain-max", type=int, default=2_000, help="emails in the single-process sample")
    parser.add_argument("--max-distinct", default="200k",
                        help="distinct generated emails; larger sizes repeat them")
    parser.add_argument("--out", default="bench/results_text.json")
    parser.add_argument("--cache", default=None, help="folder for the generated corpus (default: temp)")
    parser.add_argument("--no-staged", action="store_true", help="skip the stage-by-stage comparison")
    parser.add_argument("--conf", action="append", default=[], help="pipeline config override key=value")
    args = parser.parse_args(argv)
    spark = get_spark(bench_config(args.conf), app_name="bench-text")
    run(spark, args.sizes, args.out, backends=tuple(args.backends), jieba_max=parse_size(args.jieba_max),
        plain_max=args.plain_max, max_distinct=parse_size(args.max_distinct), cache=args.cache,
        overrides=tuple(args.conf), staged=not args.no_staged)
    return 0


if __name__ == "__main__":
    sys.exit(main())
