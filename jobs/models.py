"""spark-submit entry point: fit the structured and structured + text models.

    spark-submit jobs/models.py [-c OVERLAY ...] [--conf section.key=value ...] [--warehouse DIR]
"""

import sys

from churn_spark.app.cli import main

if __name__ == "__main__":
    sys.exit(main(["models", *sys.argv[1:]]))
