"""The analysis units as the unit-level stages read them.

The units of the paper's main study are the labelled units with at least one email in their
window (``has_emails`` in ``doc_vectors``); ``split`` says train or test.
"""

from __future__ import annotations

from pyspark.ml.functions import array_to_vector
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from churn_spark.app.artefacts import artefact_path
from churn_spark.config import Config
from churn_spark.lake.tables import Lake

LABEL = "churn"
CONCEPTS = "concepts"
SCORE_COLS = {"structured": "p_structured", "structured_text": "p_structured_text"}
#: The units the SVD is fitted on: labelled training units with emails (a SQL condition on doc_vectors).
LSI_TRAINING_UNITS = "split = 'train' AND has_emails AND churn IS NOT NULL"


def labelled_units(lake: Lake, split: str | None = None, with_emails: bool | None = True,
                   vectors: bool = False) -> DataFrame:
    """Observations of labelled units with their email flag (and split), joined on unit_id; with
    ``vectors``, also their weighted term vector (``vector``, what the LSI model folds in)."""
    flags = lake.read("doc_vectors").select("unit_id", "has_emails", "n_emails", *(["vector"] if vectors else []))
    units = lake.read("observations").join(flags, "unit_id").where(F.col(LABEL).isNotNull())
    if split is not None:
        units = units.where(F.col("split") == split)
    if with_emails is not None:
        units = units.where(F.col("has_emails") == F.lit(with_emails))
    return units


def with_concepts(lake: Lake, units: DataFrame, *, as_vector: bool = True) -> DataFrame:
    """``units`` plus the ``concepts`` (k_max fold-in loadings) of each unit: a vector, or with
    ``as_vector=False`` the stored ``array<double>`` (for readers that turn it into numpy blocks:
    converting to a vector and back costs ~25 s per million units).

    The size is read from one stored row and set as the column's ML attribute
    (``num_attrs``, as ``VectorAssembler`` does): finding it from the joined rows would
    evaluate the whole join.
    """
    table = lake.read("unit_concepts")
    first = table.select(F.size(CONCEPTS)).first()
    metadata = {"ml_attr": {"num_attrs": int(first[0])}} if first else {}
    concepts = array_to_vector(CONCEPTS) if as_vector else F.col(CONCEPTS)
    return units.join(table.select("unit_id", concepts.alias(CONCEPTS, metadata=metadata)), "unit_id")


def encoded(cfg: Config, units: DataFrame) -> DataFrame:
    """``units`` with the marketing candidates encoded by the saved encoder (the selection stage's)."""
    from churn_spark.modeling.encoding import MarketingEncoderModel
    return MarketingEncoderModel.load(artefact_path(cfg, "encoder")).transform(units)


def selected_variables(lake: Lake) -> list[str]:
    """The marketing variables forward selection entered, in entry order."""
    rows = lake.read("feature_selection").orderBy("step").select("variable").collect()
    return [r.variable for r in rows]


def chosen_k(lake: Lake) -> int:
    """The number of concepts the k search chose."""
    return int(lake.read("k_selection").where("chosen").select("k").first()[0])
