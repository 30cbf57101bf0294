"""The churn models: marketing encoding, forward selection, the choice of k, the two logistic models.

* :mod:`churn_spark.modeling.encoding` — ``MarketingEncoder``: candidate columns -> numeric columns;
* :mod:`churn_spark.modeling.selection` — forward selection by score chi-square (Table 3);
* :mod:`churn_spark.modeling.kselect` — k by cross-validated AUC (Fig. 4);
* :mod:`churn_spark.modeling.churn_model` — the structured and structured + text models (Table 4).
"""
