"""Scoring a model's predictions: the exact AUC, its confidence interval, DeLong's test, lift, ROC and lift curves.

* :mod:`churn_spark.evaluation.auc` — the one exact AUC (Mann-Whitney, ties counted half);
* :mod:`churn_spark.evaluation.metrics` — ``evaluate``: Table 4, DeLong, decile and cumulative lift, ROC.

Numbers only: the report and its charts are the application's (:mod:`churn_spark.app.report`). The k
search (:mod:`churn_spark.modeling.kselect`) scores its folds with the AUC from here.
"""
