"""spark-submit entry point: generate the newspaper world (bronze tables).

    spark-submit jobs/generate.py [-c OVERLAY ...] [--conf section.key=value ...] [--warehouse DIR]
"""

import sys

from churn_spark.app.cli import main

if __name__ == "__main__":
    sys.exit(main(["generate", *sys.argv[1:]]))
