"""The churn models: marketing encoding, forward selection, the choice of k, the two logistic models.

* :mod:`churn_spark.modeling.encoding` — ``MarketingEncoder``: candidate columns -> numeric columns;
* :mod:`churn_spark.modeling.selection` — forward selection by score chi-square (Table 3);
* :mod:`churn_spark.modeling.kselect` — k by cross-validated AUC (Fig. 4);
* :mod:`churn_spark.modeling.newton_cv` — every (k, fold) fit of the k search at once, with the engine's batched Newton;
* :mod:`churn_spark.modeling.churn_model` — the structured and structured + text models (Table 4).

Every logistic fit here goes through the one Newton engine, :mod:`churn_spark.linalg.logistic`.
"""
