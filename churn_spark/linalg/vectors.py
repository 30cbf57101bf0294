"""Spark ML vectors as Arrow arrays and scipy matrices, and the size of a vector column.

Spark ships a ``VectorUDT`` value to Python (``mapInArrow``) as its stored struct
``(type int8, size int32, indices list<int32>, values list<double>)``: type 0 is sparse
(``size`` columns, entries at ``indices``), type 1 dense (entry j at column j, no indices).
These are the project's one conversion between that struct and numpy/scipy.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def arrow_vectors_to_csr(vectors: pa.Array, n_cols: int | None = None) -> tuple[sp.csr_matrix, np.ndarray]:
    """A batch of Spark ML vectors (their Arrow struct ``type,size,indices,values``) as CSR.

    Sparse (type 0) and dense (type 1) vectors may be mixed. Returns the matrix and a
    boolean mask of null rows (which become empty rows). Every non-null vector must have
    the same size, ``n_cols`` when given.
    """
    if isinstance(vectors, pa.ChunkedArray):
        vectors = vectors.combine_chunks()
    kind, size, indices, values = vectors.flatten()  # respects slicing and null parents
    n = len(vectors)
    nulls = vectors.is_null().to_numpy(zero_copy_only=False)
    lengths = pc.list_value_length(values).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    data = pc.list_flatten(values).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    is_dense = kind.fill_null(0).to_numpy(zero_copy_only=False) == 1
    sparse_indices = pc.list_flatten(indices).to_numpy(zero_copy_only=False)
    if is_dense.any():
        # dense vectors carry no indices: their entry j sits at column j
        row_of_entry = np.repeat(np.arange(n), lengths)
        dense_entry = is_dense[row_of_entry]
        col_indices = np.empty(len(data), dtype=np.int64)
        col_indices[~dense_entry] = sparse_indices
        col_indices[dense_entry] = (np.arange(len(data)) - indptr[row_of_entry])[dense_entry]
    else:
        col_indices = sparse_indices.astype(np.int64, copy=False)
    row_sizes = np.where(is_dense, lengths, size.fill_null(0).to_numpy(zero_copy_only=False))[~nulls]
    sizes = np.unique(row_sizes)
    if len(sizes) > 1 or (n_cols is not None and len(sizes) == 1 and sizes[0] != n_cols):
        expected = n_cols if n_cols is not None else int(sizes[0])
        raise ValueError(f"vectors of different sizes {sizes.tolist()} (expected {expected})")
    width = n_cols if n_cols is not None else (int(sizes[0]) if len(sizes) else 0)
    matrix = sp.csr_matrix((data, col_indices, indptr), shape=(n, width))
    return matrix, nulls


def csr_to_arrow_vectors(matrix: sp.csr_matrix) -> pa.StructArray:
    """The rows of a scipy CSR matrix as an Arrow array of Spark ML sparse vectors."""
    matrix = sp.csr_matrix(matrix)
    if not matrix.has_sorted_indices:
        matrix = matrix.sorted_indices()  # Spark requires increasing indices
    n, width = matrix.shape
    offsets = pa.array(matrix.indptr.astype(np.int32), pa.int32())
    return pa.StructArray.from_arrays(
        [
            pa.array(np.zeros(n, dtype=np.int8), pa.int8()),
            pa.array(np.full(n, width, dtype=np.int32), pa.int32()),
            pa.ListArray.from_arrays(offsets, pa.array(matrix.indices.astype(np.int32), pa.int32())),
            pa.ListArray.from_arrays(offsets, pa.array(matrix.data.astype(np.float64), pa.float64())),
        ],
        names=["type", "size", "indices", "values"],
    )


def vector_size(df: DataFrame, col: str, compute: bool = True) -> int | None:
    """Size of a vector (or array) column from its ML attribute metadata, else (``compute``) its first row."""
    attrs = df.schema[col].metadata.get("ml_attr", {})
    if "num_attrs" in attrs:
        return int(attrs["num_attrs"])
    if not compute:
        return None
    first = df.select(col).where(F.col(col).isNotNull()).first()
    if first is None:
        raise ValueError(f"column {col!r} has no vectors")
    value = first[0]
    return len(value) if isinstance(value, list) else int(value.size)
