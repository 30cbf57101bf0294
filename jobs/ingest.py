"""spark-submit entry point: load your own emails and observations (docs/data_contract.md).

    spark-submit jobs/ingest.py [-c OVERLAY ...] [--conf section.key=value ...] [--warehouse DIR]
"""

import sys

from churn_spark.app.cli import main

if __name__ == "__main__":
    sys.exit(main(["ingest", *sys.argv[1:]]))
