"""The synthetic email writer (churn_spark.synth.text) and the text dictionaries in conf/dict."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import jieba
import numpy as np
import opencc
import pytest

from churn_spark.synth import text, text_dictionaries, text_vocab
from churn_spark.synth.text_pii import luhn_check_digit
from churn_spark.synth.text_script import _trie_pattern

DICT_DIR = Path(__file__).resolve().parents[2] / "conf" / "dict"
N_TOPICS = len(text.TOPICS)
TO_SIMPLIFIED = opencc.OpenCC("t2s")


def dirichlet_mix(seed: int, n: int, alpha: float = 0.3) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.full(N_TOPICS, alpha), size=n)


def one_hot(topic: int, n: int) -> np.ndarray:
    mix = np.zeros((n, N_TOPICS))
    mix[:, topic] = 1.0
    return mix


@pytest.fixture(scope="module")
def tokenizer() -> jieba.Tokenizer:
    """jieba as the pipeline runs it: its own dictionary plus conf/dict/user_dict.txt."""
    tok = jieba.Tokenizer()
    tok.load_userdict(str(DICT_DIR / "user_dict.txt"))
    return tok


@pytest.fixture(scope="module")
def synonyms() -> dict[str, str]:
    pairs = {}
    for line in (DICT_DIR / "synonyms.txt").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            variant, canonical = line.split("\t")
            pairs[variant] = canonical
    return pairs


@pytest.fixture(scope="module")
def sample() -> list[tuple[str, str, list[str]]]:
    """1,000 emails of mixed topics with the default Traditional share."""
    return text.render_emails_with_pii(dirichlet_mix(1, 1000), np.random.default_rng(2))


# ------------------------------------------------------------------------------ the API


def test_topics_are_fixed_ascii_ids_with_the_required_ones_first():
    required = ("delivery", "billing", "invoice", "suspension", "address_change", "renewal_price",
                "cancellation", "content", "digital_login", "praise", "promotion")
    assert text.TOPICS[: len(required)] == required
    assert len(set(text.TOPICS)) == len(text.TOPICS) >= 11
    assert all(topic.isascii() and topic.isidentifier() for topic in text.TOPICS)


def test_same_seed_same_bytes_and_other_seed_other_text():
    mix = dirichlet_mix(3, 300)
    first = text.render_emails(mix, np.random.default_rng(7), traditional_share=0.3)
    again = text.render_emails(mix, np.random.default_rng(7), traditional_share=0.3)
    other = text.render_emails(mix, np.random.default_rng(8), traditional_share=0.3)
    assert first == again
    assert sum(a != b for a, b in zip(first, other, strict=True)) > 290
    # render_emails is render_emails_with_pii without the personal data
    with_pii = text.render_emails_with_pii(mix, np.random.default_rng(7), traditional_share=0.3)
    assert first == [(subject, body) for subject, body, _ in with_pii]


def test_batches_larger_than_one_chunk_are_deterministic_too():
    mix = dirichlet_mix(4, 5000)
    first = text.render_emails(mix, np.random.default_rng(1))
    again = text.render_emails(mix, np.random.default_rng(1))
    assert len(first) == 5000 and first == again


def test_import_loads_nothing_and_tables_are_built_once_per_process():
    script = (
        "import sys\n"
        "import numpy as np\n"
        "from churn_spark.synth import text\n"
        "assert text._tables.cache_info().currsize == 0 and 'jieba' not in sys.modules\n"
        "assert 'opencc' not in sys.modules\n"
        "mix = np.full((2, len(text.TOPICS)), 1 / len(text.TOPICS))\n"
        "for seed in range(3):\n"
        "    text.render_emails(mix, np.random.default_rng(seed))\n"
        "info = text._tables.cache_info()\n"
        "assert info.misses == 1 and info.hits >= 2, info\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=Path(__file__).resolve().parents[2])


@pytest.mark.parametrize("bad", [np.ones((3, N_TOPICS - 1)), -np.ones((2, N_TOPICS)), np.zeros((2, N_TOPICS)),
                                 np.full((2, N_TOPICS), np.nan)])
def test_invalid_mixtures_are_rejected(bad):
    with pytest.raises(ValueError):
        text.render_emails(bad, np.random.default_rng(0))


# ----------------------------------------------------------------------- topics survive


def test_each_topic_dominates_the_emails_concentrated_on_it(tokenizer, synonyms):
    """Segment with the user dictionary, normalise with synonyms.txt, count topic words."""
    words = {topic: set(text.topic_words(topic)) for topic in text.TOPICS}
    own = {topic: words[topic] - set().union(*(words[t] for t in text.TOPICS if t != topic))
           for topic in text.TOPICS}
    for index, topic in enumerate(text.TOPICS):
        emails = text.render_emails(one_hot(index, 40), np.random.default_rng(index), traditional_share=0.0)
        counts = Counter()
        for _, body in emails:
            for token in tokenizer.lcut(body):
                canonical = synonyms.get(token, token)
                for other in text.TOPICS:
                    counts[other] += canonical in own[other]
        ranked = [t for t, _ in counts.most_common()]
        assert ranked[0] == topic, (topic, counts.most_common(3))
        assert counts[topic] > 2 * counts[ranked[1]], (topic, counts.most_common(3))


def test_every_topic_opens_some_email_of_a_mixed_sample():
    subjects = {subject for subject, _ in text.render_emails(dirichlet_mix(5, 600), np.random.default_rng(5),
                                                             traditional_share=0.0)}
    for topic in text.TOPICS:
        topic_subjects = text._tables().text["subject:" + topic][0]
        assert any(any(s.endswith(t) for t in topic_subjects) for s in subjects), topic


def test_domain_words_are_single_jieba_tokens_in_generated_text(tokenizer, sample):
    """Of all occurrences of topic words in the bodies, at least 90% are whole tokens."""
    words = sorted({w for topic in text.TOPICS for w in text.topic_words(topic)}, key=len, reverse=True)
    pattern = re.compile("|".join(map(re.escape, words)))
    found = as_tokens = 0
    for _, body, _ in sample:
        simplified = TO_SIMPLIFIED.convert(body)
        occurrences = Counter(pattern.findall(simplified))
        tokens = Counter(tokenizer.lcut(simplified))
        found += sum(occurrences.values())
        as_tokens += sum(min(count, tokens[word]) for word, count in occurrences.items())
    assert found > 10_000
    assert as_tokens / found > 0.9


# ------------------------------------------------------------- lengths: Table 2 of the paper


def test_lengths_match_table_2_of_the_paper(tokenizer, sample):
    stats = text.table2_stats([body for _, body, _ in sample], tokenizer.lcut)
    paper = {"words_per_email": 113.27, "words_per_sentence": 28.98, "distinct_words_per_email": 72.54}
    for key, target in paper.items():
        assert abs(stats[key] / target - 1) < 0.10, (key, stats[key], target)
    assert stats["words_p10"] < 40 and stats["words_p90"] > 200   # short mails and long ones


def test_table2_stats_counts_words_and_sentences_by_hand():
    stats = text.table2_stats(["我的报纸没有送到。请尽快补送！\n张伟", "<p>订阅&amp;续订</p>"],
                              cut=lambda s: re.findall(r"[\u4e00-\u9fff]|[A-Za-z]+|\S", s))
    # 15 words (14 distinct: 送 twice) in 2 sentences, the name line being no sentence;
    # then 4 words (3 distinct), the tags and "&" being no words, in 1 sentence
    assert stats["words_per_email"] == pytest.approx((15 + 4) / 2)
    assert stats["sentences_per_email"] == pytest.approx(1.5)
    assert stats["words_per_sentence"] == pytest.approx(19 / 3)
    assert stats["words_per_sentence_per_email"] == pytest.approx((15 / 2 + 4) / 2)
    assert stats["distinct_words_per_email"] == pytest.approx((14 + 3) / 2)


# ------------------------------------------------------------------- writing habits


def test_traditional_share_and_round_trip_to_simplified():
    mix = dirichlet_mix(6, 2000)
    simplified = text.render_emails(mix, np.random.default_rng(9), traditional_share=0.0)
    traditional = text.render_emails(mix, np.random.default_rng(9), traditional_share=1.0)
    mixed = text.render_emails(mix, np.random.default_rng(9), traditional_share=0.1)
    # the same draws in another script: t2s gives back the Simplified email exactly
    for (s_subject, s_body), (t_subject, t_body) in zip(simplified, traditional, strict=True):
        assert t_body != s_body
        assert TO_SIMPLIFIED.convert(t_body) == s_body
        assert TO_SIMPLIFIED.convert(t_subject) == s_subject
    is_traditional = np.array([m != s for m, s in zip(mixed, simplified, strict=True)])
    assert all(m == t for m, t, flag in zip(mixed, traditional, is_traditional, strict=True) if flag)
    assert abs(is_traditional.mean() - 0.1) < 0.025


def test_variants_typos_html_quotes_latin_and_fullwidth_all_occur(sample):
    bodies = [body for _, body, _ in sample]
    share = lambda pattern: np.mean([re.search(pattern, b) is not None for b in bodies])  # noqa: E731
    assert 0.03 < share(r"^<(html|div)") < 0.12
    assert 0.08 < share(r"-----原始邮件-----|^> |\n> |寫道|写道") < 0.25
    assert share(r"帐单|定阅|定户|投第|登陆|地趾|以经") > 0.03
    assert share(r"送报员|送報員|报纸钱|報紙錢|停报|停報") > 0.01
    assert share(r"iPad|app|PDF|email|OK|sorry|Best regards|Thanks") > 0.05
    assert share(r"[０-９Ａ-Ｚａ-ｚ]") > 0.02
    assert share(r"，|。") > 0.8 and share(r"[\u4e00-\u9fff],") > 0.03
    assert share(r"您好|你好|尊敬的") > 0.5 and share(r"谢谢|謝謝|此致|敬上") > 0.3


def test_personal_data_is_returned_and_literally_in_the_body(sample):
    kinds = Counter()
    for _, body, values in sample:
        for value in values:
            assert value in body, value
            plain = value.translate({c + 0xFEE0: c for c in range(0x21, 0x7F)})
            digits = re.sub(r"[\s\-()+]", "", plain)
            if "@" in plain:
                kinds["email"] += 1
            elif plain.startswith(("http", "www")):
                kinds["url"] += 1
            elif re.search(r"[\u4e00-\u9fff]", plain):
                kinds["address"] += 1
            elif re.fullmatch(r"\d{17}[\dXx]", digits) and digits[:6] in text_vocab.ID_REGIONS:
                assert check_id(digits), plain
                kinds["idcard"] += 1
            elif re.fullmatch(r"(86)?1[3-9]\d{9}", digits):
                kinds["phone"] += 1
            elif re.fullmatch(r"\d{16,19}", digits):
                assert luhn_check_digit(digits[:-1]) == digits[-1], plain
                kinds["bankcard"] += 1
            elif re.fullmatch(r"(86)?0?\d{2,3}\d{7,8}", digits):
                kinds["landline"] += 1
            else:
                raise AssertionError(f"unrecognised personal data {value!r}")
    assert set(kinds) == {"email", "url", "address", "idcard", "phone", "bankcard", "landline"}, kinds
    assert sum(bool(values) for _, _, values in sample) > 300


def check_id(number: str) -> bool:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(w * int(c) for w, c in zip(weights, number[:17], strict=True))
    return "10X98765432"[total % 11] == number[-1].upper()


def test_luhn_digit_against_known_card_numbers():
    assert luhn_check_digit("7992739871") == "3"           # the textbook example 79927398713
    assert luhn_check_digit("453201511283036") == "6"      # a Visa test number 4532015112830366
    # the Luhn test itself: from the right, double every second digit, digit-sum, total divisible by 10
    rng = np.random.default_rng(0)
    for length in rng.integers(1, 25, size=300):
        payload = "".join(map(str, rng.integers(0, 10, size=length)))
        number = payload + luhn_check_digit(payload)
        total = sum(sum(divmod(int(c) * (1 + i % 2), 10)) for i, c in enumerate(reversed(number)))
        assert total % 10 == 0, number


def test_fullwidth_and_halfwidth_rewrites_equal_str_translate(sample):
    to_fullwidth = {c: c + 0xFEE0 for c in map(ord, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")}
    to_halfwidth = str.maketrans("，。！？：；（）", ",.!?:;()")
    texts = [body for _, body, _ in sample[:300]] + ["", "abc", "Ａ1，z。！?（x）；：", "订阅2005年iPad app"]
    for body in texts:
        assert text._fullwidth(body) == body.translate(to_fullwidth)
        assert text._halfwidth_punctuation(body) == body.translate(to_halfwidth)


def test_trie_pattern_matches_exactly_the_phrases_and_where_the_alternation_does():
    converter = text._tables().repair_traditional.__self__
    for phrases in (["於單", "於", "於單位", "乾隆", "乾淨了", "x.y"], list(converter._repairs)):
        trie = re.compile(_trie_pattern(phrases))
        alternation = re.compile("|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True)))
        prefixes = {p[:i] for p in phrases for i in range(1, len(p) + 1)}
        for candidate in sorted(prefixes):
            assert bool(trie.fullmatch(candidate)) == (candidate in phrases), candidate
            embedded = "中" + candidate + "文x"
            found, expected = trie.search(embedded), alternation.search(embedded)
            assert (found and found.span()) == (expected and expected.span()), candidate


# -------------------------------------------------------------------- the dictionaries


def test_committed_dictionaries_are_what_the_vocabulary_generates(tmp_path):
    text_dictionaries.write_dictionaries(tmp_path)
    for name in ("user_dict.txt", "synonyms.txt"):
        generated = (tmp_path / name).read_text(encoding="utf-8")
        assert generated == (DICT_DIR / name).read_text(encoding="utf-8"), (
            f"conf/dict/{name} is stale: run `python -m churn_spark.synth.text write-dicts`")


def test_user_dict_lines_parse_and_each_word_is_one_token(tokenizer):
    rows = (DICT_DIR / "user_dict.txt").read_text(encoding="utf-8").splitlines()
    assert 150 <= len(rows) <= 600
    for row in rows:
        word, freq, pos = row.split(" ")
        assert int(freq) > 0 and pos in {"n", "v", "vn", "a", "d", "t", "r", "nt"}, row
        assert tokenizer.lcut(word) == [word], row


def test_synonyms_cover_every_injected_variant_and_map_to_simplified(synonyms, tokenizer):
    user_words = {row.split(" ")[0] for row in (DICT_DIR / "user_dict.txt").read_text("utf-8").splitlines()}
    for table in (text_vocab.TYPOS, text_vocab.SYNONYMS):
        for canonical, variants in table.items():
            for variant in variants:
                assert synonyms[variant] == canonical
                assert variant in user_words
    for variant, canonical in synonyms.items():
        assert TO_SIMPLIFIED.convert(canonical) == canonical, canonical
        assert TO_SIMPLIFIED.convert(variant) == variant, variant
        assert canonical not in synonyms, f"{canonical} is both canonical and a variant"


def test_stopwords_and_exclusions_are_clean_simplified_lists():
    stopwords = (DICT_DIR / "stopwords.txt").read_text(encoding="utf-8").splitlines()
    exclusions = [line for line in (DICT_DIR / "exclusions.txt").read_text(encoding="utf-8").splitlines()
                  if line and not line.startswith("#")]
    for words in (stopwords, exclusions):
        assert len(words) == len(set(words)) and all(w and w == w.strip() for w in words)
        assert all(TO_SIMPLIFIED.convert(w) == w for w in words)
    assert {"的", "了", "您好", "谢谢", "麻烦"} <= set(stopwords)
    assert {"明河日报", "客服", "邮件"} <= set(exclusions) and len(exclusions) < 30
    domain = {w for topic in text.TOPICS for w in text.topic_words(topic)}
    assert not domain & set(stopwords), "a topic word must never be a stopword"
