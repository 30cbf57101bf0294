"""spark-submit entry point: an experiment on the tables of a finished pipeline.

    spark-submit jobs/experiment.py add-non-emailers [-c OVERLAY ...] [--conf section.key=value ...] [--warehouse DIR]
"""

import sys

from churn_spark.app.cli import main

if __name__ == "__main__":
    sys.exit(main(["experiment", *sys.argv[1:]]))
