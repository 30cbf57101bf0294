"""Configuration: defaults are the schema; overlays and overrides are validated at start-up."""

from __future__ import annotations

import pytest

from churn_spark.config import ConfigError, load_config


def test_defaults_overlay_and_override_merge_in_order(tmp_path):
    overlay = tmp_path / "mine.yaml"
    overlay.write_text("spark:\n  shuffle_partitions: 16\nrun:\n  seed: 5\n")
    cfg = load_config([str(overlay)], ["run.seed=9", "spark.conf.spark.executor.memory=2g"])
    assert cfg.spark.shuffle_partitions == 16          # from the overlay
    assert cfg.run.seed == 9                           # the override wins over the overlay
    assert cfg.spark.conf == {"spark.executor.memory": "2g"}  # dotted Spark keys stay whole
    assert cfg["spark.app_name"] == "churn-spark"      # untouched default
    assert load_config(["local"]).spark.master == "local[*]"  # bare names resolve in conf/


def test_unknown_key_fails_naming_it(tmp_path):
    with pytest.raises(ConfigError, match="run.sede"):
        load_config([], ["run.sede=3"])
    overlay = tmp_path / "typo.yaml"
    overlay.write_text("sprak:\n  master: local[1]\n")
    with pytest.raises(ConfigError, match="'sprak'.*typo.yaml"):
        load_config([str(overlay)])


@pytest.mark.parametrize("item, key", [("run.seed=abc", "run.seed"),
                                       ("spark.shuffle_partitions=2.5", "spark.shuffle_partitions"),
                                       ("run.test_share=yes", "run.test_share"),
                                       ("spark=3", "spark")])
def test_wrong_type_fails_naming_the_key(item, key):
    with pytest.raises(ConfigError, match=key):
        load_config([], [item])


def test_int_is_accepted_for_a_float_key():
    assert load_config([], ["run.test_share=1"]).run.test_share == 1.0


def test_missing_overlay_is_an_error():
    with pytest.raises(ConfigError, match="not found"):
        load_config(["no-such-overlay"])
