"""``ingest``: your own emails and observations (``docs/data_contract.md``) -> validated tables + ``quarantine``."""

from __future__ import annotations

from typing import Any

from churn_spark.app.context import Context
from churn_spark.app.stages import Stage


def run(ctx: Context) -> dict[str, Any]:
    """Read ``--emails`` and ``--observations`` (``--format``), keep the valid rows, quarantine the rest."""
    from churn_spark.lake.ingest import ingest

    return ingest(ctx.spark, ctx.lake, ctx.cfg, ctx.args.emails, ctx.args.observations, ctx.args.format)


STAGE = Stage("ingest", run, inputs=(), outputs=("emails", "observations", "quarantine"), config=("ingest", "run"),
              help="load your own data")
