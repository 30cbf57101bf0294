"""``selection``: the marketing encoder and forward selection by score chi-square (the paper's Table 3).

Writes ``feature_selection`` and saves the ``encoder`` artefact
(:class:`~churn_spark.modeling.encoding.MarketingEncoderModel`).
"""

from __future__ import annotations

from typing import Any

from churn_spark.app.artefacts import artefact_path, save_model
from churn_spark.app.context import Context
from churn_spark.app.stages import Stage
from churn_spark.app.stages.units import LABEL, labelled_units


def run(ctx: Context) -> dict[str, Any]:
    """Encode the marketing candidates and run forward selection on the training units."""
    from churn_spark.modeling.encoding import MarketingEncoder, candidate_columns
    from churn_spark.modeling.selection import forward_select

    cfg, lake, sc = ctx.cfg, ctx.lake, ctx.cfg.selection
    exclude = [*sc.exclude_columns, "has_emails", "n_emails"]
    candidates, skipped = candidate_columns(lake.read("observations"), exclude)
    # the encoder's two statistics jobs and the selection's blocks read the join once (all its
    # columns: the encoder keeps its dummy names clear of every column the units have)
    train = labelled_units(lake, "train").persist()
    encoder = MarketingEncoder(inputCols=candidates, minLevelCount=sc.min_level_count,
                               maxLevels=sc.max_levels).fit(train)
    save_model(encoder, artefact_path(cfg, "encoder"))
    result = forward_select(encoder.transform(train), encoder.candidateNames(), LABEL, entry_p=sc.entry_p,
                            max_variables=sc.max_variables, max_iter=sc.max_iter, tol=sc.tol,
                            labels=encoder.candidateLabels())
    train.unpersist()
    schema = "step int, variable string, label string, score_chi2 double, p_value double"
    rows = [(r["step"], r["variable"], r.get("label"), r["score_chi2"], r["p_value"]) for r in result.rows()]
    lake.write(ctx.spark.createDataFrame(rows, schema), "feature_selection")
    print(f"selection: {len(result.selected)} of {len(encoder.candidateNames())} candidates entered "
          f"({result.stop_reason})")
    for r in rows:
        print(f"  {r[0]:>2}. {r[2] or r[1]:<55} chi2 {r[3]:9.2f}  p {r[4]:.2e}")
    return {"candidates": len(encoder.candidateNames()), "selected": result.selected,
            "stop_reason": result.stop_reason, "skipped_columns": skipped,
            "skipped_candidates": result.skipped}


STAGE = Stage("selection", run, inputs=("observations", "doc_vectors"), outputs=("feature_selection",),
              config=("selection", "run"), help="forward selection of marketing variables")
