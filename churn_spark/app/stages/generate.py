"""``generate``: the synthetic newspaper world as bronze tables (see ``docs/generator.md``)."""

from __future__ import annotations

from typing import Any

from churn_spark.app.context import Context
from churn_spark.app.stages import Stage

MARKETING_TABLES = ("customers", "subscriptions", "complaints", "suspensions", "changes", "dm_actions",
                    "free_papers")


def run(ctx: Context) -> dict[str, Any]:
    """Generate the world of ``generate.*`` and print its summary (sizes, churn rates, oracle AUCs)."""
    from churn_spark.synth.generate import format_summary, run_generate

    result = run_generate(ctx.spark, ctx.lake, ctx.cfg)
    print(format_summary(result))
    return result


STAGE = Stage("generate", run, inputs=(), outputs=(*MARKETING_TABLES, "emails", "truth"), config=("generate",),
              help="generate the newspaper world (bronze tables)")
