"""spark-submit entry point: compute the observations table (Appendix C variables + label)."""

import sys

from churn_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["features", *sys.argv[1:]]))
