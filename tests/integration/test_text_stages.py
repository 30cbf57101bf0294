"""The text stages as Spark ML stages on a real session: the cleaner and the segmenter on executors, saved and loaded.

Their pure-Python logic is tested in ``tests/unit/test_text_cleaning.py`` and ``tests/unit/test_text_segment.py``.
"""

from __future__ import annotations

import pandas as pd
import pytest

from churn_spark.text.cleaning import PII_TYPES, EmailCleaner
from churn_spark.text.segment import ChineseSegmenter

SENTENCE = "我今天在北京订阅了3份明河日报但是送得很晚"
USER_DICT = "# domain words\n明河日报 5000 n\n投递站 5000\n"


def test_email_cleaner_stage_outputs_text_and_mask_counts(spark):
    emails = [("e1", "回复：送报", "请打13812345678或发邮件到a@b.com"), ("e2", None, None)]
    df = spark.createDataFrame(emails, "email_id string, subject string, body string")
    rows = {r.email_id: r for r in EmailCleaner().transform(df).collect()}
    # the counts come with the texts from the batch function the text stage runs (emails_to_terms)
    texts, counts = EmailCleaner().batch_function()(*(pd.Series([e[i] for e in emails]) for i in (1, 2)))
    pii = dict(zip(("e1", "e2"), (dict(zip(PII_TYPES, row, strict=True)) for row in counts), strict=True))
    assert texts == [rows["e1"].clean_text, rows["e2"].clean_text]
    assert rows["e1"].clean_text == "送报 请打 或发邮件到"
    assert pii["e1"] == {k: int(k in ("phone", "email")) for k in PII_TYPES}
    assert rows["e2"].clean_text == "" and sum(pii["e2"].values()) == 0


def test_spark_stage_segments_on_executors_like_the_local_segmenter(spark):
    texts = [SENTENCE, "投递站的工作人员态度很差", "", None]
    # one partition: one Python worker builds the segmenter (tests stay fast)
    df = spark.createDataFrame([(i, t) for i, t in enumerate(texts)], "id int, clean_text string").coalesce(1)
    stage = ChineseSegmenter(userDictionary=USER_DICT, outputCol="terms")
    rows = sorted(stage.transform(df).collect(), key=lambda r: r.id)
    local = stage.local_segmenter()
    assert [r.terms for r in rows] == [local.terms(SENTENCE), local.terms(texts[1]), [], []]
    with pytest.raises(ValueError, match="backend"):
        ChineseSegmenter(backend="hanlp").transform(df)


def test_saved_stage_carries_its_dictionary(spark, tmp_path):
    stage = ChineseSegmenter(userDictionary=USER_DICT, dictionaryVersion="v1", backend="rjieba",
                             keepPos=["n", "v"], outputCol="terms")
    stage.save(str(tmp_path / "seg"))
    loaded = ChineseSegmenter.load(str(tmp_path / "seg"))
    assert loaded.getOrDefault("userDictionary") == USER_DICT
    assert (loaded.getOrDefault("backend"), loaded.getOrDefault("keepPos")) == ("rjieba", ["n", "v"])
    df = spark.createDataFrame([(SENTENCE,)], "clean_text string").coalesce(1)
    assert loaded.transform(df).first().terms == ["订阅", "份", "明河日报", "送"]
