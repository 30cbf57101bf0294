"""Latent semantic indexing of the unit-by-term matrix and the choice of k (paper, Appendix B).

* :mod:`churn_spark.lsi.svd` — distributed truncated SVD (randomized block method or ARPACK);
* :mod:`churn_spark.lsi.model` — the ``LatentSemanticIndexing`` estimator, its fold-in model
  and the analyst tables (concepts, term loadings, unit concepts);
* :mod:`churn_spark.lsi.kselect` — ``ConceptSlicer``, ``select_k`` by cross-validated AUC and
  the Fig. 4 plot.
"""

from churn_spark.lsi.kselect import (
    ConceptSlicer,
    KScore,
    KSelection,
    plot_k_selection,
    select_k,
    summarize_k,
)
from churn_spark.lsi.model import (
    LatentSemanticIndexing,
    LatentSemanticIndexingModel,
    concepts_frame,
    terms_frame,
    unit_concepts_frame,
)
from churn_spark.lsi.svd import SVDResult, arpack_svd, compute_svd, randomized_svd

__all__ = [
    "ConceptSlicer",
    "KScore",
    "KSelection",
    "LatentSemanticIndexing",
    "LatentSemanticIndexingModel",
    "SVDResult",
    "arpack_svd",
    "compute_svd",
    "concepts_frame",
    "plot_k_selection",
    "randomized_svd",
    "select_k",
    "summarize_k",
    "terms_frame",
    "unit_concepts_frame",
]
