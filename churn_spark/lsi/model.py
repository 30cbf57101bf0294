"""Latent semantic indexing as a Spark ML estimator: SVD of the unit-by-term matrix, fold-in.

The paper (Appendix B) decomposes the term-by-document matrix ``A = U Σ Vᵀ`` and keeps the
``k`` largest singular values; the concept loadings of a document are its row of ``V_k``,
and a new document ``a_d`` is *folded in* as ``v_d = a_dᵀ U_k Σ_k⁻¹``. Spark stores the
matrix the other way round (rows = units, columns = terms), so here ``A = U Σ Vᵀ`` has
``U`` (units x k, never materialised) and ``V`` (terms x k, the *term loadings*), and a unit
with term vector ``a`` gets the concept loadings::

    u(a) = a · V_k · Σ_k⁻¹          (1 x k)

For a training row this is exactly its row of ``U_k`` (``A V Σ⁻¹ = U``); for a new unit it
is the least-squares position of ``a`` in the training concept space, so concepts mean the
same at scoring time as at training time. A unit without emails (empty vector) folds in to
zeros. No centring: LSI is a plain SVD (see :mod:`churn_spark.lsi.svd`).

The model keeps ``V`` and ``s`` for ``k_max`` concepts; the leading ``k`` of them are the
rank-``k`` SVD for every ``k ≤ k_max``, so choosing ``k`` only slices the output vector
(:class:`churn_spark.modeling.kselect.ConceptSlicer`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.ml import Estimator, Model
from pyspark.ml.functions import array_to_vector
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasInputCol, HasOutputCol, HasSeed
from pyspark.ml.util import (
    DefaultParamsReadable,
    DefaultParamsReader,
    DefaultParamsWritable,
    DefaultParamsWriter,
    MLReadable,
    MLReader,
    MLWritable,
    MLWriter,
)
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DoubleType, IntegerType, StringType, StructField, StructType

from churn_spark.linalg.blocks import Projected
from churn_spark.linalg.shipped import ShippedArray, ship
from churn_spark.linalg.vectors import arrow_vectors_to_csr
from churn_spark.lsi.svd import (
    METHODS,
    SVDResult,
    compute_svd,
)


class _LSIParams(HasInputCol, HasOutputCol, HasSeed):
    """Params shared by :class:`LatentSemanticIndexing` and its model."""

    k: Param[int] = Param(
        Params._dummy(), "k", "number of concepts k_max to compute (>= 1)", typeConverter=TypeConverters.toInt
    )
    method: Param[str] = Param(
        Params._dummy(), "method", "SVD method: randomized | arpack", typeConverter=TypeConverters.toString
    )
    oversampling: Param[int] = Param(
        Params._dummy(),
        "oversampling",
        "randomized: Krylov space dimension beyond k (the space has k + oversampling directions)",
        typeConverter=TypeConverters.toInt,
    )
    powerIterations: Param[int] = Param(
        Params._dummy(),
        "powerIterations",
        "randomized: Krylov blocks after the first (passes over the rows = this + 2)",
        typeConverter=TypeConverters.toInt,
    )
    rcond: Param[float] = Param(
        Params._dummy(),
        "rcond",
        "singular values <= rcond * s_1 count as zero and are dropped",
        typeConverter=TypeConverters.toFloat,
    )

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(
            inputCol="features",
            outputCol="concepts",
            k=300,
            method="randomized",
            oversampling=500,
            powerIterations=11,
            rcond=1e-6,
            seed=42,
        )

    def getK(self) -> int:
        return self.getOrDefault(self.k)

    def getMethod(self) -> str:
        return self.getOrDefault(self.method)

    def getOversampling(self) -> int:
        return self.getOrDefault(self.oversampling)

    def getPowerIterations(self) -> int:
        return self.getOrDefault(self.powerIterations)

    def getRcond(self) -> float:
        return self.getOrDefault(self.rcond)


class LatentSemanticIndexing(
    Estimator["LatentSemanticIndexingModel"],
    _LSIParams,
    DefaultParamsReadable["LatentSemanticIndexing"],
    DefaultParamsWritable,
):
    """Fit a rank-``k`` LSI (truncated SVD, no centring) on a column of unit term vectors.

    ``inputCol`` holds one sparse vector per unit (columns = term ids); ``k`` is ``k_max``;
    ``method`` is ``randomized`` (a handful of passes; see :mod:`churn_spark.lsi.svd`) or
    ``arpack`` (``RowMatrix.computeSVD``). ``k`` larger than the number of units, terms or the
    numerical rank is clamped with a warning; the model's :attr:`~LatentSemanticIndexingModel.numConcepts`
    says how many concepts were kept.
    """

    def __init__(
        self,
        *,
        inputCol: str = "features",
        outputCol: str = "concepts",
        k: int = 300,
        method: str = "randomized",
        oversampling: int = 500,
        powerIterations: int = 11,
        rcond: float = 1e-6,
        seed: int = 42,
    ) -> None:
        super().__init__()
        self._set(
            inputCol=inputCol,
            outputCol=outputCol,
            k=k,
            method=method,
            oversampling=oversampling,
            powerIterations=powerIterations,
            rcond=rcond,
            seed=seed,
        )

    def setParams(self, **kwargs) -> LatentSemanticIndexing:
        return self._set(**kwargs)

    def setK(self, value: int) -> LatentSemanticIndexing:
        return self._set(k=value)

    def setMethod(self, value: str) -> LatentSemanticIndexing:
        return self._set(method=value)

    def setInputCol(self, value: str) -> LatentSemanticIndexing:
        return self._set(inputCol=value)

    def setOutputCol(self, value: str) -> LatentSemanticIndexing:
        return self._set(outputCol=value)

    def _fit(self, dataset: DataFrame) -> LatentSemanticIndexingModel:
        if self.getMethod() not in METHODS:
            raise ValueError(f"unknown LSI method {self.getMethod()!r}; expected one of {METHODS}")
        result = compute_svd(
            dataset,
            self.getInputCol(),
            self.getK(),
            self.getMethod(),
            oversampling=self.getOversampling(),
            power_iterations=self.getPowerIterations(),
            seed=self.getSeed(),
            rcond=self.getRcond(),
        )
        model = LatentSemanticIndexingModel(result)
        return self._copyValues(model)


class LatentSemanticIndexingModel(Model, _LSIParams, MLReadable["LatentSemanticIndexingModel"], MLWritable):
    """A fitted LSI: term loadings ``V`` (n_terms x k) and singular values ``s`` (k).

    ``transform`` adds ``outputCol``: the dense vector ``a · V · diag(1/s)`` of every unit
    (training or new), computed per Arrow batch as one sparse-by-dense product.
    """

    def __init__(self, svd: SVDResult | None = None) -> None:
        super().__init__()
        self._svd = svd
        self._projection_matrix: np.ndarray | None = None  # V / s, formed once per model

    # -- the learned subspace -----------------------------------------------------------

    @property
    def singularValues(self) -> np.ndarray:
        """``s`` (k,), descending."""
        return self._svd.singular_values

    @property
    def termLoadings(self) -> np.ndarray:
        """``V`` (n_terms, k): column ``j`` is concept ``j`` as a direction in term space."""
        return self._svd.term_loadings

    @property
    def numConcepts(self) -> int:
        return len(self._svd.singular_values)

    @property
    def numTerms(self) -> int:
        return self._svd.n_cols

    @property
    def numUnits(self) -> int:
        """Number of training units (rows of the fitted matrix)."""
        return self._svd.n_rows

    @property
    def frobeniusNorm2(self) -> float:
        """``‖A‖_F²`` of the training matrix = the sum of all its squared singular values."""
        return self._svd.frobenius_norm2

    @property
    def svdMethod(self) -> str:
        return self._svd.method

    def explainedVariance(self) -> np.ndarray:
        """``s_i² / ‖A‖_F²``: each concept's share of the training matrix's total sum of squares.

        The denominator is the Frobenius norm² of the whole (uncentred) matrix, not only of
        the k kept concepts, so the shares sum to the fraction the rank-k LSI reproduces.
        """
        return self.singularValues**2 / self.frobeniusNorm2

    def foldIn(self, rows: np.ndarray) -> np.ndarray:
        """``rows · V · diag(1/s)`` for a local (n, n_terms) array or scipy matrix (tests, debugging)."""
        return np.asarray(rows @ (self.termLoadings / self.singularValues))

    def fold_in_projection(self, k: int | None = None) -> Projected:
        """The first ``k`` (default all) fold-in loadings of ``inputCol`` vectors as a
        :class:`churn_spark.linalg.blocks.Projected`: formed where numeric blocks are built."""
        k = self.numConcepts if k is None else k
        if not 1 <= k <= self.numConcepts:
            raise ValueError(f"k = {k} but the model has {self.numConcepts} concepts")
        return Projected(self._projection(), k)

    # -- transform ----------------------------------------------------------------------

    def _projection(self) -> np.ndarray:
        """``V / s``, which the fold-in functions read on the executors (:func:`churn_spark.linalg.shipped.ship`)."""
        if self._projection_matrix is None:
            self._projection_matrix = np.ascontiguousarray(self.termLoadings / self.singularValues)
        return self._projection_matrix

    def _transform(self, dataset: DataFrame) -> DataFrame:
        out_col = self.getOutputCol()
        scratch = f"_{out_col}_array"
        metadata = {"ml_attr": {"num_attrs": self.numConcepts}}  # lets VectorSlicer/Assembler skip a pass
        return (
            self.fold_in_arrays(dataset, scratch)
            .withColumn(
                out_col, F.when(F.col(scratch).isNotNull(), array_to_vector(scratch)).alias(out_col, metadata=metadata)
            )
            .drop(scratch)
        )

    def fold_in_arrays(self, dataset: DataFrame, out_col: str) -> DataFrame:
        """``dataset`` plus the fold-in ``u(a) = a · V_k · Σ_k⁻¹`` of ``inputCol`` as ``array<double>`` (``out_col``).

        What :meth:`transform` computes, before it becomes a vector: for tables stored as arrays.
        """
        fold_in = _fold_in_batches(ship(dataset.sparkSession, self._projection()), self.numTerms,
                                   self.getInputCol(), out_col)
        schema = StructType([*dataset.schema.fields, StructField(out_col, ArrayType(DoubleType(), False), True)])
        return dataset.mapInArrow(fold_in, schema)

    # -- persistence --------------------------------------------------------------------

    def write(self) -> MLWriter:
        return _LSIModelWriter(self)

    @classmethod
    def read(cls) -> MLReader[LatentSemanticIndexingModel]:
        return _LSIModelReader()


def _fold_in_batches(shipped: ShippedArray, n_terms: int, in_col: str, out_col: str):
    """A ``mapInArrow`` function adding ``A_batch · (V/s)`` to each Arrow batch as ``array<double>``.

    Module-level so that the closure captures only the (shipped) projection, not the model object.
    ``mapInArrow`` rather than an Arrow UDF: Spark 4.2 cannot feed a vector (UDT) column to an
    Arrow UDF in every plan (writes and checkpoints fail on it); the array becomes a vector again on the JVM side.
    """

    def fold_in(batches):
        projection = shipped.value
        for batch in batches:
            rows, nulls = arrow_vectors_to_csr(batch.column(in_col), n_terms)
            dense = np.ascontiguousarray(rows @ projection)
            offsets = pa.array(np.arange(dense.shape[0] + 1, dtype=np.int32) * dense.shape[1], pa.int32())
            mask = pa.array(nulls, pa.bool_()) if nulls is not None and nulls.any() else None
            loadings = pa.ListArray.from_arrays(offsets, pa.array(dense.ravel(), pa.float64()), mask=mask)
            yield batch.append_column(out_col, loadings)

    return fold_in


_DATA_SCHEMA = StructType(
    [
        StructField("concept", IntegerType(), False),
        StructField("singular_value", DoubleType(), False),
        StructField("loadings", ArrayType(DoubleType(), False), False),
    ]
)


class _LSIModelWriter(MLWriter):
    """Params as Spark ML metadata JSON under ``path/metadata``; ``V`` and ``s`` as Parquet
    under ``path/data`` (one row per concept with its column of ``V``), written by Spark so
    that ``path`` may be on HDFS or an object store."""

    def __init__(self, instance: LatentSemanticIndexingModel) -> None:
        super().__init__()
        self.instance = instance

    def saveImpl(self, path: str) -> None:
        model = self.instance
        extra = {
            "numTerms": model.numTerms,
            "numUnits": model.numUnits,
            "frobeniusNorm2": model.frobeniusNorm2,
            "svdMethod": model.svdMethod,
        }
        DefaultParamsWriter.saveMetadata(model, path, self.sparkSession, extraMetadata=extra)
        frame = pd.DataFrame(
            {
                "concept": np.arange(model.numConcepts, dtype=np.int32),
                "singular_value": model.singularValues,
                "loadings": list(np.ascontiguousarray(model.termLoadings.T)),
            }
        )
        data = self.sparkSession.createDataFrame(frame, schema=_DATA_SCHEMA)
        data.coalesce(1).write.parquet(f"{path.rstrip('/')}/data")


class _LSIModelReader(MLReader[LatentSemanticIndexingModel]):
    def load(self, path: str) -> LatentSemanticIndexingModel:
        metadata = DefaultParamsReader.loadMetadata(path, self.sparkSession)
        rows = self.sparkSession.read.parquet(f"{path.rstrip('/')}/data").orderBy("concept").toPandas()
        loadings = np.ascontiguousarray(np.vstack(rows["loadings"].to_numpy()).T)
        svd = SVDResult(
            singular_values=rows["singular_value"].to_numpy(dtype=np.float64),
            term_loadings=loadings,
            frobenius_norm2=float(metadata["frobeniusNorm2"]),
            n_rows=int(metadata["numUnits"]),
            n_cols=int(metadata["numTerms"]),
            method=str(metadata["svdMethod"]),
        )
        model = LatentSemanticIndexingModel(svd)
        model._resetUid(metadata["uid"])
        DefaultParamsReader.getAndSetParams(model, metadata)
        return model


# ---------------------------------------------------------------------------------------
# Tables for analysts (the lead writes them through the lake)
# ---------------------------------------------------------------------------------------


def concepts_frame(model: LatentSemanticIndexingModel, vocabulary_df: DataFrame, top_n: int = 20) -> DataFrame:
    """One row per concept: ``(concept int, singular_value double, explained_var double,
    top_terms array<string>)``.

    ``explained_var`` = ``s_i² / ‖A‖_F²``, the concept's share of the *total* sum of squares
    of the training unit-by-term matrix (all its singular values, not only the k kept).
    ``top_terms`` are the ``top_n`` terms with the largest |loading| in ``V[:, i]``, strongest
    first (after the sign convention the strongest is positive; a concept is bipolar, so
    terms of either sign may appear). ``vocabulary_df`` has ``(term_id int, term string)``,
    ``term_id`` being the column index of the term vectors. Only ``k · top_n`` vocabulary rows
    reach the driver.
    """
    spark = vocabulary_df.sparkSession
    top_ids = _top_term_ids(model.termLoadings, top_n)
    wanted = sorted({int(t) for ids in top_ids for t in ids})
    names = dict(vocabulary_df.where(F.col("term_id").isin(wanted)).select("term_id", "term").collect())
    explained = model.explainedVariance()
    rows = [
        (
            j,
            float(model.singularValues[j]),
            float(explained[j]),
            [names.get(int(t), f"#{int(t)}") for t in top_ids[j]],
        )
        for j in range(model.numConcepts)
    ]
    schema = StructType(
        [
            StructField("concept", IntegerType(), False),
            StructField("singular_value", DoubleType(), False),
            StructField("explained_var", DoubleType(), False),
            StructField("top_terms", ArrayType(StringType(), False), False),
        ]
    )
    return spark.createDataFrame(rows, schema)


def terms_frame(model: LatentSemanticIndexingModel, top_n: int = 100, spark: SparkSession | None = None) -> DataFrame:
    """``(term_id int, concept int, loading double)``: for each concept, its ``top_n`` terms by
    |loading| (``top_n <= 0``: every term, i.e. all of ``V``, n_terms x k rows)."""
    spark = spark or SparkSession.active()
    loadings = model.termLoadings
    if top_n <= 0 or top_n >= loadings.shape[0]:
        term_ids = np.tile(np.arange(loadings.shape[0]), (model.numConcepts, 1))
    else:
        term_ids = _top_term_ids(loadings, top_n)
    concepts = np.repeat(np.arange(model.numConcepts), term_ids.shape[1])
    frame = pd.DataFrame(
        {
            "term_id": term_ids.ravel().astype(np.int32),
            "concept": concepts.astype(np.int32),
            "loading": loadings[term_ids.ravel(), concepts],
        }
    )
    schema = StructType(
        [
            StructField("term_id", IntegerType(), False),
            StructField("concept", IntegerType(), False),
            StructField("loading", DoubleType(), False),
        ]
    )
    return spark.createDataFrame(frame, schema)


def _top_term_ids(loadings: np.ndarray, top_n: int) -> np.ndarray:
    """(k, top_n) term ids per concept by descending |loading| (ties broken by term id)."""
    top_n = min(top_n, loadings.shape[0])
    order = np.argsort(-np.abs(loadings), axis=0, kind="stable")[:top_n]
    return order.T


def unit_concepts_frame(
    model: LatentSemanticIndexingModel,
    units_df: DataFrame,
    id_col: str = "unit_id",
    out_col: str = "concepts",
) -> DataFrame:
    """``(id_col, out_col array<double>)``: every unit's k_max concept loadings (fold-in), as a
    plain array so that SQL users and any Delta reader can query them."""
    return model.fold_in_arrays(units_df.select(id_col, model.getInputCol()), out_col)
