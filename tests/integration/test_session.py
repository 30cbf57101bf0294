"""The embedded session's driver JVM is started with the project's JVM options."""

from __future__ import annotations

from churn_spark.session import LOCAL_JVM_OPTIONS


def test_embedded_driver_jvm_retries_allocations_blocked_by_the_gc_locker(spark):
    jvm = spark.sparkContext._jvm
    management = jvm.java.lang.management.ManagementFactory
    arguments = list(management.getRuntimeMXBean().getInputArguments())
    assert set(LOCAL_JVM_OPTIONS) <= set(arguments)
    diagnostic = management.getPlatformMXBean(jvm.java.lang.Class.forName("com.sun.management.HotSpotDiagnosticMXBean"))
    assert diagnostic.getVMOption("GCLockerRetryAllocationCount").getValue() == "100"
    # the log configuration still reaches the JVM beside them
    assert any(a.startswith("-Dlog4j.configurationFile=") for a in arguments)


def test_embedded_session_has_delta_lake_and_its_metastore_inside_the_warehouse(spark, cfg):
    from pathlib import Path

    from churn_spark.session import delta_jars, metastore_dir

    assert spark.conf.get("spark.sql.extensions") == "io.delta.sql.DeltaSparkSessionExtension"
    assert spark.conf.get("spark.sql.catalogImplementation") == "hive"
    assert set(spark.conf.get("spark.jars").split(",")) == set(delta_jars())
    spark.sql("SHOW DATABASES").collect()  # boots the metastore
    assert metastore_dir(cfg) == Path(cfg.run.warehouse).resolve() / "_catalog"
    assert (metastore_dir(cfg) / "metastore_db").is_dir()
    assert spark.conf.get("spark.sql.warehouse.dir").endswith("_catalog/managed")
