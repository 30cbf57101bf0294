"""The generator job: simulate the newspaper world on the executors and write the bronze tables.

Plan (one Spark job per step, nothing proportional to the data on the driver)::

    spark.range(n_blocks)                       one row per block of customers
      -> mapInArrow(simulate_block)             one row per block: every table's rows as
                                                compressed Arrow IPC bytes ("payload"), persisted
      -> per table: mapInArrow(unpack [+ render email text]) -> Lake.write(table)
      -> truth: sizes, churn rate and the oracle AUCs

Each block is simulated from ``SeedSequence([seed, block_id])`` and the email text of a block
from its own child seed, so the tables are identical whatever the number of partitions
(``generate.partitions``). Tables: ``customers``, ``subscriptions``, ``complaints``,
``suspensions``, ``changes``, ``dm_actions``, ``free_papers``, ``emails`` (bronze) and
``truth`` (kept apart: the pipeline's model stages never read it).
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema

from churn_spark.config import Config
from churn_spark.evaluation.auc import auc
from churn_spark.lake.tables import Lake
from churn_spark.session import default_parallelism
from churn_spark.synth.mechanism import TOPIC_IDS
from churn_spark.synth.presets import preset_params
from churn_spark.synth.world import WorldParams, block_seeds, simulate_block
from churn_spark.synth.world_tables import SCHEMAS

#: Bronze tables in writing order (emails last: rendering the text is the expensive part).
BRONZE_TABLES = ("customers", "subscriptions", "complaints", "suspensions", "changes", "dm_actions",
                 "free_papers", "emails")
TABLES = BRONZE_TABLES + ("truth",)

#: Schema of the written emails table (DATA_CONTRACT.md).
EMAILS_SCHEMA = pa.schema([("email_id", pa.string()), ("customer_id", pa.string()),
                           ("sent_at", pa.timestamp("us", tz="UTC")), ("subject", pa.string()),
                           ("body", pa.string())])

_PAYLOAD_SCHEMA = pa.schema([("block_id", pa.int64())] + [(t, pa.binary()) for t in TABLES]
                            + [(f"n_{t}", pa.int64()) for t in TABLES])


def table_schema(name: str):
    """The Spark schema of a generated table."""
    return from_arrow_schema(EMAILS_SCHEMA if name == "emails" else SCHEMAS[name])


# ---------------------------------------------------------------------------------------
# executor side


def _to_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression="lz4")) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _from_ipc(blob: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(blob)).read_all()


def _simulate_blocks(params: WorldParams, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """mapInArrow: block ids -> one payload row per block."""
    for batch in batches:
        for block_id in batch.column("id").to_pylist():
            world = simulate_block(params, block_id)
            row: dict[str, list[Any]] = {"block_id": [block_id]}
            for name in TABLES:
                row[name] = [_to_ipc(world.tables[name])]
                row[f"n_{name}"] = [world.tables[name].num_rows]
            yield pa.RecordBatch.from_pydict(row, schema=_PAYLOAD_SCHEMA)


@functools.lru_cache(maxsize=1)
def _topic_matrix() -> np.ndarray:
    """(mechanism topics x renderer topics) 0/1 matrix matching topics by name.

    A mechanism topic the renderer does not know is written as 'content'.
    """
    from churn_spark.synth.text import TOPICS
    matrix = np.zeros((len(TOPIC_IDS), len(TOPICS)))
    for i, name in enumerate(TOPIC_IDS):
        matrix[i, TOPICS.index(name if name in TOPICS else "content")] = 1.0
    return matrix


def render_block_emails(emails: pa.Table, seed: int, block_id: int, traditional_share: float) -> pa.Table:
    """Subject and body of a block's simulated emails (deterministic in seed and block id)."""
    from churn_spark.synth.text import render_emails
    n = emails.num_rows
    mix = emails.column("topic_mix").combine_chunks().flatten().to_numpy().reshape(n, len(TOPIC_IDS))
    rng = np.random.default_rng(block_seeds(seed, block_id)[1])
    texts = render_emails(mix.astype(np.float64) @ _topic_matrix(), rng, traditional_share) if n else []
    return pa.table({
        "email_id": emails.column("email_id"), "customer_id": emails.column("customer_id"),
        "sent_at": emails.column("sent_at"),
        "subject": pa.array([s for s, _ in texts], pa.string()),
        "body": pa.array([b for _, b in texts], pa.string()),
    }, schema=EMAILS_SCHEMA)


def _unpack(name: str, seed: int, traditional_share: float,
            batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """mapInArrow: payload rows -> the rows of table ``name``."""
    for batch in batches:
        blocks, blobs = batch.column("block_id").to_pylist(), batch.column(name).to_pylist()
        for block_id, blob in zip(blocks, blobs, strict=True):
            table = _from_ipc(blob)
            if name == "emails":
                table = render_block_emails(table, seed, block_id, traditional_share)
            yield from table.to_batches(max_chunksize=10_000)


# ---------------------------------------------------------------------------------------
# driver side


@contextlib.contextmanager
def _arrow_batch_rows(spark: SparkSession, rows: int):
    """Temporarily send ``rows`` rows per Arrow batch to Python (payload rows are megabytes)."""
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    before = spark.conf.get(key)
    spark.conf.set(key, str(rows))
    try:
        yield
    finally:
        spark.conf.set(key, before)


def truth_summary(truth: DataFrame) -> dict[str, Any]:
    """Sizes, churn rates, emails per unit and oracle AUCs of a truth table."""
    groups = {bool(r["has_emails"]): r for r in truth.groupBy("has_emails").agg(
        F.count("*").alias("units"), F.sum("churn").alias("churners"),
        F.sum("n_emails").alias("emails")).collect()}
    emailers, others = groups.get(True), groups.get(False)
    with_emails = truth.where("has_emails")
    n_e = emailers["units"] if emailers else 0
    n_o = others["units"] if others else 0
    return {
        "units": n_e + n_o,
        "units_with_emails": n_e,
        "units_without_emails": n_o,
        "churn_rate_with_emails": emailers["churners"] / n_e if n_e else float("nan"),
        "churn_rate_without_emails": others["churners"] / n_o if n_o else float("nan"),
        "emails_in_unit_terms": emailers["emails"] if emailers else 0,
        "emails_per_unit_with_emails": emailers["emails"] / n_e if n_e else float("nan"),
        "oracle_auc_true": auc(with_emails, "p_true", "churn"),
        "oracle_auc_marketing": auc(with_emails, "p_marketing", "churn"),
    }


def run_generate(spark: SparkSession, lake: Lake, cfg: Config) -> dict[str, Any]:
    """Generate the world of ``cfg.generate`` and write its tables through ``lake``.

    Returns sizes, timings and the oracle AUCs; prints one progress line per table.
    """
    g = cfg.generate
    params = preset_params(g.preset, seed=g.seed, emails=g.emails)
    partitions = g.partitions or min(params.n_blocks, 4 * default_parallelism(spark))
    started = time.time()
    result: dict[str, Any] = {"preset": g.preset, "seed": g.seed, "blocks": params.n_blocks,
                              "customers": params.n_blocks * params.block_customers, "partitions": partitions,
                              "tables": {}, "seconds": {}}
    print(f"generate: preset {g.preset}, seed {g.seed}: {params.n_blocks} blocks of {params.block_customers} "
          f"customers on {partitions} partitions")
    with _arrow_batch_rows(spark, 1):
        blocks = spark.range(params.n_blocks, numPartitions=partitions)
        payload = blocks.mapInArrow(functools.partial(_simulate_blocks, params),
                                    from_arrow_schema(_PAYLOAD_SCHEMA)).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            t0 = time.time()
            counts = payload.agg(*[F.sum(f"n_{t}").alias(t) for t in TABLES]).first().asDict()
            result["seconds"]["simulate"] = round(time.time() - t0, 2)
            print(f"generate: {'simulate':<14}{params.n_blocks:>12,} blocks {time.time() - t0:8.1f} s")
            for name in TABLES:
                t0 = time.time()
                unpack = functools.partial(_unpack, name, params.seed, g.traditional_share)
                rows = payload.select("block_id", name).mapInArrow(unpack, table_schema(name))
                lake.write(rows, name)
                secs = time.time() - t0
                result["tables"][name] = int(counts[name] or 0)
                result["seconds"][name] = round(secs, 2)
                print(f"generate: {name:<14}{result['tables'][name]:>12,} rows   {secs:8.1f} s")
        finally:
            payload.unpersist()
    t0 = time.time()
    result.update(truth_summary(lake.read("truth")))
    result["seconds"]["summary"] = round(time.time() - t0, 2)
    result["seconds"]["total"] = round(time.time() - started, 2)
    result["emails_per_second"] = round(result["tables"]["emails"] / result["seconds"]["total"], 1)
    return result


def format_summary(result: dict[str, Any]) -> str:
    """The generator's result as a few readable lines."""
    return "\n".join([
        f"generate: units in the renewal window: {result['units']:,} "
        f"({result['units_with_emails']:,} with emails, {result['units_without_emails']:,} without)",
        f"generate: churn rate with emails {result['churn_rate_with_emails']:.4f}, "
        f"without {result['churn_rate_without_emails']:.4f}; emails per unit with emails "
        f"{result['emails_per_unit_with_emails']:.3f} ({result['emails_in_unit_terms']:,} emails in the "
        f"units' last terms, {result['tables']['emails']:,} in the emails table)",
        f"generate: oracle AUC on units with emails: p_true {result['oracle_auc_true']:.4f}, "
        f"p_marketing {result['oracle_auc_marketing']:.4f}",
        f"generate: {result['seconds']['total']:.1f} s, {result['emails_per_second']:,.0f} emails/s",
    ])


