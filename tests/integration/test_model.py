"""The two churn models (distributed Newton logistic regression) against statsmodels and scikit-learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.ml.linalg import Vectors
from pyspark.sql import functions as F
from sklearn.linear_model import LogisticRegression

from churn_spark.linalg.logistic import fit_logistic
from churn_spark.modeling.churn_model import (
    STRUCTURED,
    STRUCTURED_TEXT,
    ChurnLogisticModel,
    ChurnLogisticRegression,
    ChurnModel,
    coefficients_frame,
    fit_churn_model,
    fit_churn_models,
    score,
)

VARIABLES = ["tenure", "monetary", "is_x1"]
K = 4


def _data(n: int = 2000, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tenure = rng.gamma(3.0, 1.0, n)
    monetary = rng.normal(200.0, 40.0, n)
    is_x1 = (rng.random(n) < 0.4).astype(float)
    concepts = rng.normal(0.0, 0.1, (n, 6))                   # LSI loadings, k_max = 6
    eta = (-1.0 - 0.3 * tenure + 0.004 * (monetary - 200) + 0.4 * is_x1
           + 4.0 * concepts[:, 0] - 3.0 * concepts[:, 2])
    churn = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    return pd.DataFrame({"unit_id": [f"u{i}" for i in range(n)], "tenure": tenure, "monetary": monetary,
                         "is_x1": is_x1, "concepts": list(concepts), "churn": churn})


@pytest.fixture(scope="module")
def fitted(spark):
    pdf = _data()
    df = (spark.createDataFrame(pdf).withColumn("concepts", array_to_vector("concepts")).repartition(3))
    structured = fit_churn_model(df, STRUCTURED, VARIABLES, label_col="churn")
    text = fit_churn_model(df, STRUCTURED_TEXT, VARIABLES, label_col="churn", concepts_col="concepts", k=K)
    return pdf, df, structured, text


def _design(pdf: pd.DataFrame, k: int) -> np.ndarray:
    parts = [pdf[VARIABLES].to_numpy()]
    if k:
        parts.append(np.vstack(pdf["concepts"].to_numpy())[:, :k])
    return sm.add_constant(np.column_stack(parts))


@pytest.mark.parametrize("which,k", [(2, 0), (3, K)])
def test_coefficients_and_standard_errors_match_statsmodels(fitted, which, k):
    pdf, _, *_ = fitted
    model: ChurnModel = fitted[which]
    ref = sm.Logit(pdf["churn"].to_numpy(), _design(pdf, k)).fit(disp=0, method="newton", tol=1e-12)
    rows = model.coefficients
    assert [r["variable"] for r in rows] == ["intercept", *VARIABLES] + [f"concept_{i + 1}" for i in range(k)]
    np.testing.assert_allclose([r["coefficient"] for r in rows], ref.params, rtol=1e-4, atol=1e-8)
    np.testing.assert_allclose([r["std_error"] for r in rows], ref.bse, rtol=1e-4)
    np.testing.assert_allclose([r["wald_chi2"] for r in rows], (ref.params / ref.bse) ** 2, rtol=1e-3)
    np.testing.assert_allclose([r["p_value"] for r in rows], ref.pvalues, rtol=1e-3, atol=1e-12)
    assert 2 <= model.n_iter <= 10


def test_both_models_from_one_read_equal_two_separate_fits(fitted):
    _, df, structured, text = fitted
    both = fit_churn_models(df, VARIABLES, label_col="churn", concepts_col="concepts", k=K)
    assert list(both) == [STRUCTURED, STRUCTURED_TEXT]
    for alone, shared in ((structured, both[STRUCTURED]), (text, both[STRUCTURED_TEXT])):
        assert shared.name == alone.name and shared.feature_names == alone.feature_names
        assert (shared.n_iter, shared.n_train) == (alone.n_iter, alone.n_train)
        for key in ("coefficient", "std_error"):
            np.testing.assert_allclose([r[key] for r in shared.coefficients], [r[key] for r in alone.coefficients],
                                       rtol=1e-10)
    with pytest.raises(ValueError, match="only 6 concepts"):
        fit_churn_models(df, VARIABLES, label_col="churn", concepts_col="concepts", k=7)
    no_concepts = df.withColumn("concepts", F.when(F.col("unit_id") != "u7", F.col("concepts")))
    with pytest.raises(ValueError, match=r"columns with nulls .*'concept_1', 'concept_2'"):
        fit_churn_models(no_concepts, VARIABLES, label_col="churn", concepts_col="concepts", k=K)


def test_text_model_matches_sklearn_and_the_distributed_newton(fitted):
    pdf, df, _, text = fitted
    X = _design(pdf, K)[:, 1:]
    sk = LogisticRegression(C=np.inf, tol=1e-10, max_iter=10_000)
    sk.fit((X - X.mean(0)) / X.std(0), pdf["churn"])
    slopes = sk.coef_[0] / X.std(0)
    coef = np.array([r["coefficient"] for r in text.coefficients])
    np.testing.assert_allclose(coef[1:], slopes, rtol=1e-4)
    # the selection module's Newton fit on the same columns gives the same estimates
    loadings = vector_to_array(F.col("concepts"))
    flat = df.select("churn", *VARIABLES, *[loadings[i].alias(f"c{i}") for i in range(K)])
    newton = fit_logistic(flat, VARIABLES + [f"c{i}" for i in range(K)], "churn")
    np.testing.assert_allclose(coef, newton.coef, rtol=1e-5)
    np.testing.assert_allclose([r["std_error"] for r in text.coefficients], newton.se, rtol=1e-5)


def test_probabilities_and_scoring_columns(fitted):
    pdf, df, structured, text = fitted
    scored = score(df, {STRUCTURED: structured, STRUCTURED_TEXT: text}).orderBy("unit_id").toPandas()
    assert {"p_structured", "p_structured_text"} <= set(scored.columns)
    assert not any(c.startswith(("features_", "concepts_k_")) for c in scored.columns)
    ordered = pdf.sort_values("unit_id")
    ref = sm.Logit(ordered["churn"].to_numpy(), _design(ordered, K)).fit(disp=0, method="newton", tol=1e-12)
    np.testing.assert_allclose(scored["p_structured_text"], ref.predict(), rtol=0, atol=1e-6)
    structured_ref = sm.Logit(ordered["churn"].to_numpy(), _design(ordered, 0)).fit(
        disp=0, method="newton", tol=1e-12)
    np.testing.assert_allclose(scored["p_structured"], structured_ref.predict(), rtol=0, atol=1e-6)
    X = ordered[VARIABLES].to_numpy()
    sk = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit((X - X.mean(0)) / X.std(0), ordered["churn"])
    np.testing.assert_allclose(scored["p_structured"], sk.predict_proba((X - X.mean(0)) / X.std(0))[:, 1],
                               rtol=0, atol=1e-6)


def test_coefficients_frame_and_save_load(fitted, spark, tmp_path):
    _, df, structured, text = fitted
    frame = coefficients_frame(spark, [structured, text])
    assert frame.columns == ["model", "variable", "coefficient", "std_error", "wald_chi2", "p_value"]
    assert frame.count() == (1 + len(VARIABLES)) + (1 + len(VARIABLES) + K)
    assert frame.where("model = 'structured_text' AND variable = 'concept_4'").count() == 1

    path = str(tmp_path / "text_model")
    text.pipeline_model.write().overwrite().save(path)
    reloaded = PipelineModel.load(path)
    before = [r["p_churn"] for r in text.pipeline_model.transform(df).orderBy("unit_id").collect()]
    after = [r["p_churn"] for r in reloaded.transform(df).orderBy("unit_id").collect()]
    np.testing.assert_array_equal(after, before)
    stage = reloaded.stages[0]
    assert isinstance(stage, ChurnLogisticModel)
    assert stage.getOrDefault("coefficients") == text.logistic.getOrDefault("coefficients")
    assert stage.getOrDefault("k") == K and stage.getOrDefault("conceptsCol") == "concepts"


def test_text_model_needs_a_concepts_column(fitted):
    _, df, *_ = fitted
    with pytest.raises(ValueError, match="concepts_col"):
        fit_churn_model(df, STRUCTURED_TEXT, VARIABLES, k=3)


def test_scoring_is_a_column_expression_and_nulls_give_null(fitted, spark):
    _, df, _, text = fitted
    scored = text.transform(df)
    plan = scored._jdf.queryExecution().executedPlan().toString()
    assert "EvalPython" not in plan            # no Python UDF (Batch/ArrowEvalPython) on millions of rows
    with_null = df.withColumn("tenure", F.when(F.col("unit_id").endswith("7"), None).otherwise(F.col("tenure")))
    rows = text.transform(with_null).collect()
    assert sum(r["p_churn"] is None for r in rows) == sum(r["unit_id"].endswith("7") for r in rows) > 0
    assert all(r["p_churn"] is not None for r in rows if not r["unit_id"].endswith("7"))


def test_estimator_in_a_pipeline_and_concepts_as_array(fitted):
    pdf, df, _, text = fitted
    estimator = ChurnLogisticRegression(inputCols=VARIABLES, conceptsCol="concepts", k=K, labelCol="churn")
    as_array = df.withColumn("concepts", vector_to_array("concepts"))     # array<double>, as analysts store it
    pipeline_model = Pipeline(stages=[estimator]).fit(as_array)
    np.testing.assert_allclose(pipeline_model.stages[0].getOrDefault("coefficients"),
                               text.logistic.getOrDefault("coefficients"), rtol=1e-10)
    assert pipeline_model.stages[0].summary.n == len(pdf)


def test_concepts_must_be_there_and_long_enough(fitted):
    _, df, *_ = fitted
    with pytest.raises(ValueError, match="holds only 6 concepts"):
        fit_churn_model(df, STRUCTURED_TEXT, VARIABLES, concepts_col="concepts", k=7)
    with pytest.raises(ValueError, match="'loadings' is not a column"):
        fit_churn_model(df, STRUCTURED_TEXT, VARIABLES, concepts_col="loadings", k=3)
    with pytest.raises(ValueError, match="need conceptsCol"):
        ChurnLogisticRegression(inputCols=VARIABLES, k=2).fit(df)


def test_scoring_with_many_concepts_matches_numpy(spark):
    """k = 1000 loadings from a vector: the linear predictor is one expression of 1,000 products
    (as a chain of additions it overflowed Catalyst's recursion on the JVM stack)."""
    from scipy.special import expit

    from churn_spark.modeling.churn_model import ChurnLogisticModel

    rng = np.random.default_rng(5)
    k, n = 1000, 40
    concepts, tenure = rng.standard_normal((n, k)), rng.standard_normal(n)
    coefficients = rng.standard_normal(1 + k) * 0.05
    model = ChurnLogisticModel(intercept=-1.0, coefficients=coefficients.tolist(), standardErrors=[0.0] * (2 + k))
    for param, value in ((model.inputCols, ["tenure"]), (model.conceptsCol, "concepts"), (model.k, k)):
        model.set(param, value)
    frame = spark.createDataFrame([(i, float(tenure[i]), Vectors.dense(concepts[i].tolist())) for i in range(n)],
                                  ["i", "tenure", "concepts"])
    scored = np.array([r["p_churn"] for r in model.transform(frame).orderBy("i").collect()])
    expected = expit(-1.0 + coefficients[0] * tenure + concepts @ coefficients[1:])
    np.testing.assert_allclose(scored, expected, rtol=1e-12)
