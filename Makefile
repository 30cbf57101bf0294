# churn-spark: every target bootstraps its own virtual environment on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# the Delta Lake jars the embedded Spark session loads (jars/pom.xml), fetched once by Maven
JARS   := jars/lib/.fetched
PY     := $(BIN)/python
CONF   ?=

.PHONY: demo test test-unit bench lint java jars venv clean sql thrift connect package cluster-up cluster-down

demo: $(STAMP) $(JARS)
	$(BIN)/churn-spark demo $(CONF)

test: $(STAMP) $(JARS)
	$(BIN)/ruff check .
	$(BIN)/pytest -q --durations=15 tests

# the tests that start no Spark (about a minute)
test-unit: $(STAMP)
	$(BIN)/pytest -q -m unit tests

bench: $(STAMP) $(JARS)
	$(PY) -m bench $(BENCH_ARGS)

# an interactive SQL shell over the tables of $(WAREHOUSE) (database churn)
WAREHOUSE ?= warehouse
sql: $(STAMP) $(JARS)
	$(BIN)/churn-spark sql --warehouse $(WAREHOUSE) $(CONF)

# Spark's Thrift JDBC/ODBC server on 127.0.0.1:$(PORT) with the tables (Ctrl-C stops it)
PORT ?= 10000
thrift: $(STAMP) $(JARS)
	$(BIN)/churn-spark thrift --warehouse $(WAREHOUSE) --port $(PORT) $(CONF)

# a Spark Connect server for $(WAREHOUSE) on 127.0.0.1:$(CONNECT_PORT) (Ctrl-C stops it); then e.g.
# churn-spark pipeline --remote sc://127.0.0.1:$(CONNECT_PORT) --warehouse $(WAREHOUSE). PORT=... overrides the port
ifeq ($(origin PORT),file)
CONNECT_PORT := 15002
else
CONNECT_PORT := $(PORT)
endif
connect: $(STAMP) $(JARS)
	$(BIN)/churn-spark connect-server --warehouse $(WAREHOUSE) --port $(CONNECT_PORT) $(CONF)

# spark-submit artefacts: the wheel, a packed Python environment for --archives, the Delta jars for --jars
package: $(STAMP) $(JARS)
	$(PY) -m churn_spark.app.cluster package

# a Spark standalone master and two workers on 127.0.0.1 (state and logs in .cluster/)
cluster-up: $(STAMP) $(JARS)
	$(PY) -m churn_spark.app.cluster up

cluster-down: $(STAMP)
	$(PY) -m churn_spark.app.cluster down

lint: $(STAMP)
	$(BIN)/ruff check .

venv: $(STAMP) $(JARS)

jars: $(JARS)

# Maven copies io.delta:delta-spark_2.13 and io.delta:delta-storage into jars/lib (its local
# repository ~/.m2 keeps them too); a second run finds the stamp newer than the pom and does nothing
$(JARS): jars/pom.xml
	@command -v mvn >/dev/null || { echo "churn-spark fetches the Delta Lake jars with Maven: install it (e.g. 'sudo apt-get install maven'), or copy delta-spark_2.13 and delta-storage 4.4.0 into jars/lib and touch jars/lib/.fetched"; exit 1; }
	rm -rf jars/lib
	mvn -q -f jars/pom.xml dependency:copy-dependencies -DoutputDirectory=lib
	touch $(JARS)

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
	rm -rf $(VENV) *.egg-info warehouse spark-warehouse metastore_db derby.log jars/lib
