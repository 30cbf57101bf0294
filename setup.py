"""churn-spark: churn prediction from call-center emails and marketing data on Spark.

Dependencies are pinned so that a fresh clone installs the same stack from PyPI alone.
"""

from setuptools import find_packages, setup

INSTALL_REQUIRES = [
    "pyspark==4.2.0",
    "delta-spark==4.4.0",  # the Python API of the jars in jars/pom.xml: the same version
    "pyarrow==26.0.1",
    "pandas==2.3.3",  # PySpark 4.2 does not fully support pandas >= 3
    "numpy==2.4.6",
    "scipy==1.17.1",
    "jieba==0.42.1",
    "rjieba==0.2.2",
    "opencc-python-reimplemented==0.1.7",
    "PyYAML==6.0.3",
    "matplotlib==3.11.2",
]

# a Spark Connect client (SparkSession.builder.remote): pyspark's own "connect" extra, pinned
CONNECT_REQUIRES = [
    "grpcio==1.85.3",
    "grpcio-status==1.85.3",
    "googleapis-common-protos==1.76.0",
    "zstandard==0.25.0",
]

EXTRAS_REQUIRE = {
    "connect": CONNECT_REQUIRES,
    # independent references and tooling for tests and benchmarks
    "dev": [
        "pytest==9.2.0",
        "ruff==0.17.6",
        "scikit-learn==1.9.1",
        "deltalake==1.6.6",  # delta-rs: a reader without Spark, proves the tables are plain Delta
        "statsmodels==0.15.0",
        "venv-pack==0.2.0",  # packs the executors' Python environment (make package)
        *CONNECT_REQUIRES,  # the suite runs the pipeline through a Spark Connect server too
    ],
}

setup(
    name="churn-spark",
    version="0.1.0",
    description="Churn prediction from call-center emails (LSI) and marketing data, on Spark and Delta",
    python_requires=">=3.10",
    # conf/ ships inside the wheel as churn_spark/conf: the defaults a cluster driver falls back to
    packages=find_packages(include=["churn_spark", "churn_spark.*"]) + ["churn_spark.conf"],
    package_dir={"churn_spark.conf": "conf"},
    package_data={"churn_spark": ["py.typed"],
                  "churn_spark.conf": ["*.yaml", "*.properties", "dict/*.txt"],
                  "churn_spark.synth": ["data/*"]},  # the email generator's vocabulary
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    entry_points={"console_scripts": ["churn-spark=churn_spark.app.cli:main"]},
)
