"""spark-submit entry point: clean, segment, weight and sum the emails per unit.

    spark-submit jobs/text.py [-c OVERLAY ...] [--conf section.key=value ...] [--warehouse DIR]
"""

import sys

from churn_spark.app.cli import main

if __name__ == "__main__":
    sys.exit(main(["text", *sys.argv[1:]]))
