"""EmailCleaner and its parts: personal data masking, markup, quotes, signatures, width, script."""

from __future__ import annotations

import re

import numpy as np
import pytest

from churn_spark.text.cleaning import (
    PII_PLACEHOLDER,
    TraditionalToSimplified,
    clean_email,
    find_pii,
    mask_pii,
    normalize_width_script_case,
    strip_html,
    strip_quotes_and_signature,
)
from churn_spark.text.dictionaries import parse_synonyms, parse_term_list, parse_user_dict


@pytest.mark.parametrize("kind, value", [
    ("phone", "13812345678"), ("phone", "+86 138 1234 5678"), ("phone", "(+86)19911216573"),
    ("phone", "+86-138-1234-5678"), ("phone", "86-13812345678"), ("phone", "177-6958-5642"),
    ("phone", "010-12345678"), ("phone", "(0571)8123456"), ("phone", "0755 5118 3106"),
    ("phone", "0755 6192 898"), ("phone", "+86-755-51183106"),
    ("email", "zhangwei1978@163.com"), ("email", "wang.li@sina.com"), ("email", "12345678@qq.com"),
    ("id_number", "110101199003071234"), ("id_number", "61011319430406960x"),
    ("bank_card", "6222605755648156554"), ("bank_card", "6222 0212 3456 7890"),
    ("bank_card", "6217-0018-0894-6545-646"),
    ("url", "http://blog.sina.com.cn/u/x80mpc5d/"), ("url", "www.mhrb.com.cn/member/ab12"),
    ("url", "https://pan.baidu.com/s/abc?x=1&y=2"),
    ("address", "中山路312号71弄26号804室"), ("address", "和平街395號翠苑新村8號樓4單元1103室"),
])
def test_each_kind_of_personal_data_is_masked_and_counted(kind, value):
    counts: dict[str, int] = {}
    masked = mask_pii(f"我的信息是{value}，请核实", counts)
    assert value not in masked
    assert counts == {kind: 1}
    assert masked.startswith("我的信息是") and masked.endswith("请核实")


def test_street_name_is_masked_after_a_district_but_the_district_stays():
    masked = mask_pii("地址：上海市浦东新区中山路117號，谢谢")
    assert "中山" not in masked and "117" not in masked
    assert "上海市浦东新区" in masked


def test_dates_amounts_and_order_numbers_are_not_personal_data():
    text = "2004年7月2日 15:30 付了120元，订单号A1234，3个月"
    assert mask_pii(text) == text


def test_full_width_digits_and_html_entities_cannot_hide_personal_data():
    counts: dict[str, int] = {}
    text = clean_email(None, "电话：１３８１２３４５６７８，邮箱 li&#64;163.com", counts)
    assert not re.search(r"\d", text) and "163" not in text
    assert counts == {"phone": 1, "email": 1}


def test_fast_mask_equals_the_plain_pattern_scan_on_generated_emails():
    from churn_spark.synth.text import TOPICS, render_emails_with_pii

    rng = np.random.default_rng(11)
    emails = render_emails_with_pii(rng.dirichlet(np.ones(len(TOPICS)), size=400), rng, 0.3)
    for _, body, _ in emails:
        counts: dict[str, int] = {}
        mask_pii(body, counts)
        reference: dict[str, int] = {}
        for kind, _ in find_pii(body):
            reference[kind] = reference.get(kind, 0) + 1
        assert counts == reference


P = PII_PLACEHOLDER


@pytest.mark.parametrize("text, masked, kinds", [
    # digit runs of the fewest characters each kind can match (a shorter run is not searched), and one fewer
    ("电话010123456，谢谢", f"电话{P}，谢谢", ["phone"]), ("电话01012345，谢谢", "电话01012345，谢谢", []),
    ("卡号6222605755648156，谢谢", f"卡号{P}，谢谢", ["bank_card"]),
    ("卡号622260575564815，谢谢", "卡号622260575564815，谢谢", []),
    ("身份证110101199003071234，谢谢", f"身份证{P}，谢谢", ["id_number"]),
    ("身份证11010119900307123，谢谢", f"身份证{P}，谢谢", ["bank_card"]),  # 17 digits: not an ID
    # a street name of 4 characters (the most the address pattern takes before the street), and of 5
    ("住 新华东一路12号", f"住 {P}", ["address"]), ("住 新华东一二路12号", f"住 新华东一二{P}", ["address"]),
    ("和平路中山路12号3栋，中山路5号和平街7號", f"和平路中山{P}，{P}", ["address", "address"]),
])
def test_masking_shortcuts_at_their_boundaries_agree_with_the_plain_scan(text, masked, kinds):
    counts: dict[str, int] = {}
    assert mask_pii(text, counts) == masked
    assert [kind for kind, _ in find_pii(text)] == kinds
    assert counts == {kind: kinds.count(kind) for kind in kinds}


def test_no_generated_personal_data_survives_cleaning():
    from churn_spark.synth.text import TOPICS, render_emails_with_pii

    rng = np.random.default_rng(29)
    emails = render_emails_with_pii(rng.dirichlet(np.ones(len(TOPICS)), size=600), rng, 0.3)
    alnum = re.compile(r"[^0-9a-z\u4e00-\u9fff]")
    checked = 0
    for subject, body, values in emails:
        counts: dict[str, int] = {}
        text = alnum.sub("", clean_email(subject, body, counts))
        for value in values:
            assert alnum.sub("", normalize_width_script_case(value)) not in text, value
            checked += 1
        assert sum(counts.values()) >= len(values)
    assert checked > 400


def test_html_tags_entities_and_dropped_elements():
    body = ('<html><head><style>p {color: red}</style></head><body><p>报纸&nbsp;没&lt;送&gt;到</p>'
            '<blockquote>旧的回复</blockquote><div>谢谢<br>李</div></body></html>')
    text = strip_html(body)
    assert "color" not in text and "旧的回复" not in text and "<" not in text.replace("<送", "")
    assert "报纸\xa0没<送>到" in text
    assert "谢谢\n李" in text


@pytest.mark.parametrize("quote", [
    "-----原始邮件-----\n发件人：客服部 李小姐\n主题：送报\n您好，已收到。",
    "在 2004年7月2日，客服部 李小姐 写道：\n> 您好，已收到。\n> 谢谢。",
    "> 您好，已收到。\n> 谢谢。",
    "2004-07-02 15:30 GMT+08:00 客服部 李小姐 <x>:\n> 您好，已收到。",
    "On Mon, Jul 2, 2004 at 15:30, Service <x> wrote:\n> 已收到",
    "From: service\nSent: Monday\n已收到",
])
def test_quoted_earlier_replies_are_dropped(quote):
    text = strip_quotes_and_signature(f"报纸又没送到。\n\n{quote}\n")
    assert "报纸又没送到" in text
    assert "已收到" not in text and "收到" not in text


@pytest.mark.parametrize("tail", [
    "谢谢！\n老订户 张伟\n手机：∅",
    "此致\n敬礼！\n李女士",
    "Best regards\nWang",
    "--\n张伟\n明河日报订户",
    "发自我的iPhone",
])
def test_signatures_are_dropped(tail):
    text = strip_quotes_and_signature(f"您好：\n报纸又没送到，请尽快处理。\n\n{tail}")
    assert "报纸又没送到" in text
    assert not any(word in text for word in ("张伟", "李女士", "Wang", "iPhone", "谢谢", "此致"))


@pytest.mark.parametrize("text, kept", [
    ("谢谢！\n张伟", ""), ("--\n张伟", ""), ("发件人: 客服\n已收到", ""), ("> 旧邮件\n报纸没到", "\n报纸没到"),
    ("报纸没到\n-----原始邮件-----\n已收到", "报纸没到\n"), ("报纸没到\n谢谢！\n张伟", "报纸没到\n"),
])
def test_a_quote_or_signature_is_cut_at_the_start_of_its_line_even_the_first(text, kept):
    assert strip_quotes_and_signature(text) == kept


def test_a_thank_you_line_followed_by_more_content_is_kept():
    body = "谢谢！\n" + "另外我想问一下明年的续订价格是多少，还有优惠活动吗，请尽快回复我，谢谢你们。\n" * 2
    assert "续订价格" in strip_quotes_and_signature(body)


def test_clean_email_normalises_width_script_case_and_punctuation():
    text = clean_email("回覆：投訴", "報紙ＡＰＰ打不開！！請處理，謝謝。\n> 舊郵件")
    assert text == "投诉 报纸app打不开 请处理 谢谢"
    # a rare full-width character (＞) is converted with the rest when the text has one that matters (Ａ)
    assert clean_email(None, "Ａ\n＞ 旧邮件") == "a"
    assert clean_email(None, "A\n＞ 旧邮件") == "a 旧邮件"


def test_fast_traditional_to_simplified_equals_opencc_on_generated_traditional_emails():
    import opencc

    from churn_spark.synth.text import TOPICS, render_emails

    rng = np.random.default_rng(5)
    emails = render_emails(rng.dirichlet(np.ones(len(TOPICS)), size=300), rng, traditional_share=1.0)
    reference, fast = opencc.OpenCC("t2s"), TraditionalToSimplified()
    bodies = [body for _, body in emails]
    assert sum(fast.convert(b) != b for b in bodies) > 250  # the corpus really is Traditional
    assert [fast.convert(b) for b in bodies] == [reference.convert(b) for b in bodies]
    # phrases whose conversion differs from the character-by-character one
    for phrase in ("乾隆", "著作", "一目瞭然", "瞭解"):
        assert fast.convert(phrase) == reference.convert(phrase)
    # phrases of characters that never convert alone; and Simplified text, left as it is
    # characters beyond U+FFFF: one that converts (𠁞), an emoji in Simplified and in Traditional text
    for text in ("我已回覆您的問題", "请尽快回覆", "他一直沈默", "我们一起看报纸", "订阅服务中心",
                 "𠁞字", "😀订报", "報紙😀", "乾隆😀"):
        assert fast.convert(text) == reference.convert(text)


def test_dictionary_files_are_parsed_and_normalised():
    assert parse_term_list("# comment\n\n的\n體\nABC\n的\n") == ["的", "体", "abc"]
    words = parse_user_dict("# c\n明河日报 5000 nt\n订报\n送報員 10\n")
    assert [(w.word, w.freq, w.tag) for w in words] == [("明河日报", 5000, "nt"), ("订报", None, None),
                                                        ("送报员", 10, None)]
    assert parse_synonyms("# c\n送报员\t投递员\n邮递员\t送报员\n帳單\t账单\n") == {
        "送报员": "投递员", "邮递员": "投递员", "帐单": "账单"}
    with pytest.raises(ValueError, match="cycle"):
        parse_synonyms("甲\t乙\n乙\t甲\n")
