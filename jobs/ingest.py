"""spark-submit entry point: load your own emails and observations (DATA_CONTRACT) into the tables."""

import sys

from churn_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["ingest", *sys.argv[1:]]))
