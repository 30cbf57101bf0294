"""spark-submit entry point: number of concepts k by 5-fold cross-validated AUC.

    spark-submit jobs/kselect.py [-c OVERLAY ...] [--conf section.key=value ...] [--warehouse DIR]
"""

import sys

from churn_spark.app.cli import main

if __name__ == "__main__":
    sys.exit(main(["kselect", *sys.argv[1:]]))
