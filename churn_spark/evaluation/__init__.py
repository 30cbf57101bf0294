"""Test-set evaluation: AUC with confidence interval, DeLong, lift, curves, charts and the report.

* :mod:`churn_spark.evaluation.auc` — the one exact AUC (Mann-Whitney, ties counted half);
* :mod:`churn_spark.evaluation.metrics` — ``evaluate``: Table 4, DeLong, ROC and lift curves;
* :mod:`churn_spark.evaluation.report` — ``report.md`` and ``summary.json``.
"""
