"""spark-submit entry point: AUC, DeLong test, lift, curves, report and summary.json.

    spark-submit jobs/evaluate.py [-c OVERLAY ...] [--conf section.key=value ...] [--warehouse DIR]
"""

import sys

from churn_spark.app.cli import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
