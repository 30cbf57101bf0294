"""Benchmark: throughput of the world generator (scale preset) in emails per second.

Runs ``churn-spark generate --preset scale --emails N`` through the library into a fresh
warehouse and reports the wall time per step (simulation, each table write, summary) and
emails per second overall (rows of the emails table / total seconds). To show where the time
goes it also times, in this process on one core, the two Python parts for one block: the
simulation (numpy) and the text rendering (``render_emails``).

    .venv/bin/python -m bench.generate --emails 100000 --out /tmp/bench_generate

Not part of the tests.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from bench.common import write_json
from churn_spark.config import load_config
from churn_spark.lake.tables import Lake
from churn_spark.session import get_spark
from churn_spark.synth.generate import render_block_emails, run_generate
from churn_spark.synth.presets import preset_params
from churn_spark.synth.world import simulate_block


def single_core_profile(seed: int = 7, block_id: int = 0) -> dict[str, float]:
    """Seconds per email of simulating and of rendering one scale block, in this process."""
    params = preset_params("scale", seed=seed, emails=1)
    simulate_block(params, block_id + 1)                        # warm-up (imports, dictionaries)
    t0 = time.perf_counter()
    world = simulate_block(params, block_id)
    simulated = time.perf_counter() - t0
    emails = world.tables["emails"]
    render_block_emails(emails.slice(0, 50), seed, block_id, 0.1)   # loads the renderer's tables
    t0 = time.perf_counter()
    render_block_emails(emails, seed, block_id, 0.1)
    rendered = time.perf_counter() - t0
    n = emails.num_rows
    return {"block_emails": n, "simulate_us_per_email": 1e6 * simulated / n,
            "render_us_per_email": 1e6 * rendered / n}


def run(spark: SparkSession, emails: int, out: str, seed: int = 7) -> dict[str, Any]:
    """Generate the scale preset sized for ``emails`` emails under ``out``; returns the figures."""
    if Path(out).exists():
        shutil.rmtree(out)
    cfg = load_config(["local"], [f"run.warehouse={out}", "generate.preset=scale",
                                  f"generate.emails={emails}", f"generate.seed={seed}"])
    result = run_generate(spark, Lake(spark, cfg), cfg)
    result["profile_one_core"] = single_core_profile(seed)
    result["machine"] = {"cpus": spark.sparkContext.defaultParallelism, "python": platform.python_version()}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--emails", type=int, default=100_000,
                        help="scale preset size (emails in the units' last terms)")
    parser.add_argument("--out", default="/tmp/bench_generate", help="warehouse folder (deleted first)")
    parser.add_argument("--json", help="also write the result to this JSON file")
    args = parser.parse_args(argv)
    spark = get_spark(load_config(["local"]))
    result = run(spark, args.emails, args.out)
    total = result["seconds"]["total"]
    print(f"\nscale preset, --emails {args.emails:,}: {result['tables']['emails']:,} emails "
          f"({result['emails_in_unit_terms']:,} in unit terms), {result['units_with_emails']:,} units with "
          f"emails, {result['units_without_emails']:,} without")
    print(f"total {total:.1f} s -> {result['emails_per_second']:,.0f} emails/s "
          f"on {result['machine']['cpus']} cores")
    print("| step | seconds |\n|---|---|")
    for step, secs in result["seconds"].items():
        print(f"| {step} | {secs:.1f} |")
    prof = result["profile_one_core"]
    print(f"one core, one block of {prof['block_emails']:,} emails: simulation "
          f"{prof['simulate_us_per_email']:.0f} us/email, text rendering "
          f"{prof['render_us_per_email']:.0f} us/email")
    if args.json:
        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
