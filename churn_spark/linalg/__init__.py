"""Numerical building blocks shared by the text, LSI and modelling layers.

* :mod:`churn_spark.linalg.blocks` — rows cached as float64 numpy blocks on the executors, and
  the one distributed pass (per-block partial sums, tree-reduced);
* :mod:`churn_spark.linalg.vectors` — Spark ML vectors <-> Arrow / scipy conversion, vector sizes;
* :mod:`churn_spark.linalg.logistic` — the one batched Newton-Raphson logistic engine.

Nothing here knows about tables, stages or the CLI.
"""
