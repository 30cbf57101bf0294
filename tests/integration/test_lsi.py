"""LSI: distributed SVD (randomized, ARPACK) against numpy/scipy, fold-in, persistence, tables."""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa
import pytest
import scipy.linalg
import scipy.sparse as sp
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.linalg import Vectors, VectorUDT
from pyspark.sql.types import IntegerType, StructField, StructType

from churn_spark.linalg.vectors import arrow_vectors_to_csr, csr_to_arrow_vectors
from churn_spark.lsi import (
    LatentSemanticIndexing,
    LatentSemanticIndexingModel,
    concepts_frame,
    terms_frame,
    unit_concepts_frame,
)
from churn_spark.lsi.svd import block_krylov_svd, compute_svd, fix_signs
from churn_spark.modeling.kselect import ConceptSlicer


def _topic_matrix(rows: int, cols: int, topics: int, seed: int) -> np.ndarray:
    """A sparse non-negative unit-by-term-like matrix: every row mixes 2 of ``topics`` sparse
    topics (strengths decaying), plus 5% multiplicative noise on its nonzeros."""
    rng = np.random.default_rng(seed)
    topic_terms = np.zeros((topics, cols))
    for t in range(topics):
        terms = rng.choice(cols, 15, replace=False)
        topic_terms[t, terms] = rng.random(15) + 0.5
    weights = np.zeros((rows, topics))
    for i in range(rows):
        chosen = rng.choice(
            topics, 2, replace=False, p=0.8 ** np.arange(topics) / (0.8 ** np.arange(topics)).sum()
        )
        weights[i, chosen] = rng.random(2) + 0.5
    matrix = weights @ topic_terms
    return matrix * (1.0 + 0.05 * rng.standard_normal(matrix.shape))


def _spectrum_matrix(rows: int, cols: int, seed: int) -> np.ndarray:
    """A dense matrix with singular values 100 · 0.85^j."""
    rng = np.random.default_rng(seed)
    u = np.linalg.qr(rng.standard_normal((rows, cols)))[0]
    v = np.linalg.qr(rng.standard_normal((cols, cols)))[0]
    return (u * (100 * 0.85 ** np.arange(cols))) @ v.T


def _frame(spark, matrix, partitions: int = 3, sparse: bool = True):
    """A DataFrame (id, v) with one vector per row of ``matrix``."""
    dense = np.asarray(matrix.todense() if sp.issparse(matrix) else matrix)
    rows = []
    for i, row in enumerate(dense):
        if sparse:
            nz = np.flatnonzero(row)
            rows.append((i, Vectors.sparse(len(row), nz.tolist(), row[nz].tolist())))
        else:
            rows.append((i, Vectors.dense(row.tolist())))
    return spark.createDataFrame(rows, ["id", "v"]).repartition(partitions)


def _reference(matrix: np.ndarray, k: int):
    """numpy's SVD with the project's sign convention: s, V (cols x k), U = A V / s."""
    _, s, vt = np.linalg.svd(matrix, full_matrices=False)
    v = fix_signs(vt[:k].T)
    return s[:k], v, matrix @ v / s[:k]


def _loadings(frame, col: str = "c") -> np.ndarray:
    rows = frame.orderBy("id").select(col).collect()
    return np.vstack([r[0].toArray() for r in rows])


@pytest.fixture(scope="module")
def sparse_case(spark):
    # 90 columns: below 100, RowMatrix.computeSVD solves the Gramian locally instead of running
    # one ARPACK job per Lanczos step; the ARPACK path itself is exercised by python -m bench.svd
    matrix = _topic_matrix(300, 90, topics=14, seed=1)
    return matrix, _frame(spark, matrix).cache()


# -- conversions and the numerical core (no Spark) ------------------------------------------


def test_arrow_vectors_to_csr_handles_sparse_dense_empty_and_null():
    vectors = pa.array(
        [
            {"type": 0, "size": 4, "indices": [1, 3], "values": [2.0, 5.0]},
            {"type": 1, "size": None, "indices": None, "values": [1.0, 0.0, 3.0, 4.0]},
            None,
            {"type": 0, "size": 4, "indices": [], "values": []},
        ],
        type=pa.struct(
            [
                ("type", pa.int8()),
                ("size", pa.int32()),
                ("indices", pa.list_(pa.int32())),
                ("values", pa.list_(pa.float64())),
            ]
        ),
    )
    matrix, nulls = arrow_vectors_to_csr(vectors.slice(0, 4), 4)
    expected = np.array([[0, 2, 0, 5], [1, 0, 3, 4], [0, 0, 0, 0], [0, 0, 0, 0]], dtype=float)
    np.testing.assert_array_equal(matrix.toarray(), expected)
    assert nulls.tolist() == [False, False, True, False]
    with pytest.raises(ValueError, match="different sizes"):
        arrow_vectors_to_csr(vectors, 5)
    back, _ = arrow_vectors_to_csr(csr_to_arrow_vectors(sp.csr_matrix(expected)))
    np.testing.assert_array_equal(back.toarray(), expected)


def test_block_krylov_core_matches_numpy_and_handles_low_rank():
    matrix = _spectrum_matrix(200, 90, seed=4)
    s_ref, v_ref, _ = _reference(matrix, 10)
    # a Krylov space of 10 + 30 directions in 4 blocks of 10
    s, v = block_krylov_svd(
        lambda q: matrix.T @ (matrix @ q), 200, 90, 10, oversampling=30, power_iterations=3, seed=0
    )
    np.testing.assert_allclose(s, s_ref, rtol=1e-8)
    assert np.degrees(scipy.linalg.subspace_angles(v, v_ref).max()) < 1e-4
    _, again = block_krylov_svd(lambda q: matrix.T @ (matrix @ q), 200, 90, 10, 30, 3, seed=0)
    np.testing.assert_array_equal(fix_signs(again), fix_signs(v))  # same seed, same result
    # rank 3: the Krylov space becomes invariant, only 3 non-zero singular values exist
    rank3 = matrix[:, :3] @ np.random.default_rng(0).standard_normal((3, 90))
    s3, v3 = block_krylov_svd(lambda q: rank3.T @ (rank3 @ q), 200, 90, 8, 12, 3, seed=1)
    np.testing.assert_allclose(s3[:3], np.linalg.svd(rank3, compute_uv=False)[:3], rtol=1e-10)
    assert np.all(s3[3:] < 1e-6 * s3[0])
    np.testing.assert_allclose(v3.T @ v3, np.eye(v3.shape[1]), atol=1e-10)


# -- the distributed SVD ----------------------------------------------------------------------


def test_arpack_matches_numpy_on_sparse_and_dense(spark, sparse_case):
    matrix, frame = sparse_case
    s_ref, v_ref, _ = _reference(matrix, 8)
    result = compute_svd(frame, "v", 8, "arpack")
    np.testing.assert_allclose(result.singular_values, s_ref, rtol=1e-6)
    np.testing.assert_allclose(result.term_loadings, v_ref, atol=1e-6)
    assert result.frobenius_norm2 == pytest.approx(float((matrix**2).sum()), rel=1e-12)
    assert (result.n_rows, result.n_cols) == (300, 90)

    dense = np.random.default_rng(3).standard_normal((40, 12))
    s_dense, v_dense, _ = _reference(dense, 5)
    small = compute_svd(_frame(spark, dense, partitions=2, sparse=False), "v", 5, "arpack")
    np.testing.assert_allclose(small.singular_values, s_dense, rtol=1e-6)
    np.testing.assert_allclose(small.term_loadings, v_dense, atol=1e-6)


def test_randomized_matches_numpy_and_arpack(spark, sparse_case):
    matrix, frame = sparse_case
    s_ref, v_ref, _ = _reference(matrix, 10)
    result = compute_svd(frame, "v", 10, "randomized", oversampling=10, power_iterations=2, seed=5)
    np.testing.assert_allclose(result.singular_values, s_ref, rtol=1e-3)
    angles = scipy.linalg.subspace_angles(result.term_loadings, v_ref)
    assert np.degrees(angles.max()) < 0.5
    # deterministic signs: loadings agree vector by vector with numpy (and so with ARPACK)
    np.testing.assert_allclose(result.term_loadings[:, :6], v_ref[:, :6], atol=1e-4)


def test_k_beyond_rank_or_shape_is_clamped_with_a_warning(spark, caplog):
    rng = np.random.default_rng(7)
    rank2 = np.abs(rng.standard_normal((30, 2))) @ np.abs(rng.standard_normal((2, 8)))
    frame = _frame(spark, rank2, partitions=2)
    with caplog.at_level(logging.WARNING, logger="churn_spark.lsi.svd"):
        result = compute_svd(frame, "v", 20, "randomized", oversampling=4, power_iterations=1)
    assert len(result.singular_values) == 2
    assert "exceeds min(rows=30, columns=8)" in caplog.text and "numerical rank 2 < k=8" in caplog.text
    np.testing.assert_allclose(result.singular_values, np.linalg.svd(rank2, compute_uv=False)[:2], rtol=1e-8)


# -- the estimator / model --------------------------------------------------------------------


def test_fold_in_of_training_rows_is_u_and_empty_units_are_zero(spark, sparse_case):
    matrix, frame = sparse_case
    _, _, u_ref = _reference(matrix, 6)
    model = LatentSemanticIndexing(inputCol="v", outputCol="c", k=6, method="arpack").fit(frame)
    np.testing.assert_allclose(_loadings(model.transform(frame)), u_ref, atol=1e-6)

    schema = StructType([StructField("id", IntegerType()), StructField("v", VectorUDT())])
    new_units = spark.createDataFrame(
        [(0, Vectors.sparse(90, [], [])), (1, Vectors.sparse(90, [3, 50], [1.0, 2.0])), (2, None)], schema
    )
    out = model.transform(new_units).orderBy("id").collect()
    assert out[0]["c"].toArray().tolist() == [0.0] * 6
    expected = (2.0 * model.termLoadings[50] + model.termLoadings[3]) / model.singularValues
    np.testing.assert_allclose(out[1]["c"].toArray(), expected, rtol=1e-12)
    assert out[2]["c"] is None
    assert model.transform(new_units).schema["c"].metadata == {"ml_attr": {"num_attrs": 6}}


def test_model_save_load_gives_identical_projections_in_a_pipeline(spark, sparse_case, tmp_path):
    _, frame = sparse_case
    lsi = LatentSemanticIndexing(inputCol="v", outputCol="c", k=5, method="randomized", seed=3)
    pipeline = Pipeline(stages=[lsi, ConceptSlicer(inputCol="c", outputCol="c3", k=3)]).fit(frame)
    pipeline.write().overwrite().save(str(tmp_path / "pipeline"))
    reloaded = PipelineModel.load(str(tmp_path / "pipeline"))
    model, loaded = pipeline.stages[0], reloaded.stages[0]
    assert isinstance(loaded, LatentSemanticIndexingModel)
    assert (loaded.getInputCol(), loaded.getOutputCol(), loaded.getK(), loaded.numConcepts) == (
        "v",
        "c",
        5,
        5,
    )
    assert (loaded.frobeniusNorm2, loaded.numUnits, loaded.svdMethod) == (
        model.frobeniusNorm2,
        300,
        "randomized",
    )
    np.testing.assert_array_equal(loaded.singularValues, model.singularValues)
    np.testing.assert_array_equal(loaded.termLoadings, model.termLoadings)
    before, after = pipeline.transform(frame), reloaded.transform(frame)
    np.testing.assert_array_equal(_loadings(after, "c"), _loadings(before, "c"))
    np.testing.assert_array_equal(_loadings(after, "c3"), _loadings(before, "c")[:, :3])


def test_concepts_terms_and_unit_concepts_frames(spark, sparse_case):
    matrix, frame = sparse_case
    model = LatentSemanticIndexing(inputCol="v", outputCol="c", k=4).fit(frame)
    vocabulary = spark.createDataFrame([(i, f"term{i}") for i in range(90)], "term_id int, term string")

    concepts = concepts_frame(model, vocabulary, top_n=3).orderBy("concept").collect()
    s = np.linalg.svd(matrix, compute_uv=False)
    assert [r["concept"] for r in concepts] == [0, 1, 2, 3]
    np.testing.assert_allclose([r["explained_var"] for r in concepts], s[:4] ** 2 / (s**2).sum(), rtol=1e-6)
    first_top = np.argsort(-np.abs(model.termLoadings[:, 0]))[:3]
    assert concepts[0]["top_terms"] == [f"term{i}" for i in first_top]

    terms = terms_frame(model, top_n=5).toPandas()
    assert len(terms) == 4 * 5 and set(terms.columns) == {"term_id", "concept", "loading"}
    for row in terms.itertuples():
        assert row.loading == model.termLoadings[row.term_id, row.concept]
    assert terms_frame(model, top_n=0).count() == 90 * 4

    units = unit_concepts_frame(model, frame.withColumnRenamed("id", "unit_id"))
    assert units.schema["concepts"].dataType.simpleString() == "array<double>"
    assert units.count() == 300


# -- the fold-in formed where numeric blocks are built ----------------------------------------


def test_blocks_fold_in_term_vectors_as_the_model_does(spark, sparse_case):
    """``Projected``: the blocks hold ``v · V_k Σ_k⁻¹`` of each term vector (a null vector: NaNs),
    equal to the model's own fold-in; only the vectors cross from the JVM."""
    from pyspark.sql import functions as F

    from churn_spark.linalg.blocks import MatrixBlocks

    matrix, frame = sparse_case
    model = LatentSemanticIndexing(inputCol="v", outputCol="c", k=6).fit(frame)
    with_null = frame.withColumn("v", F.when(F.col("id") != 7, F.col("v")))
    blocks = MatrixBlocks(with_null.select(F.col("id").cast("double"), "v"), ["id", "v"],
                          projected={"v": model.fold_in_projection(4)}, rows_per_block=37)
    rows = np.vstack([part.reshape(-1, 5) for part in blocks.partials(lambda block: block.ravel())])
    rows = rows[np.argsort(rows[:, 0])]
    blocks.unpersist()
    expected = model.foldIn(matrix)[:, :4]
    assert blocks.width == 5 and np.isnan(rows[7, 1:]).all()
    keep = np.arange(len(matrix)) != 7
    np.testing.assert_allclose(rows[keep, 1:], expected[keep], rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="k = 7 but the model has 6 concepts"):
        model.fold_in_projection(7)


def test_k_search_and_models_from_term_vectors_equal_those_from_stored_loadings(spark, sparse_case):
    """The k search and the two churn models fitted on the term vectors with ``fold_in`` give the
    fits of the same calls on the stored fold-in loadings (``unit_concepts``)."""
    from pyspark.sql import functions as F

    from churn_spark.modeling.churn_model import fit_churn_models
    from churn_spark.modeling.newton_cv import newton_cv_fits

    matrix, frame = sparse_case
    model = LatentSemanticIndexing(inputCol="v", outputCol="c", k=6).fit(frame)
    rng = np.random.default_rng(4)
    loadings = model.foldIn(matrix)
    churn = (rng.random(len(matrix)) < 1 / (1 + np.exp(-(-1.0 + 40 * loadings[:, 0])))).astype(int)
    extra = spark.createDataFrame([(i, int(churn[i]), float(rng.standard_normal()), i % 3)
                                   for i in range(len(matrix))], "id int, churn int, tenure double, fold int")
    data = model.fold_in_arrays(frame, "concepts").join(extra, "id")
    from_terms = newton_cv_fits(data, ["tenure"], "v", "churn", "fold", [2, 5], 3, fold_in=model)
    stored = newton_cv_fits(data, ["tenure"], "concepts", "churn", "fold", [2, 5], 3)
    for a, b in zip(stored, from_terms, strict=True):
        assert (a.k, a.fold) == (b.k, b.fold) and b.converged
        np.testing.assert_allclose(b.coef, a.coef, rtol=1e-10)
        assert b.auc == pytest.approx(a.auc, abs=1e-12)

    stored_models = fit_churn_models(data, ["tenure"], "churn", concepts_col="concepts", k=4)
    term_models = fit_churn_models(data.drop("concepts"), ["tenure"], "churn", concepts_col="concepts", k=4,
                                   fold_in=model)
    for name, fitted in stored_models.items():
        np.testing.assert_allclose([r["coefficient"] for r in term_models[name].coefficients],
                                   [r["coefficient"] for r in fitted.coefficients], rtol=1e-10)
    scored = term_models["structured_text"].transform(data)
    assert scored.where(F.col("p_churn").isNull()).count() == 0
