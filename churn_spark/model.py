"""The paper's two churn models as Spark ML pipelines: structured, and structured + text.

Both are maximum-likelihood logistic regressions, ``P(churn=1|x) = 1 / (1 + exp(-(b0 + b'x)))``,
fitted on the training units:

* ``structured``      -- x = the marketing variables kept by forward selection;
* ``structured_text`` -- x = the same variables plus the first ``k`` LSI concept loadings.

The estimator is ``GeneralizedLinearRegression(family="binomial", link="logit")``: it fits
by iteratively reweighted least squares (one distributed pass per iteration, ~5-8 passes)
and its training summary carries the standard errors of the coefficients, so Wald
statistics ``(b / se)^2`` come with the fit as in the SAS output; ``LogisticRegression``
with ``regParam=0`` reaches the same coefficients with L-BFGS but needs more passes and no
standard errors. Its ``predictionCol`` is the fitted mean, i.e. the churn probability:
it is named ``p_churn``.

Each model is a ``PipelineModel`` of plain Spark ML stages (``VectorSlicer`` for the first
``k`` concepts, ``VectorAssembler``, the GLM), so it is saved, loaded and chained after the
text stages as one artefact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pyspark.ml import Estimator, Pipeline, PipelineModel, Transformer
from pyspark.ml.feature import VectorAssembler, VectorSlicer
from pyspark.ml.regression import GeneralizedLinearRegression, GeneralizedLinearRegressionModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from scipy.stats import chi2 as chi2_dist

from churn_spark.selection import INTERCEPT

PROBABILITY_COL = "p_churn"
STRUCTURED = "structured"
STRUCTURED_TEXT = "structured_text"

COEFFICIENT_SCHEMA = ("model string, variable string, coefficient double, std_error double, "
                      "wald_chi2 double, p_value double")


def concept_names(k: int) -> list[str]:
    """Names of the first ``k`` concept loadings as they appear in coefficient tables."""
    return [f"concept_{i + 1}" for i in range(k)]


def model_stages(name: str, variables: list[str], label_col: str = "churn", concepts_col: str | None = None,
                 k: int = 0, max_iter: int = 25, tol: float = 1e-8) -> list[Estimator | Transformer]:
    """Unfitted stages of one model: [VectorSlicer(first k concepts)], VectorAssembler, GLM.

    Intermediate columns are suffixed with ``name`` so that two models can score the same
    DataFrame one after the other.
    """
    if k > 0 and not concepts_col:
        raise ValueError("k > 0 needs concepts_col")
    stages: list[Estimator | Transformer] = []
    inputs = list(variables)
    if k > 0:
        sliced = f"concepts_k_{name}"
        stages.append(VectorSlicer(inputCol=concepts_col, outputCol=sliced, indices=list(range(k))))
        inputs.append(sliced)
    if not inputs:
        raise ValueError(f"model {name!r} has no features")
    features = f"features_{name}"
    stages.append(VectorAssembler(inputCols=inputs, outputCol=features, handleInvalid="error"))
    stages.append(GeneralizedLinearRegression(
        family="binomial", link="logit", featuresCol=features, labelCol=label_col,
        predictionCol=PROBABILITY_COL, maxIter=max_iter, tol=tol, regParam=0.0))
    return stages


@dataclass
class ChurnModel:
    """A fitted model: the pipeline, its feature names and its coefficient table.

    ``coefficients`` rows: model, variable, coefficient, std_error, wald_chi2, p_value
    (intercept first); computed at fit time from the GLM training summary.
    """

    name: str
    pipeline_model: PipelineModel
    feature_names: list[str]
    coefficients: list[dict[str, Any]] = field(default_factory=list)
    n_iter: int = 0

    @property
    def glm(self) -> GeneralizedLinearRegressionModel:
        return self.pipeline_model.stages[-1]

    def intermediate_cols(self) -> list[str]:
        return [stage.getOutputCol() for stage in self.pipeline_model.stages[:-1]]

    def transform(self, df: DataFrame, score_col: str | None = None) -> DataFrame:
        """``df`` plus the churn probability (``p_churn``, or ``score_col``); intermediates dropped."""
        scored = self.pipeline_model.transform(df).drop(*self.intermediate_cols())
        if score_col and score_col != PROBABILITY_COL:
            scored = scored.withColumnRenamed(PROBABILITY_COL, score_col)
        return scored


def fit_churn_model(train: DataFrame, name: str, variables: list[str], label_col: str = "churn",
                    concepts_col: str | None = None, k: int = 0, max_iter: int = 25,
                    tol: float = 1e-8) -> ChurnModel:
    """Fit one model on the training units (rows with a null label are left out)."""
    labelled = (train.where(F.col(label_col).isNotNull())
                .withColumn(label_col, F.col(label_col).cast("double")))
    stages = model_stages(name, variables, label_col, concepts_col, k, max_iter, tol)
    pipeline_model = Pipeline(stages=stages).fit(labelled)
    feature_names = list(variables) + concept_names(k)
    glm: GeneralizedLinearRegressionModel = pipeline_model.stages[-1]
    summary = glm.summary
    coef = np.concatenate([[glm.intercept], glm.coefficients.toArray()])
    errors = list(summary.coefficientStandardErrors)
    se = np.array([errors[-1]] + errors[:-1])          # Spark puts the intercept last
    return ChurnModel(name=name, pipeline_model=pipeline_model, feature_names=feature_names,
                      coefficients=coefficient_rows(name, [INTERCEPT] + feature_names, coef, se),
                      n_iter=int(summary.numIterations))


def coefficient_rows(model: str, names: list[str], coef: np.ndarray, se: np.ndarray) -> list[dict[str, Any]]:
    """Rows (model, variable, coefficient, std_error, wald_chi2, p_value); Wald chi2 = (b / se)^2."""
    with np.errstate(divide="ignore", invalid="ignore"):
        wald = np.where(se > 0, (coef / se) ** 2, np.nan)
    p_value = chi2_dist.sf(wald, 1)
    return [{"model": model, "variable": n, "coefficient": float(b), "std_error": float(s),
             "wald_chi2": float(w), "p_value": float(p)}
            for n, b, s, w, p in zip(names, coef, se, wald, p_value, strict=True)]


def coefficients_frame(spark: SparkSession, models: Iterable[ChurnModel]) -> DataFrame:
    """The coefficient tables of ``models`` as one small DataFrame (for a Delta table)."""
    rows = [row for m in models for row in m.coefficients]
    return spark.createDataFrame(rows, COEFFICIENT_SCHEMA)


def score(df: DataFrame, models: Mapping[str, ChurnModel]) -> DataFrame:
    """``df`` plus one probability column ``p_<name>`` per model (for the evaluation)."""
    for name, model in models.items():
        df = model.transform(df, score_col=f"p_{name}")
    return df
