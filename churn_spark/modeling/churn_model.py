"""The paper's two churn models as Spark ML pipelines: structured, and structured + text.

Both are maximum-likelihood logistic regressions fitted on the training units::

    P(churn=1 | x, c) = 1 / (1 + exp(-(b0 + sum_j b_j x_j + sum_{i<k} g_i c_i)))

* ``structured``      -- x = the marketing variables kept by forward selection, k = 0;
* ``structured_text`` -- the same variables plus the first ``k`` LSI concept loadings ``c``.

:class:`ChurnLogisticRegression` (Estimator) fits ``(b0, b, g)`` with the distributed
Newton-Raphson of :func:`churn_spark.linalg.logistic.fit_logistic`: per iteration one pass over
the data sums the gradient ``U = X'(y - p)`` and the information ``I = X' diag(p(1-p)) X``
per partition, and the driver takes the step ``beta <- beta + I^-1 U`` (step halving if the
log-likelihood drops) until the largest step on the standardised coefficients is below
``tol``. Standard errors are ``sqrt(diag(I^-1))`` at the estimate, Wald chi-square
``(b / se)^2`` with 1 d.f., as in the SAS output. This is the same estimate as Spark's
``GeneralizedLinearRegression(family="binomial")`` (IRLS is Newton-Raphson for the logit
link) in the same number of passes; the GLM was replaced because its weighted least squares
falls back to Java BLAS here and made it the bottleneck at 1M emails (348 s).

:class:`ChurnLogisticModel` (Transformer) holds ``intercept``, ``coefficients`` (inputs,
then concepts) and ``standardErrors`` as JSON Params (``DefaultParamsWritable``) and adds
the probability column ``p_churn`` as one Spark Column expression (no Python UDF). A null
input gives a null probability. Each :class:`ChurnModel` wraps it in a one-stage
``PipelineModel`` so that it is saved, loaded and chained like the other artefacts.
:func:`fit_churn_models` fits both models from one read of the training units (one set of
cached blocks; the structured model's columns are a subset of the other's).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pyspark import keyword_only
from pyspark.ml import Estimator, Model, PipelineModel
from pyspark.ml.functions import vector_to_array
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasInputCols, HasLabelCol, HasMaxIter, HasPredictionCol, HasTol
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from churn_spark.linalg.logistic import LogisticFit, fit_logistic, fit_logistic_models
from churn_spark.linalg.vectors import vector_size
from churn_spark.lsi import LatentSemanticIndexingModel

log = logging.getLogger(__name__)

PROBABILITY_COL = "p_churn"
STRUCTURED = "structured"
STRUCTURED_TEXT = "structured_text"

COEFFICIENT_SCHEMA = ("model string, variable string, coefficient double, std_error double, "
                      "wald_chi2 double, p_value double")


def concept_names(k: int) -> list[str]:
    """Names of the first ``k`` concept loadings as they appear in coefficient tables."""
    return [f"concept_{i + 1}" for i in range(k)]


class _ChurnLogisticParams(HasInputCols, HasLabelCol, HasPredictionCol, HasMaxIter, HasTol):
    conceptsCol = Param(Params._dummy(), "conceptsCol",
                        "concept loadings (vector or array<double>); the first k enter the model",
                        typeConverter=TypeConverters.toString)
    k = Param(Params._dummy(), "k", "number of leading concepts in the model (0 = none)",
              typeConverter=TypeConverters.toInt)

    def _set_param_defaults(self) -> None:
        self._setDefault(inputCols=[], labelCol="churn", predictionCol=PROBABILITY_COL, k=0,
                         maxIter=25, tol=1e-8)

    def concept_loadings(self, dataset: DataFrame) -> list[Column]:
        """The first ``k`` loadings of ``conceptsCol`` as double columns; checks the column is there."""
        k = self.getOrDefault("k")
        if k <= 0:
            return []
        loadings = self._loadings_array(dataset)
        return [loadings[i] for i in range(k)]

    def _loadings_array(self, dataset: DataFrame) -> Column:
        """``conceptsCol`` as array<double> (null stays null); checks the column is there."""
        if not self.isDefined("conceptsCol"):
            raise ValueError(f"k = {self.getOrDefault('k')} concepts need conceptsCol (concepts_col)")
        name = self.getOrDefault("conceptsCol")
        if name not in dataset.columns:
            raise ValueError(f"conceptsCol {name!r} is not a column of the data: {dataset.columns}")
        # the lake gives VectorUDT; array<double> (as stored for analysts) is taken as it is
        if isinstance(dataset.schema[name].dataType, T.ArrayType):
            return F.col(name)
        return F.when(F.col(name).isNotNull(), vector_to_array(F.col(name)))  # vector_to_array refuses nulls


class ChurnLogisticRegression(Estimator, _ChurnLogisticParams, DefaultParamsReadable, DefaultParamsWritable):
    """Estimator: maximum-likelihood logistic regression of ``labelCol`` on ``inputCols`` and
    the first ``k`` concepts (see the module docstring). Rows with a null label are left out;
    null inputs are an error at fit time."""

    @keyword_only
    def __init__(self, *, inputCols: list[str] | None = None, conceptsCol: str | None = None, k: int | None = None,
                 labelCol: str | None = None, predictionCol: str | None = None, maxIter: int | None = None,
                 tol: float | None = None) -> None:
        super().__init__()
        self._set_param_defaults()
        self._set(**self._input_kwargs)

    @keyword_only
    def setParams(self, *, inputCols: list[str] | None = None, conceptsCol: str | None = None, k: int | None = None,
                  labelCol: str | None = None, predictionCol: str | None = None, maxIter: int | None = None,
                  tol: float | None = None) -> ChurnLogisticRegression:
        return self._set(**self._input_kwargs)

    def _fit(self, dataset: DataFrame) -> ChurnLogisticModel:
        flat, arrays = self.training_frame(dataset)
        fit = fit_logistic(flat, self.getOrDefault("inputCols"), self.getOrDefault("labelCol"),
                           max_iter=self.getOrDefault("maxIter"), tol=self.getOrDefault("tol"), arrays=arrays)
        return self.fitted_model(fit)

    def training_frame(self, dataset: DataFrame) -> tuple[DataFrame, dict[str, list[str]]]:
        """The label, the inputs and the first ``k`` concepts as one array column ``_concepts``; and
        ``{"_concepts": names of its entries}`` (as in the coefficient tables), empty for k = 0."""
        inputs = list(self.getOrDefault("inputCols"))
        k = self.getOrDefault("k")
        if not inputs and k <= 0:
            raise ValueError("the model has no features (inputCols empty and k = 0)")
        columns = [F.col(self.getOrDefault("labelCol")), *[F.col(c) for c in inputs]]
        if k <= 0:
            return dataset.select(*columns), {}
        loadings = self._loadings_array(dataset)
        self._check_concept_size(dataset, k)
        return (dataset.select(*columns, F.slice(loadings, 1, k).alias("_concepts")),
                {"_concepts": concept_names(k)})

    def fitted_model(self, fit: LogisticFit) -> ChurnLogisticModel:
        """The Transformer of ``fit`` (a fit of :meth:`training_frame`), with this estimator's params and
        the fit as its summary."""
        if not fit.converged:
            log.warning("churn logistic regression did not converge: %s", fit.message)
        model = ChurnLogisticModel(intercept=float(fit.coef[0]), coefficients=[float(b) for b in fit.coef[1:]],
                                   standardErrors=[float(s) for s in fit.se])
        model._resetUid(self.uid)
        model._summary = fit
        return self._copyValues(model)

    def _check_concept_size(self, dataset: DataFrame, k: int) -> None:
        """``k`` must not exceed the loadings' length (from the ML metadata, else one row: all units have k_max)."""
        name = self.getOrDefault("conceptsCol")
        size = vector_size(dataset, name)
        if size is not None and size < k:
            raise ValueError(f"k = {k} but conceptsCol {name!r} holds only {size} concepts")


class ChurnLogisticModel(Model, _ChurnLogisticParams, DefaultParamsReadable, DefaultParamsWritable):
    """Transformer: ``predictionCol = 1 / (1 + exp(-(intercept + coefficients . [inputs, concepts[:k]])))``."""

    intercept = Param(Params._dummy(), "intercept", "fitted intercept b0", typeConverter=TypeConverters.toFloat)
    coefficients = Param(Params._dummy(), "coefficients", "fitted coefficients: inputCols, then the k concepts",
                         typeConverter=TypeConverters.toListFloat)
    standardErrors = Param(Params._dummy(), "standardErrors", "standard errors, intercept first",
                           typeConverter=TypeConverters.toListFloat)

    @keyword_only
    def __init__(self, *, intercept: float | None = None, coefficients: list[float] | None = None,
                 standardErrors: list[float] | None = None) -> None:
        super().__init__()
        self._set_param_defaults()
        self._setDefault(intercept=0.0, coefficients=[], standardErrors=[])
        self._set(**self._input_kwargs)
        self._summary: LogisticFit | None = None

    @property
    def summary(self) -> LogisticFit:
        """The training fit (iterations, log-likelihood, n); only on a model fitted in this session."""
        if self._summary is None:
            raise RuntimeError("no training summary (the model was loaded, not fitted)")
        return self._summary

    def _transform(self, dataset: DataFrame) -> DataFrame:
        inputs = list(self.getOrDefault("inputCols"))
        values: list[Column] = [F.col(c).cast("double") for c in inputs] + self.concept_loadings(dataset)
        weights = self.getOrDefault("coefficients")
        if len(weights) != len(values):
            raise ValueError(f"{len(weights)} coefficients for {len(inputs)} inputs + k = {self.getOrDefault('k')}")
        terms = [F.lit(self.getOrDefault("intercept"))]
        terms += [F.lit(weight) * value for value, weight in zip(values, weights, strict=True)]
        # summed as a balanced tree: a chain of k + p additions nests as deep, and Catalyst's
        # recursive rules overflowed the JVM stack on it at k = 250 (StackOverflowError)
        while len(terms) > 1:
            terms = [a + b for a, b in zip(terms[::2], terms[1::2], strict=False)] + terms[len(terms) // 2 * 2 :]
        eta = terms[0]
        return dataset.withColumn(self.getOrDefault("predictionCol"), F.lit(1.0) / (F.lit(1.0) + F.exp(-eta)))


@dataclass
class ChurnModel:
    """A fitted model: a one-stage ``PipelineModel`` (:class:`ChurnLogisticModel`), its feature
    names and its coefficient table.

    ``coefficients`` rows: model, variable, coefficient, std_error, wald_chi2, p_value
    (intercept first). ``n_iter`` Newton iterations, ``n_train`` training rows (non-null label).
    """

    name: str
    pipeline_model: PipelineModel
    feature_names: list[str]
    coefficients: list[dict[str, Any]] = field(default_factory=list)
    n_iter: int = 0
    n_train: int = 0
    converged: bool = True

    @property
    def logistic(self) -> ChurnLogisticModel:
        return self.pipeline_model.stages[-1]

    def transform(self, df: DataFrame, score_col: str | None = None) -> DataFrame:
        """``df`` plus the churn probability (``p_churn``, or ``score_col``)."""
        scored = self.pipeline_model.transform(df)
        if score_col and score_col != PROBABILITY_COL:
            scored = scored.withColumnRenamed(PROBABILITY_COL, score_col)
        return scored


def fit_churn_model(train: DataFrame, name: str, variables: list[str], label_col: str = "churn",
                    concepts_col: str | None = None, k: int = 0, max_iter: int = 25,
                    tol: float = 1e-8) -> ChurnModel:
    """Fit one model on the training units (rows with a null label are left out)."""
    estimator = _estimator(variables, label_col, concepts_col, k, max_iter, tol)
    return _churn_model(name, estimator.fit(train), variables, k)


def fit_churn_models(train: DataFrame, variables: list[str], label_col: str = "churn",
                     concepts_col: str | None = None, k: int = 0, max_iter: int = 25,
                     tol: float = 1e-8, fold_in: LatentSemanticIndexingModel | None = None) -> dict[str, ChurnModel]:
    """The paper's two models, ``structured`` (``variables``) and ``structured_text`` (plus the
    first ``k`` concepts), from one read of ``train``: the same fits as two
    :func:`fit_churn_model` calls, but the training rows are joined, converted and cached once
    (:func:`churn_spark.linalg.logistic.fit_logistic_models`).

    With ``fold_in`` (the LSI model), ``train`` holds the term vectors (the model's ``inputCol``)
    instead of the concepts: the first ``k`` concepts are their fold-in, formed where the
    numeric blocks are built, so only the vectors' entries cross from the JVM. The fitted text
    model still reads ``concepts_col`` when it scores.
    """
    if not variables:
        raise ValueError("the structured model has no features (no variables)")
    structured = _estimator(variables, label_col, None, 0, max_iter, tol)
    text = _estimator(variables, label_col, concepts_col, k, max_iter, tol)
    names = list(variables) + concept_names(k)
    subsets = {STRUCTURED: list(variables), STRUCTURED_TEXT: names}
    if fold_in is None:
        flat, arrays = text.training_frame(train)
        fits = fit_logistic_models(flat, list(variables), label_col, subsets, max_iter=max_iter, tol=tol,
                                   arrays=arrays)
    else:
        terms = fold_in.getInputCol()
        flat = train.select(F.col(label_col), *[F.col(c) for c in variables], F.col(terms))
        fits = fit_logistic_models(flat, list(variables), label_col, subsets, max_iter=max_iter, tol=tol,
                                   projected={terms: (fold_in.fold_in_projection(k), concept_names(k))})
    return {STRUCTURED: _churn_model(STRUCTURED, structured.fitted_model(fits[STRUCTURED]), variables, 0),
            STRUCTURED_TEXT: _churn_model(STRUCTURED_TEXT, text.fitted_model(fits[STRUCTURED_TEXT]), variables, k)}


def _estimator(variables: list[str], label_col: str, concepts_col: str | None, k: int, max_iter: int,
               tol: float) -> ChurnLogisticRegression:
    if k > 0 and not concepts_col:
        raise ValueError("k > 0 needs concepts_col")
    estimator = ChurnLogisticRegression(inputCols=list(variables), labelCol=label_col, k=k, maxIter=max_iter,
                                        tol=tol, predictionCol=PROBABILITY_COL)
    if concepts_col:
        estimator.set(estimator.conceptsCol, concepts_col)
    return estimator


def _churn_model(name: str, logistic: ChurnLogisticModel, variables: list[str], k: int) -> ChurnModel:
    fit = logistic.summary
    return ChurnModel(name=name, pipeline_model=PipelineModel([logistic]),
                      feature_names=list(variables) + concept_names(k), coefficients=fit.rows(name),
                      n_iter=fit.n_iter, n_train=fit.n, converged=fit.converged)


def coefficients_frame(spark: SparkSession, models: Iterable[ChurnModel]) -> DataFrame:
    """The coefficient tables of ``models`` as one small DataFrame (for a Delta table)."""
    rows = [row for m in models for row in m.coefficients]
    return spark.createDataFrame(rows, COEFFICIENT_SCHEMA)


def score(df: DataFrame, models: Mapping[str, ChurnModel]) -> DataFrame:
    """``df`` plus one probability column ``p_<name>`` per model (for the evaluation)."""
    for name, model in models.items():
        df = model.transform(df, score_col=f"p_{name}")
    return df
