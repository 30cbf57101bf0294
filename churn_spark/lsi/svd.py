"""Distributed truncated SVD of a tall sparse matrix held as a Spark ML vector column.

The matrix ``A`` (``n_rows x n_cols``; in this project rows = units, columns = terms) is a
DataFrame column of ``VectorUDT`` values, one row of ``A`` per DataFrame row. Both methods
return the ``k`` largest singular values ``s`` and the right singular vectors ``V``
(``n_cols x k``) of the *uncentred* matrix, ``A ≈ U_k diag(s_k) V_kᵀ``. LSI is a plain SVD:
centring would make the sparse matrix dense, and the fold-in ``a · V_k · diag(1/s_k)`` is
only the exact left singular vector of a training row for the uncentred decomposition.

Two methods, one result type:

* ``arpack`` — Spark's ``RowMatrix.computeSVD`` (``pyspark.mllib``: classic sessions only, in
  :mod:`churn_spark.classic`): ARPACK's implicitly restarted Lanczos on
  ``AᵀA``, one distributed ``AᵀA v`` product (one Spark job) per Lanczos step. Accurate,
  but several hundred jobs for ``k ≈ 200``; for fewer than 100 columns, or ``k > n_cols / 2``
  on at most 15,000 columns, Spark forms the ``n_cols x n_cols`` Gramian on the driver
  instead.
* ``randomized`` — randomized block Krylov iteration (Musco & Musco 2015, "Randomized
  block Krylov methods for stronger and faster approximate SVD"; the block-Lanczos cousin
  of Halko, Martinsson & Tropp's power iteration) in the row space. The Ritz vectors are
  sought in a Krylov space of dimension ``m = k + oversampling`` built from ``q + 1``
  blocks of width ``b = ⌈m / (q + 1)⌉`` (``q = power_iterations``)::

      W₀ = orth(AᵀA Ω),  Ω ~ N(0, 1)^(n_cols x b)                        pass 1
      Z_j = AᵀA W_j;  W_{j+1} = orth(Z_j − K Kᵀ Z_j),  K = [W₀ … W_j]     passes 2 .. q+2
      G = Kᵀ AᵀA K = [W_iᵀ Z_j];  G = E diag(s²) Eᵀ;  V = K E[:, :k]

  Each pass is one Spark job over the cached rows: every partition multiplies its sparse
  block ``X`` (scipy CSR, one per core) by ``W_j`` (in the pass's closure) and returns
  ``Xᵀ (X W_j)`` (``n_cols x b``), summed on the driver in partition order. It runs on a
  classic and on a Spark Connect session alike (``arpack`` is classic-only). The Rayleigh–Ritz step needs no further
  pass: ``G`` is built from the products already computed (its lower triangle by
  symmetry), and its eigen-decomposition gives ``s²``. That squares the condition number,
  which costs accuracy only for ``s_i / s_1`` near ``√eps ≈ 1e-8`` (far below any concept
  worth keeping; ``rcond`` defaults to 1e-6), whereas a tall-skinny QR of ``A K`` would
  materialise an ``n_rows x m`` intermediate. The driver holds ``K`` (``n_cols x m``; 480
  MB for 40,000 terms and m = 1,500) and ``m x m`` matrices, never anything with one row
  per unit.

  Choice of the shape, measured on synthetic unit-by-term matrices with the flat spectra of
  text (``python -m bench.svd``), relative error of ``s_200`` at k = 200 on 68,000 x 30,000:
  plain subspace iteration (only the last block kept) needed width 400 and 9 passes for
  6e-4 on a smaller matrix; for block Krylov, narrow blocks and more passes beat wide
  blocks at the same dimension m (hence the same flops): m = 800 in 8 blocks of 100 ->
  2e-3, 16 blocks of 50 -> 5e-5, 20 blocks of 40 -> 1e-5. Each pass is one Spark job, so
  blocks of ~50 columns balance job overhead and accuracy. On the generated corpus's own
  matrix (100k emails: 52,368 x 9,651, ``make bench``'s SVD comparison) the largest relative
  error of the top-200 singular values was 6.6e-4 with oversampling 400 in 8 blocks, 3.4e-5
  with 400 in 12, 1.8e-6 with 500 in 12 (2.4e-4 on the top 300) and ~3e-15 with 900 in 16;
  the defaults (k_max = 300, oversampling 500, 12 blocks of 67) are the cheapest of these
  within 1e-3 on the top 300.

Signs are made deterministic (each column of ``V`` has its largest-|loading| entry
positive), so both methods and reruns give the same loadings up to rounding.
"""

from __future__ import annotations

import logging
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import scipy.linalg
import scipy.sparse as sp
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from churn_spark.linalg.blocks import CachedPartitions, cache_partitions, tree_sum_of
from churn_spark.linalg.vectors import arrow_vectors_to_csr
from churn_spark.session import default_parallelism

log = logging.getLogger(__name__)

METHODS = ("randomized", "arpack")


@dataclass(frozen=True)
class SVDResult:
    """The leading singular triplets of ``A`` (without ``U``, which has one row per unit).

    ``singular_values`` (k,) descending; ``term_loadings`` = ``V`` (n_cols, k) with
    orthonormal columns; ``frobenius_norm2`` = ``‖A‖_F² = Σ_ij a_ij²`` = the sum of *all*
    squared singular values, so ``s_i² / frobenius_norm2`` is the share of the matrix's
    total "energy" carried by concept ``i``.
    """

    singular_values: np.ndarray
    term_loadings: np.ndarray
    frobenius_norm2: float
    n_rows: int
    n_cols: int
    method: str



def _csr_partition(batches):
    """mapInArrow body: a partition's vectors -> one row holding them as one pickled CSR matrix."""
    blocks = [arrow_vectors_to_csr(batch.column(0))[0] for batch in batches]
    if blocks:
        matrix = blocks[0] if len(blocks) == 1 else sp.vstack(blocks, format="csr")
        yield pa.RecordBatch.from_pydict(
            {"block": [pickle.dumps(matrix, protocol=5)]}, schema=pa.schema([("block", pa.binary())])
        )


def _unpickled(row: tuple):
    return pickle.loads(row[0])


def row_blocks(df: DataFrame, col: str) -> CachedPartitions:
    """The vector column as one scipy CSR block per partition, cached in memory.

    Null vectors are left out. Arrow moves the vectors to Python without per-row objects.
    Partitions are coalesced to the default parallelism first (one block per core): every
    pass then ships one partial product per core. The caller unpersists.
    """
    vectors = df.select(col).where(F.col(col).isNotNull())
    cores = default_parallelism(df.sparkSession)
    blobs = vectors.coalesce(cores).mapInArrow(_csr_partition, "block binary")
    return cache_partitions(blobs, _unpickled, storage=StorageLevel.MEMORY_ONLY)


def _block_stats(blocks):
    for block in blocks:
        yield block.shape[0], block.nnz, float(block.data @ block.data), {block.shape[1]}


# ---------------------------------------------------------------------------------------
# Randomized block Krylov SVD
# ---------------------------------------------------------------------------------------


def _orthonormal_new_directions(
    residual: np.ndarray, basis: np.ndarray | None, max_new: int, scale: float
) -> np.ndarray:
    """An orthonormal basis of the part of ``residual`` not in span(``basis``), at most ``max_new`` columns.

    ``residual`` has had ``basis`` projected out once already; projecting once more makes the
    new block orthogonal to working precision (classical Gram–Schmidt, "twice is enough").
    A column-pivoted QR then keeps only the numerically independent directions (pivots above
    ``1e-10 · scale``, ``scale`` the largest column norm before any projection).
    """
    if basis is not None and basis.shape[1]:
        residual = residual - basis @ (basis.T @ residual)
    if scale == 0.0 or max_new <= 0:
        return np.zeros((residual.shape[0], 0))
    q, r, _ = scipy.linalg.qr(residual, mode="economic", pivoting=True)
    independent = int(np.sum(np.abs(np.diag(r)) > 1e-10 * scale))
    return q[:, : min(independent, max_new)]


def _largest_column_norm(matrix: np.ndarray) -> float:
    return float(np.max(np.linalg.norm(matrix, axis=0))) if matrix.size else 0.0


def block_krylov_svd(
    gram_times: Callable[[np.ndarray], np.ndarray],
    n_rows: int,
    n_cols: int,
    k: int,
    oversampling: int,
    power_iterations: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` singular values and right singular vectors from products ``W -> AᵀA W``.

    The algorithm of :func:`randomized_svd`, independent of where ``A`` lives (tests pass a
    local ``gram_times``): a Krylov space of dimension ``k + oversampling`` built from
    ``power_iterations + 1`` blocks of equal width, then Rayleigh–Ritz. Calls ``gram_times``
    ``power_iterations + 2`` times. Returns ``s`` (k,) descending and ``V`` (n_cols, k).
    """
    limit = min(n_rows, n_cols)  # no more independent directions exist
    dimension = min(k + oversampling, limit)
    width = max(1, -(-dimension // (power_iterations + 1)))
    rng = np.random.default_rng(seed)
    start = gram_times(rng.standard_normal((n_cols, width)))
    block = _orthonormal_new_directions(start, None, width, _largest_column_norm(start))
    basis = block
    gram_columns = []  # (first column, Kᵀ AᵀA W_j) for each block W_j of the basis K
    for j in range(power_iterations + 1):
        product = gram_times(block)  # Z_j = AᵀA W_j
        coefficients = basis.T @ product  # column block j of G = KᵀAᵀAK, and the first projection
        gram_columns.append((basis.shape[1] - block.shape[1], coefficients))
        if j == power_iterations:
            break
        max_new = min(width, dimension - basis.shape[1])
        block = _orthonormal_new_directions(
            product - basis @ coefficients, basis, max_new, _largest_column_norm(product)
        )
        if block.shape[1] == 0:  # the space is invariant (or full): nothing new to find
            break
        basis = np.hstack([basis, block])
    size = basis.shape[1]
    gram = np.zeros((size, size))
    for first, columns in gram_columns:  # G from its upper block triangle, by symmetry
        rows, width_j = columns.shape
        gram[:rows, first : first + width_j] = columns
        gram[first : first + width_j, :rows] = columns.T
    eigenvalues, eigenvectors = np.linalg.eigh((gram + gram.T) / 2)
    order = np.argsort(eigenvalues)[::-1][:k]
    singular_values = np.sqrt(np.clip(eigenvalues[order], 0.0, None))
    return singular_values, basis @ eigenvectors[:, order]


class _DistributedGramTimes:
    """``W -> AᵀA W`` as one Spark job: ``W`` in the closure, ``Xᵀ(X W)`` per partition, summed.

    Counts the passes and the seconds spent in them (the rest of the time is the driver's).
    """

    def __init__(self, blocks: CachedPartitions) -> None:
        self.blocks = blocks
        self.passes = 0
        self.seconds = 0.0

    def __call__(self, basis: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        basis = np.ascontiguousarray(basis)

        def partial(blocks):
            for block in blocks:
                yield block.T @ (block @ basis)

        try:
            return tree_sum_of(self.blocks, partial)
        finally:
            self.passes += 1
            self.seconds += time.perf_counter() - start
            log.debug("pass %d (width %d): %.1f s", self.passes, basis.shape[1], time.perf_counter() - start)


def randomized_svd(
    df: DataFrame,
    col: str,
    k: int,
    oversampling: int = 500,
    power_iterations: int = 11,
    seed: int = 0,
    rcond: float = 1e-6,
) -> SVDResult:
    """Top-``k`` SVD of the vector column ``col`` by randomized block Krylov iteration.

    The Krylov space has ``k + oversampling`` directions in ``power_iterations + 1`` blocks;
    ``power_iterations + 2`` passes over the cached rows, plus one for the row count and
    ``‖A‖_F²`` (see the module docstring). ``k`` is clamped to ``min(n_rows, n_cols)`` and
    to the numerical rank (``s > rcond · s_1``), with a warning.
    """
    start = time.perf_counter()
    blocks = row_blocks(df, col)
    try:
        stats = blocks.collect(_block_stats)
        if not stats:
            raise ValueError("cannot compute an SVD of a matrix without rows")
        n_rows, nnz = sum(s[0] for s in stats), sum(s[1] for s in stats)
        frobenius2, widths = sum(s[2] for s in stats), set().union(*(s[3] for s in stats))
        if len(widths) != 1:
            raise ValueError(f"column {col!r} holds vectors of different sizes {sorted(widths)}")
        n_cols = widths.pop()
        k_eff = _clamp_k(k, n_rows, n_cols)
        loaded = time.perf_counter()
        gram_times = _DistributedGramTimes(blocks)
        s, loadings = block_krylov_svd(gram_times, n_rows, n_cols, k_eff, oversampling, power_iterations, seed)
    finally:
        blocks.unpersist()
    s, loadings = _keep_numerical_rank(s, loadings, rcond, k_eff)
    total = time.perf_counter() - start
    log.info(
        "randomized SVD of %d x %d (nnz %d): %d concepts, Krylov space %d in %d blocks; %.1f s = "
        "%.1f s loading rows + %d passes %.1f s + driver %.1f s",
        n_rows,
        n_cols,
        nnz,
        len(s),
        min(k_eff + oversampling, n_rows, n_cols),
        power_iterations + 1,
        total,
        loaded - start,
        gram_times.passes,
        gram_times.seconds,
        total - (loaded - start) - gram_times.seconds,
    )
    return SVDResult(s, fix_signs(loadings), frobenius2, n_rows, n_cols, "randomized")


# ---------------------------------------------------------------------------------------
# ARPACK through RowMatrix.computeSVD
# ---------------------------------------------------------------------------------------


def arpack_svd(df: DataFrame, col: str, k: int, rcond: float = 1e-6) -> SVDResult:
    """Top-``k`` SVD of the vector column ``col`` with ``RowMatrix.computeSVD`` (ARPACK).

    Classic sessions only (:func:`churn_spark.classic.arpack_svd_arrays`).
    """
    from churn_spark.classic import arpack_svd_arrays

    s, loadings, frobenius2, n_rows, n_cols, k_eff = arpack_svd_arrays(
        df, col, lambda rows, cols: _clamp_k(k, rows, cols), rcond)
    s, loadings = _keep_numerical_rank(s, loadings, rcond, k_eff)
    log.info("ARPACK SVD: %d x %d, k=%d", n_rows, n_cols, len(s))
    return SVDResult(s, fix_signs(loadings), frobenius2, n_rows, n_cols, "arpack")


# ---------------------------------------------------------------------------------------
# Shared pieces
# ---------------------------------------------------------------------------------------


def _clamp_k(k: int, n_rows: int, n_cols: int) -> int:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if n_rows == 0:
        raise ValueError("cannot compute an SVD of a matrix without rows")
    bound = min(n_rows, n_cols)
    if k > bound:
        log.warning("k=%d exceeds min(rows=%d, columns=%d); keeping %d concepts", k, n_rows, n_cols, bound)
        return bound
    return k


def _keep_numerical_rank(s: np.ndarray, loadings: np.ndarray, rcond: float, wanted: int):
    """Drop singular values at or below ``rcond · s_1``: their vectors are noise and 1/s explodes."""
    keep = int(np.sum(s > rcond * s[0])) if len(s) and s[0] > 0 else 0
    if keep == 0:
        raise ValueError("the matrix is numerically zero: no concept can be computed")
    if keep < wanted:
        log.warning("numerical rank %d < k=%d; keeping %d concepts", keep, wanted, keep)
    return s[:keep].copy(), np.ascontiguousarray(loadings[:, :keep])


def fix_signs(loadings: np.ndarray) -> np.ndarray:
    """Flip each column so that its largest-|value| entry is positive (deterministic signs)."""
    rows = np.argmax(np.abs(loadings), axis=0)
    signs = np.sign(loadings[rows, np.arange(loadings.shape[1])])
    signs[signs == 0] = 1.0
    return loadings * signs


def compute_svd(
    df: DataFrame,
    col: str,
    k: int,
    method: str = "randomized",
    *,
    oversampling: int = 500,
    power_iterations: int = 11,
    seed: int = 0,
    rcond: float = 1e-6,
) -> SVDResult:
    """Dispatch to :func:`randomized_svd` or :func:`arpack_svd` by ``method``."""
    if method == "randomized":
        return randomized_svd(df, col, k, oversampling, power_iterations, seed, rcond)
    if method == "arpack":
        return arpack_svd(df, col, k, rcond)
    raise ValueError(f"unknown SVD method {method!r}; expected one of {METHODS}")
