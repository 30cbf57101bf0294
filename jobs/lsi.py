"""spark-submit entry point: SVD of the unit-by-term matrix and fold-in of every unit.

    spark-submit jobs/lsi.py [-c OVERLAY ...] [--conf section.key=value ...] [--warehouse DIR]
"""

import sys

from churn_spark.app.cli import main

if __name__ == "__main__":
    sys.exit(main(["lsi", *sys.argv[1:]]))
