"""churn-spark: churn prediction from call-center emails and marketing data.

Implements Coussement & Van den Poel (2008) on Spark and Delta Lake.
"""

__version__ = "0.1.0"
