"""Latent semantic indexing of the unit-by-term matrix (paper, Appendix B).

* :mod:`churn_spark.lsi.svd` — distributed truncated SVD (randomized block method or ARPACK);
* :mod:`churn_spark.lsi.model` — the ``LatentSemanticIndexing`` estimator, its fold-in model
  and the analyst tables (concepts, term loadings, unit concepts).

The choice of k (cross-validated AUC over the leading concepts) is modelling:
:mod:`churn_spark.modeling.kselect`.
"""

from churn_spark.lsi.model import (
    LatentSemanticIndexing,
    LatentSemanticIndexingModel,
    concepts_frame,
    terms_frame,
    unit_concepts_frame,
)
from churn_spark.lsi.svd import SVDResult, arpack_svd, compute_svd, randomized_svd

__all__ = [
    "LatentSemanticIndexing",
    "LatentSemanticIndexingModel",
    "SVDResult",
    "arpack_svd",
    "compute_svd",
    "concepts_frame",
    "randomized_svd",
    "terms_frame",
    "unit_concepts_frame",
]
