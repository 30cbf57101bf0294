"""The Delta Lake jars: the version Maven fetches is the Python package's, and a missing folder is named."""

from __future__ import annotations

import importlib.metadata
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from churn_spark.session import CHECKOUT_JARS, DeltaJarsMissing, delta_jars

POM = Path(__file__).resolve().parents[2] / "jars" / "pom.xml"


def test_the_jars_pom_asks_for_the_version_of_the_pinned_python_package():
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    root = ET.parse(POM).getroot()
    version = root.find("m:properties/m:delta.version", ns).text
    assert version == importlib.metadata.version("delta-spark")
    artifacts = {d.find("m:artifactId", ns).text for d in root.findall("m:dependencies/m:dependency", ns)}
    assert artifacts == {"delta-spark_2.13", "delta-storage"}
    assert POM.parent / "lib" == CHECKOUT_JARS


def test_a_folder_without_the_jars_is_named_with_the_way_to_fill_it(tmp_path):
    (tmp_path / "other.jar").write_bytes(b"")
    with pytest.raises(DeltaJarsMissing, match=f"no Delta Lake jars in {tmp_path}: run 'make jars'"):
        delta_jars(tmp_path)
    (tmp_path / "delta-spark_2.13-4.4.0.jar").write_bytes(b"")
    assert [Path(j).name for j in delta_jars(tmp_path)] == ["delta-spark_2.13-4.4.0.jar", "other.jar"]
