"""spark-submit entry point: the smoke job (write, read, overwrite, time travel)."""

import sys

from churn_spark.app.cli import main

if __name__ == "__main__":
    sys.exit(main(["smoke", *sys.argv[1:]]))
