"""spark-submit entry point: score the units without a label -> churn_scores.

    spark-submit jobs/score.py [-c OVERLAY ...] [--conf section.key=value ...] [--warehouse DIR]
"""

import sys

from churn_spark.app.cli import main

if __name__ == "__main__":
    sys.exit(main(["score", *sys.argv[1:]]))
