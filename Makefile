# churn-spark: every target bootstraps its own virtual environment on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PY     := $(BIN)/python
CONF   ?=

.PHONY: demo test test-unit bench lint java venv clean sql thrift package cluster-up cluster-down

demo: $(STAMP)
	$(BIN)/churn-spark demo $(CONF)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -q tests

# the tests that start no Spark (about a minute)
test-unit: $(STAMP)
	$(BIN)/pytest -q -m unit tests

bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS)

# an interactive SQL shell over the tables of $(WAREHOUSE) (database churn)
WAREHOUSE ?= warehouse
sql: $(STAMP)
	$(BIN)/churn-spark sql --warehouse $(WAREHOUSE) $(CONF)

# Spark's Thrift JDBC/ODBC server on 127.0.0.1:$(PORT) with the tables (Ctrl-C stops it)
PORT ?= 10000
thrift: $(STAMP)
	$(BIN)/churn-spark thrift --warehouse $(WAREHOUSE) --port $(PORT) $(CONF)

# spark-submit artefacts: the wheel and a packed Python environment for --archives
package: $(STAMP)
	$(PY) -m churn_spark.app.cluster package

# a Spark standalone master and two workers on 127.0.0.1 (state and logs in .cluster/)
cluster-up: $(STAMP)
	$(PY) -m churn_spark.app.cluster up

cluster-down: $(STAMP)
	$(PY) -m churn_spark.app.cluster down

lint: $(STAMP)
	$(BIN)/ruff check .

venv: $(STAMP)

# Java is needed by Spark; fail early with a useful message instead of a JVM stack trace.
java:
	@$(PYTHON) -c "import churn_spark" 2>/dev/null; \
	v=$$(java -version 2>&1 | awk -F'"' '/version/ {print $$2}' | cut -d. -f1); \
	if [ -z "$$v" ] || [ "$$v" -lt 17 ] 2>/dev/null; then \
	  echo "churn-spark needs Java 17 or newer (found: $${v:-none})."; \
	  echo "Install one, e.g. 'sudo apt-get install openjdk-17-jre-headless' (Debian/Ubuntu)"; \
	  echo "or 'brew install openjdk@17' (macOS), then set JAVA_HOME or put java on PATH."; \
	  exit 1; \
	fi

$(STAMP): setup.py | java
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) *.egg-info warehouse spark-warehouse metastore_db derby.log
