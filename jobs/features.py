"""spark-submit entry point: Appendix C marketing variables per renewal point -> observations.

    spark-submit jobs/features.py [-c OVERLAY ...] [--conf section.key=value ...] [--warehouse DIR]
"""

import sys

from churn_spark.app.cli import main

if __name__ == "__main__":
    sys.exit(main(["features", *sys.argv[1:]]))
