"""spark-submit entry point: forward selection of the marketing variables.

    spark-submit jobs/selection.py [-c OVERLAY ...] [--conf section.key=value ...] [--warehouse DIR]
"""

import sys

from churn_spark.app.cli import main

if __name__ == "__main__":
    sys.exit(main(["selection", *sys.argv[1:]]))
