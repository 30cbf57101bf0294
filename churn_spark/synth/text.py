"""Realistic Chinese call-center emails from topic mixtures.

The customer/subscription simulator decides *what* each email is about (a row of topic
weights); this module writes it. An email is

    greeting + content + contact data + sign-off, name, signature lines + quoted earlier reply

where the content is a run of *clauses* joined by commas into sentences. Every sentence
draws one topic ``t ~ Categorical(topic_mix[j])``; each of its clauses is a template of that
topic (probability ``1 - P_GENERAL``) or a topic-neutral template (``P_GENERAL``). Slots in
templates take topic words (Zipf over the curated list), background words from jieba's own
``dict.txt`` (weight ``freq ** BACKGROUND_EXPONENT`` over the most frequent nouns, verbs,
adjectives and adverbs), amounts, dates and personal data. Then come the writer's habits:
synonyms and typos (``text_vocab.SYNONYMS``/``TYPOS``, one consistent choice per email),
Traditional characters, half-width punctuation or full-width digits, HTML, quoted replies.

Lengths are calibrated to the paper's Table 2 (jieba words per email ~113, per sentence ~29,
distinct per email ~72; see ``table2_stats``).

Traditional emails are written from pieces converted once per process with OpenCC s2t
(``text_script.TraditionalConverter``), so that OpenCC's t2s gives back the Simplified email
exactly, character for character; no OpenCC call happens per email.

Speed: all random numbers of a batch are drawn at once with numpy. The contents of a batch
are numpy indices into one table of fixed pieces (links, template text between slots, slot
words, separators), so Python only joins each email's pieces and adds the per-email habits.
The tables (jieba's dictionary, conversions) are built on the first call in a process
(``_tables``, ~1 s of CPU); at import time only the vocabulary's small files are read.

The vocabulary is data (``data/*.txt``, read by ``text_vocab``), and the pipeline's
dictionaries derived from it are written by ``text_dictionaries``. The rest stays in this
one module because the tables and the vectorised draws share one index layout of pieces.

The same ``numpy.random.Generator`` state gives byte-identical output: every draw happens in
a fixed order and no set/dict iteration order or string hash is involved.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from churn_spark.synth import text_dictionaries as dictionaries
from churn_spark.synth import text_pii as pii
from churn_spark.synth import text_vocab as vocab
from churn_spark.synth.text_script import TraditionalConverter

TOPICS: tuple[str, ...] = tuple(vocab.TOPIC_TEXTS)

# ---- shape of an email (tuned to Table 2 of the paper with table2_stats) ----
CLAUSES_SHAPE, CLAUSES_SCALE, MAX_CLAUSES = 0.7, 16.5, 120   # clauses per email ~ 1 + Gamma
P_NEW_SENTENCE = 0.08          # a clause opens a new sentence: long comma-chained sentences
P_TOPIC_SWITCH = 0.2           # a clause redraws its topic instead of keeping the sentence's
P_GENERAL = 0.20               # a clause is topic-neutral (carries background words)
P_PARAGRAPH = 0.30             # a line break after a sentence
P_CONNECTIVE = 0.4             # a clause inside a sentence opens with 而且/但是/所以 ...
P_OPENER = 0.3                 # a later sentence opens with 另外/还有/对了 ...
P_RESTATE = 0.7                # a longer email ends by restating its first complaint:
RESTATED_CLAUSES = 2           # its first topical clauses, again
BACKGROUND_SIZES = {"n": 6000, "v": 3000, "a": 800, "d": 400}   # most frequent words kept
BACKGROUND_EXPONENT = 1.0      # weight = jieba freq ** exponent (Zipf, as in the corpus)
TOPIC_WORD_EXPONENT = 1.2      # weight of the r-th topic word = 1 / r ** exponent

# ---- habits of the writer, per email ----
P_GREETING, P_SIGN_OFF, P_NAME, P_MOBILE_TAIL = 0.88, 0.82, 0.72, 0.04
P_QUOTE, P_HTML, P_FULLWIDTH_ALNUM, P_HALFWIDTH_PUNCT = 0.15, 0.07, 0.06, 0.10
P_CARELESS, P_TYPO_IF_CARELESS = 0.25, 0.6     # careless writers misspell consistently
P_SYNONYM = 0.3                # a canonical word is written as one of its synonyms
P_EMPTY_SUBJECT, P_GENERIC_SUBJECT = 0.04, 0.08
# personal data: inside the content (a contact clause) and in the signature
P_CONTACT_CLAUSE = {"phone": 0.15, "landline": 0.05, "email": 0.06, "idcard": 0.03, "bankcard": 0.03,
                    "address": 0.06, "url": 0.03}
P_CONTACT_LINE = {"phone": 0.2, "landline": 0.06, "email": 0.08, "address": 0.04}

SENTENCE_ENDS = ("。", "！", "？", "……", "。。。", "！！")
SENTENCE_END_P = (0.72, 0.12, 0.05, 0.04, 0.03, 0.04)
CLAUSE_SEPS = ("，", " ")
CLAUSE_SEP_P = (0.95, 0.05)
# what follows a clause: end mark e without (2e) or with (2e + 1) a line break, or a clause separator
SEPARATORS = tuple(end + brk for end in SENTENCE_ENDS for brk in ("", "\n")) + CLAUSE_SEPS
REPLY_PREFIXES = ("回复：", "Re: ", "RE: ", "答复: ")
GENERIC_SUBJECTS = ("咨询", "投诉", "你好", "急！", "请帮忙", "问题", "(无主题)")

_BATCH = 4096
_SLOT = re.compile(r"\{(\w+)\}")
_BACKGROUND_POS = {"n": "n", "vn": "n", "v": "v", "a": "a", "an": "a", "d": "d", "ad": "d"}
_FULLWIDTH = {c: c + 0xFEE0 for c in b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"}
_ASCII_ALNUM = re.compile(r"[0-9A-Za-z]+")
_HALFWIDTH_PUNCT = tuple(zip("，。！？：；（）", ",.!?:;()", strict=True))
_WORD_TOKEN = re.compile(r"[0-9A-Za-z\u3400-\u9fff\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")
_SENTENCE_END = re.compile(r"[。！？!?…]+|\.(?![0-9A-Za-z])")
_HTML_TAG = re.compile(r"<[^>]+>")
_ALL_HAN = re.compile(r"[\u4e00-\u9fff]+$")
_AFTER_END_MARK = re.compile(r"(?<=[。！])")


# ============================================================================ public API


def render_emails(topic_mix: np.ndarray, rng: np.random.Generator,
                  traditional_share: float = 0.10) -> list[tuple[str, str]]:
    """Write one email per row of ``topic_mix``.

    Parameters
    ----------
    topic_mix : (n_emails, len(TOPICS)) array of non-negative weights, rows summing to 1
        (rows are renormalised; a row of zeros is an error).
    rng : the generator every random choice is drawn from, in a fixed order.
    traditional_share : expected share of emails written in Traditional characters.

    Returns
    -------
    ``[(subject, body), ...]`` in row order; deterministic given the state of ``rng``.
    """
    return [(subject, body) for subject, body, _ in render_emails_with_pii(topic_mix, rng,
                                                                          traditional_share)]


def render_emails_with_pii(topic_mix: np.ndarray, rng: np.random.Generator,
                           traditional_share: float = 0.10) -> list[tuple[str, str, list[str]]]:
    """Like ``render_emails`` (same output for the same rng state) plus, per email, the exact
    personal-data strings written into the body (phones, landlines, e-mail addresses, IDs,
    bank cards, postal addresses, URLs), for testing that a masking stage removes them all.
    """
    mix = np.asarray(topic_mix, dtype=np.float64)
    if mix.ndim != 2 or mix.shape[1] != len(TOPICS):
        raise ValueError(f"topic_mix must have shape (n, {len(TOPICS)}), got {mix.shape}")
    if not np.all(np.isfinite(mix)) or (mix < 0).any():
        raise ValueError("topic_mix must be finite and non-negative")
    totals = mix.sum(axis=1, keepdims=True)
    if (totals <= 0).any():
        raise ValueError("every row of topic_mix needs a positive weight")
    if not 0.0 <= traditional_share <= 1.0:
        raise ValueError("traditional_share must lie in [0, 1]")
    mix = mix / totals
    tables = _tables()
    out: list[tuple[str, str, list[str]]] = []
    for start in range(0, len(mix), _BATCH):
        out.extend(_render_batch(tables, mix[start:start + _BATCH], rng, traditional_share))
    return out


def topic_words(topic: str) -> tuple[str, ...]:
    """The curated domain words of one topic, most typical first."""
    return tuple(word for word, _ in vocab.TOPIC_TEXTS[topic].words)


def table2_stats(bodies: Iterable[str], cut: Callable[[str], list[str]]) -> dict[str, float]:
    """Table 2 of the paper on email bodies, with ``cut`` as the word segmenter (jieba.lcut).

    A *word* is a token holding a CJK ideograph, a Latin letter or a digit (punctuation and
    white space are not words); HTML tags are removed first. A *sentence* is a stretch ended
    by 。！？!?… (or a full stop) that holds at least one word; lines after the last end mark
    (name, phone, signature) add words but no sentence. An email has at least one sentence.

    Returns the means per email of words, distinct words and sentences, the pooled words
    per sentence (all words / all sentences), the mean of the per-email ratio, and the 10th
    and 90th percentiles of words per email.
    """
    words, distinct, sentences, ratios = [], [], [], []
    for body in bodies:
        text = html.unescape(_HTML_TAG.sub(" ", body))
        tokens = [tok for tok in cut(text) if _WORD_TOKEN.search(tok)]
        # the last part follows no end mark: signature lines, not a sentence (unless alone)
        parts = _SENTENCE_END.split(text)[:-1]
        n_sentences = max(sum(1 for part in parts if _WORD_TOKEN.search(part)), 1)
        words.append(len(tokens))
        distinct.append(len(set(tokens)))
        sentences.append(n_sentences)
        ratios.append(len(tokens) / n_sentences)
    w = np.asarray(words, dtype=float)
    return {
        "emails": float(len(w)),
        "words_per_email": float(w.mean()),
        "words_per_sentence": float(w.sum() / np.sum(sentences)),
        "words_per_sentence_per_email": float(np.mean(ratios)),
        "distinct_words_per_email": float(np.mean(distinct)),
        "sentences_per_email": float(np.mean(sentences)),
        "words_p10": float(np.percentile(w, 10)),
        "words_p90": float(np.percentile(w, 90)),
    }


# ============================================================================ the tables


# the same strings in Simplified ([0]) and Traditional ([1]) characters
_PerScript = tuple[tuple[str, ...], tuple[str, ...]]


@dataclass(frozen=True)
class _Tables:
    """Everything rendering needs, built once per process; index 0 Simplified, 1 Traditional."""

    n_vocab: int                 # V slot words (pieces[piece_vocab0:]), then their V Traditional forms
    kind_offset: np.ndarray      # first vocab index of each static slot kind
    kind_cdf: list[np.ndarray]   # cumulative weights of each static kind
    n_static: int                # kinds below this index are vocabulary draws
    pii_kind: dict[int, str]     # kind index -> personal-data kind
    topic_kind0: int             # kind of topic 0's words; topic t is topic_kind0 + t
    n_templates: int
    n_slots: np.ndarray          # slots per template
    slot_offset: np.ndarray      # first entry of each template in slot_kinds
    slot_kinds: np.ndarray       # kind of every slot (KIND_W = the clause topic's words)
    pool_flat: np.ndarray        # template ids of pool 0..T-1 (topics), T (general)
    pool_offset: np.ndarray
    pool_len: np.ndarray
    step_flat: np.ndarray        # strides coprime with each pool's length
    step_offset: np.ndarray
    step_len: np.ndarray
    replacements: tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]  # per script
    replacement_p: np.ndarray    # probability of each replacement (typos: for careless writers)
    replacement_is_typo: np.ndarray
    n_links: int                 # "", connectives, openers; then the same in Traditional
    # the fixed strings clauses are assembled from, looked up by index (see _draw_content):
    # links, separators, the literal text around the slots of each template, slot words
    pieces: np.ndarray           # object array
    piece_separator0: int        # SEPARATORS start here
    piece_literal0: int          # literals of template f (Traditional: f + n_templates) start at
    literal_offset: np.ndarray   # piece_literal0 + literal_offset[f], n_slots[f] + 1 of them
    piece_vocab0: int            # the slot words (vocabulary) start here
    to_trad: dict[str, str]      # fixed strings and address pieces -> Traditional
    repair_traditional: Callable[[str], str]   # breaks t2s phrases formed across joined pieces
    text: dict[str, _PerScript]  # named lists of fixed strings
    contact_clauses: dict[str, _PerScript]
    contact_lines: dict[str, _PerScript]


_KIND_W = -1


@functools.lru_cache(maxsize=1)
def _tables() -> _Tables:
    converter = TraditionalConverter()
    to_trad: dict[str, str] = {}

    def trad(text: str) -> str:
        if text not in to_trad:
            to_trad[text] = converter.piece(text)
        return to_trad[text]

    # -- slot vocabularies, one kind each: background POS, fixed lists, topic words
    kinds: list[tuple[str, list[str], np.ndarray]] = []
    for pos, (words, freqs) in _background(converter, to_trad).items():
        kinds.append((pos, words, np.asarray(freqs, dtype=float) ** BACKGROUND_EXPONENT))
    for name, items in (("paper", vocab.PAPER_NAMES), ("num", vocab.NUMBERS), ("days", vocab.DURATIONS),
                        ("date", vocab.DATES), ("month", vocab.MONTHS), ("money", vocab.MONEY),
                        ("company", vocab.COMPANIES), ("bank", vocab.BANKS)):
        kinds.append((name, list(items), np.ones(len(items))))
    topic_kind0 = len(kinds)
    for topic in TOPICS:
        # {w} reads "关于{w}的事情": nouns and verbs only
        words = [word for word, pos in vocab.TOPIC_TEXTS[topic].words
                 if pos in ("n", "vn", "v")]
        kinds.append(("w:" + topic, words, 1.0 / np.arange(1, len(words) + 1) ** TOPIC_WORD_EXPONENT))
    kind_index = {name: i for i, (name, _, _) in enumerate(kinds)}
    kind_index["w"] = _KIND_W
    n_static = len(kinds)
    pii_kind = {n_static + i: kind for i, kind in enumerate(pii.PII_KINDS)}
    kind_index.update({kind: index for index, kind in pii_kind.items()})

    words_s = [word for _, words, _ in kinds for word in words]
    sizes = np.array([len(words) for _, words, _ in kinds])
    kind_offset = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    kind_cdf = []
    for _, _, weights in kinds:
        cdf = np.cumsum(weights) / weights.sum()
        cdf[-1] = 1.0
        kind_cdf.append(cdf)
    words_t = [trad(word) for word in words_s]
    vocab_both = words_s + words_t

    # -- clause templates and their pools
    templates: list[str] = []
    pools: list[list[int]] = []
    for topic in TOPICS:
        generic = vocab.TOPIC_GENERIC_CLAUSES if topic not in vocab.NO_GENERIC_CLAUSES else ()
        pools.append(_add(templates, vocab.TOPIC_TEXTS[topic].clauses + generic))
    pools.append(_add(templates, vocab.GENERAL_CLAUSES))
    formats_s, formats_t, slot_kinds, n_slots = [], [], [], []
    for template in templates:
        names = _SLOT.findall(template)
        slot_kinds.extend(kind_index[name] for name in names)
        n_slots.append(len(names))
        formats_s.append(_SLOT.sub("{}", template))
        formats_t.append(_SLOT.sub("{}", trad(template)))
    n_slots_arr = np.array(n_slots)
    pool_len = np.array([len(pool) for pool in pools])
    steps = [[s for s in range(1, max(length, 2)) if np.gcd(s, length) == 1] or [1] for length in pool_len]

    # -- spelling replacements: synonyms (longest first), then typos (longest first)
    replacements, probabilities, is_typo = [], [], []
    for table, typo in ((vocab.SYNONYMS, False), (vocab.TYPOS, True)):
        pairs = [(canonical, variant, len(variants))
                 for canonical, variants in table.items() for variant in variants]
        for canonical, variant, n_variants in sorted(pairs, key=lambda p: -len(p[0])):
            replacements.append((canonical, variant))
            probabilities.append(P_TYPO_IF_CARELESS if typo else P_SYNONYM / n_variants)
            is_typo.append(typo)

    def both(items: Sequence[str]) -> _PerScript:
        simple = tuple(item.replace("|", "\n") for item in items)
        return simple, tuple(trad(item).replace("|", "\n") for item in items)

    text = {
        "greeting": both(vocab.GREETINGS),
        "sign_off": both(vocab.SIGN_OFFS),
        "name_line": both(vocab.NAME_LINES),
        "surname": both(vocab.SURNAMES),
        "given": both(vocab.GIVEN_NAMES),
        "mobile_tail": both(vocab.MOBILE_TAILS),
        "reply": both(vocab.SERVICE_REPLIES),
        "agent": both(vocab.SERVICE_AGENTS),
        "generic_subject": both(GENERIC_SUBJECTS),
        "reply_prefix": both(REPLY_PREFIXES),
        "restate": both(vocab.RESTATE_LEAD_INS),
        "quote_words": both(("-----原始邮件-----", "发件人：", "发送时间：", "收件人：", "主题：",
                             "在 ", "写道：", "年", "月", "日")),
    }
    for topic in TOPICS:
        text["subject:" + topic] = both(vocab.TOPIC_TEXTS[topic].subjects)
    contact_clauses = {kind: both([_SLOT.sub("{}", t) for t in templates])
                       for kind, templates in vocab.CONTACT_CLAUSES.items()}
    contact_lines = {kind: both([_SLOT.sub("{}", t) for t in templates])
                     for kind, templates in vocab.CONTACT_LINES.items()}
    link_words = both(vocab.CONNECTIVES + vocab.OPENERS)
    for piece in (*vocab.CITY_DISTRICTS, *vocab.ROADS, *vocab.ESTATES, *pii.ADDRESS_LITERALS):
        trad(piece)

    # a template "a{}b{}c" is the literals a, b, c around its slots: joining them with the slot
    # words equals str.format as long as no literal holds a brace
    literals: list[str] = []
    literal_counts = []
    for fmt, count in zip(formats_s + formats_t, n_slots + n_slots, strict=True):
        parts = fmt.split("{}")
        if len(parts) != count + 1 or any("{" in part or "}" in part for part in parts):
            raise ValueError(f"template {fmt!r} must hold {count} slots and no other brace")
        literals.extend(parts)
        literal_counts.append(len(parts))
    links = ["", *link_words[0], "", *link_words[1]]
    pieces = [*links, *SEPARATORS]
    piece_literal0 = len(pieces)
    pieces += literals
    pieces += vocab_both

    return _Tables(
        n_vocab=len(words_s), kind_offset=kind_offset, kind_cdf=kind_cdf,
        n_static=n_static, pii_kind=pii_kind, topic_kind0=topic_kind0,
        n_templates=len(templates),
        n_slots=n_slots_arr, slot_offset=np.concatenate([[0], np.cumsum(n_slots_arr)[:-1]]),
        slot_kinds=np.array(slot_kinds, dtype=np.int64),
        pool_flat=np.concatenate([np.array(p) for p in pools]),
        pool_offset=np.concatenate([[0], np.cumsum(pool_len)[:-1]]), pool_len=pool_len,
        step_flat=np.concatenate([np.array(s) for s in steps]),
        step_offset=np.concatenate([[0], np.cumsum([len(s) for s in steps])[:-1]]),
        step_len=np.array([len(s) for s in steps]),
        replacements=(tuple(replacements), tuple((trad(c), trad(v)) for c, v in replacements)),
        replacement_p=np.array(probabilities), replacement_is_typo=np.array(is_typo),
        n_links=len(links), pieces=np.array(pieces, dtype=object), piece_separator0=len(links),
        piece_literal0=piece_literal0, literal_offset=np.concatenate([[0], np.cumsum(literal_counts)[:-1]]),
        piece_vocab0=len(pieces) - len(vocab_both),
        to_trad=to_trad, repair_traditional=converter.repair, text=text,
        contact_clauses=contact_clauses, contact_lines=contact_lines,
    )


def _add(templates: list[str], new: Iterable[str]) -> list[int]:
    """Append templates and return their ids."""
    start = len(templates)
    templates.extend(new)
    return list(range(start, len(templates)))


def _background(converter: TraditionalConverter,
                to_trad: dict[str, str]) -> dict[str, tuple[list[str], list[int]]]:
    """The most frequent 2-4 character nouns, verbs, adjectives and adverbs of jieba's
    dictionary, without domain words; their Traditional forms are added to ``to_trad``.
    """
    reserved = set(dictionaries.surface_forms())
    # a background word must not contain a word the generator may respell
    respelled = re.compile("|".join(re.escape(canonical) for canonical, _ in dictionaries.replacements()))
    pos_pattern = "|".join(_BACKGROUND_POS)
    rows = dictionaries.jieba_dictionary(f"(\\S{{2,4}}) (\\d+) ({pos_pattern})")
    candidates: dict[str, list[tuple[int, str]]] = {group: [] for group in BACKGROUND_SIZES}
    for word, freq, pos in rows:
        if word not in reserved and _ALL_HAN.match(word) and not respelled.search(word):
            candidates[_BACKGROUND_POS[pos]].append((-freq, word))
    out = {}
    for group, size in BACKGROUND_SIZES.items():
        ranked = sorted(candidates[group])[:size]   # by frequency, then by word
        words = [word for _, word in ranked]
        to_trad.update(zip(words, converter.pieces(words), strict=True))
        out[group] = (words, [-neg for neg, _ in ranked])
    return out


# ============================================================================ rendering


def _render_batch(tb: _Tables, mix: np.ndarray, rng: np.random.Generator,
                  share: float) -> list[tuple[str, str, list[str]]]:
    n = len(mix)
    script = (rng.random(n) < share).astype(np.int64)      # 0 Simplified, 1 Traditional
    contents, first_topic, content_pii = _draw_content(tb, mix, script, rng)

    # per-email habits, all drawn before any string is built
    greeting = _choice(rng, n, len(tb.text["greeting"][0]), P_GREETING)
    sign_off = _choice(rng, n, len(tb.text["sign_off"][0]), P_SIGN_OFF)
    name_line = _choice(rng, n, len(tb.text["name_line"][0]), P_NAME)
    surname = rng.integers(0, len(tb.text["surname"][0]), n)
    given = rng.integers(0, len(tb.text["given"][0]), n)
    tail = _choice(rng, n, len(tb.text["mobile_tail"][0]), P_MOBILE_TAIL)
    careless = rng.random(n) < P_CARELESS
    active = rng.random((n, len(tb.replacement_p))) < tb.replacement_p
    active &= ~tb.replacement_is_typo | careless[:, None]
    contact_clauses = _contact_texts(tb, rng, script, P_CONTACT_CLAUSE, tb.contact_clauses)
    contact_lines = _contact_texts(tb, rng, script, P_CONTACT_LINE, tb.contact_lines)
    quote_style = _choice(rng, n, 4, P_QUOTE)
    quote_draws = rng.integers(0, 1 << 30, size=(n, 8))
    html_style = _choice(rng, n, 3, P_HTML)
    fullwidth = rng.random(n) < P_FULLWIDTH_ALNUM
    halfwidth = rng.random(n) < P_HALFWIDTH_PUNCT
    subject_draw = rng.random((n, 3))

    # Python lists and per-script tables: indexing numpy arrays one email at a time is slow
    text = tb.text
    greetings, sign_offs, name_lines = text["greeting"], text["sign_off"], text["name_line"]
    surnames, given_names, mobile_tails = text["surname"], text["given"], text["mobile_tail"]
    reply_prefixes, generic_subjects = text["reply_prefix"], text["generic_subject"]
    subjects = [text["subject:" + topic] for topic in TOPICS]
    active_email, active_replacement = np.nonzero(active)       # row-major: ascending per email
    active_bounds = np.searchsorted(active_email, np.arange(n + 1)).tolist()
    active_replacement = active_replacement.tolist()
    script, first_topic = script.tolist(), first_topic.tolist()
    greeting, sign_off, name_line, tail = greeting.tolist(), sign_off.tolist(), name_line.tolist(), tail.tolist()
    surname, given = surname.tolist(), given.tolist()
    quote_style, html_style = quote_style.tolist(), html_style.tolist()
    fullwidth, halfwidth, subject_draw = fullwidth.tolist(), halfwidth.tolist(), subject_draw.tolist()

    out = []
    for j in range(n):
        s = script[j]
        content = contents[j]
        replacements = tb.replacements[s]
        for r in active_replacement[active_bounds[j]:active_bounds[j + 1]]:
            old, new = replacements[r]
            content = content.replace(old, new)
        name = surnames[s][surname[j]] + given_names[s][given[j]]
        parts = [greetings[s][greeting[j]] if greeting[j] >= 0 else "", content]
        values = list(content_pii[j])
        clauses = contact_clauses[j]
        if clauses:
            parts.append("，".join([t for t, _ in clauses]) + "。\n")
            values += [v for _, v in clauses]
        if sign_off[j] >= 0:
            parts.append("\n" + sign_offs[s][sign_off[j]] + "\n")
        if name_line[j] >= 0:
            parts.append(name_lines[s][name_line[j]].format(surname=name[0], name=name) + "\n")
        for line, value in contact_lines[j]:
            parts.append(line + "\n")
            values.append(value)
        if tail[j] >= 0:
            parts.append("\n" + mobile_tails[s][tail[j]] + "\n")
        customer = "".join(parts)
        if fullwidth[j]:
            customer = _fullwidth(customer)
            values = [_fullwidth(v) for v in values]
        if halfwidth[j]:
            customer = _halfwidth_punctuation(customer)

        u_subject, u_prefix, u_kind = subject_draw[j]
        subject = _pick(subjects[first_topic[j]][s], u_subject)
        body = customer
        if quote_style[j] >= 0:
            quote, quote_values = _quote(tb, s, quote_style[j], quote_draws[j].tolist(), subject, name)
            body = customer.rstrip("\n") + "\n\n" + quote
            values += quote_values
            subject = _pick(reply_prefixes[s], u_prefix) + subject
        elif u_kind < P_EMPTY_SUBJECT:
            subject = ""
        elif u_kind < P_EMPTY_SUBJECT + P_GENERIC_SUBJECT:
            subject = _pick(generic_subjects[s], u_prefix)
        if s:
            body, subject = tb.repair_traditional(body), tb.repair_traditional(subject)
        if html_style[j] >= 0:
            body = _as_html(body, html_style[j])
        out.append((subject, body, values))
    return out


def _draw_content(tb: _Tables, mix: np.ndarray, script: np.ndarray, rng: np.random.Generator):
    """The content of each email (sentences of clauses), its first topic and its personal data."""
    n, n_topics = mix.shape
    n_clauses = np.minimum(1 + np.rint(rng.gamma(CLAUSES_SHAPE, CLAUSES_SCALE, n)).astype(np.int64),
                           MAX_CLAUSES)
    total = int(n_clauses.sum())
    email_of = np.repeat(np.arange(n), n_clauses)
    first = np.zeros(total, dtype=bool)
    first[np.cumsum(n_clauses) - n_clauses] = True
    last = np.zeros(total, dtype=bool)
    last[np.cumsum(n_clauses) - 1] = True

    # sentences and their topics: inverse-CDF draw from each email's mixture
    opens = first | (rng.random(total) < P_NEW_SENTENCE)
    sentence_of = np.cumsum(opens) - 1
    sentence_email = email_of[opens]
    cum = np.cumsum(mix, axis=1)
    u = rng.random(len(sentence_email))
    sentence_topic = np.minimum((u[:, None] >= cum[sentence_email]).sum(axis=1), n_topics - 1)
    clause_topic = sentence_topic[sentence_of]
    switch = (rng.random(total) < P_TOPIC_SWITCH) & ~first   # the opening clause sets the subject
    u = rng.random(int(switch.sum()))
    clause_topic[switch] = np.minimum((u[:, None] >= cum[email_of[switch]]).sum(axis=1), n_topics - 1)
    first_topic = sentence_topic[np.flatnonzero(first[opens])]
    # an email opens on its topic; later clauses may be topic-neutral
    pool = np.where((rng.random(total) < P_GENERAL) & ~first, n_topics, clause_topic)

    # templates: within an email, the k-th clause of a pool takes (start + k * step) mod len,
    # a random start and a stride coprime with the pool size, so no template repeats
    key = email_of * (n_topics + 1) + pool
    order = np.argsort(key, kind="stable")
    opens_group = np.r_[True, key[order][1:] != key[order][:-1]]
    group_sorted = np.cumsum(opens_group) - 1
    group_first = np.flatnonzero(opens_group)
    group = np.empty(total, dtype=np.int64)
    group[order] = group_sorted
    rank = np.empty(total, dtype=np.int64)
    rank[order] = np.arange(total) - group_first[group_sorted]
    group_pool = pool[order][group_first]
    start = (rng.random(len(group_first)) * tb.pool_len[group_pool]).astype(np.int64)
    step_pick = (rng.random(len(group_first)) * tb.step_len[group_pool]).astype(np.int64)
    step = tb.step_flat[tb.step_offset[group_pool] + step_pick]
    index = (start[group] + rank * step[group]) % tb.pool_len[pool]
    template = tb.pool_flat[tb.pool_offset[pool] + index]

    # slots: one vectorised draw per kind
    n_slots = tb.n_slots[template]
    slot_clause = np.repeat(np.arange(total), n_slots)
    within = np.arange(len(slot_clause)) - np.repeat(np.cumsum(n_slots) - n_slots, n_slots)
    kind = tb.slot_kinds[tb.slot_offset[template][slot_clause] + within]
    kind = np.where(kind == _KIND_W, tb.topic_kind0 + clause_topic[slot_clause], kind)
    u = rng.random(len(kind))
    slot_script = script[email_of[slot_clause]]
    # slots grouped by kind, in slot order within a kind (a stable radix sort on small integers)
    by_kind = np.argsort(kind.astype(np.int16), kind="stable")
    kind_bounds = np.searchsorted(kind[by_kind], np.arange(tb.n_static + len(tb.pii_kind) + 1)).tolist()
    word_id = np.zeros(len(kind), dtype=np.int64)
    for k in range(tb.n_static):
        slots = by_kind[kind_bounds[k]:kind_bounds[k + 1]]
        if len(slots):
            word_id[slots] = tb.kind_offset[k] + np.searchsorted(tb.kind_cdf[k], u[slots], side="right")
    # every slot's text as an index into tb.pieces, or past its end into this batch's personal data
    word_piece = tb.piece_vocab0 + word_id + tb.n_vocab * slot_script
    personal: list[str] = []
    slot_pii: list[list[str]] = [[] for _ in range(n)]
    for k, pii_kind in tb.pii_kind.items():
        positions = by_kind[kind_bounds[k]:kind_bounds[k + 1]]
        if len(positions):
            values = _pii_values(tb, rng, pii_kind, slot_script[positions])
            word_piece[positions] = len(tb.pieces) + len(personal) + np.arange(len(values))
            personal.extend(values)
            for email, value in zip(email_of[slot_clause[positions]].tolist(), values, strict=True):
                slot_pii[email].append(value)

    # separators: comma inside a sentence, an end mark (and maybe a line break) after it
    closes = last | np.r_[opens[1:], True]
    ends = rng.choice(len(SENTENCE_ENDS), size=total, p=SENTENCE_END_P)
    seps = rng.choice(len(CLAUSE_SEPS), size=total, p=CLAUSE_SEP_P)
    breaks = rng.random(total) < P_PARAGRAPH
    separator = np.where(closes, 2 * ends + (breaks | last), 2 * len(SENTENCE_ENDS) + seps)
    # linking words: a connective inside a sentence, an opener at the start of a later one
    n_connectives, n_openers = len(vocab.CONNECTIVES), len(vocab.OPENERS)
    link = np.where(opens, 1 + n_connectives + rng.integers(0, n_openers, total),
                    1 + rng.integers(0, n_connectives, total))
    link_p = np.where(opens, P_OPENER, P_CONNECTIVE)
    link = np.where((rng.random(total) < link_p) & ~first, link, 0)
    # restating the complaint at the end: the email's first topical clause again
    restate = (rng.random(n) < P_RESTATE) & (n_clauses >= 5)
    lead_in = rng.integers(0, len(vocab.RESTATE_LEAD_INS), n)

    # a clause with k slots is 2k + 3 pieces: link, literal, (word, literal) per slot, separator;
    # all pieces of the batch in order, as indices, then one join per email
    clause_script = script[email_of]
    width = 2 * n_slots + 3
    clause_start = np.cumsum(width) - width
    piece = np.empty(int(width.sum()), dtype=np.int64)
    piece[clause_start] = link + tb.n_links // 2 * clause_script
    piece[clause_start + width - 1] = tb.piece_separator0 + separator
    n_literals = n_slots + 1
    literal_clause = np.repeat(np.arange(total), n_literals)
    literal_rank = np.arange(len(literal_clause)) - np.repeat(np.cumsum(n_literals) - n_literals, n_literals)
    first_literal = tb.piece_literal0 + tb.literal_offset[template + tb.n_templates * clause_script]
    piece[clause_start[literal_clause] + 1 + 2 * literal_rank] = first_literal[literal_clause] + literal_rank
    piece[clause_start[slot_clause] + 2 + 2 * within] = word_piece
    table = np.concatenate([tb.pieces, np.array(personal, dtype=object)]) if personal else tb.pieces
    pieces = table[piece].tolist()
    clause_bounds = np.r_[clause_start, len(piece)].tolist()   # clause c: pieces [c] .. [c + 1] - 1
    email_bounds = np.r_[clause_start[np.cumsum(n_clauses) - n_clauses], len(piece)].tolist()
    contents = ["".join(pieces[email_bounds[j]:email_bounds[j + 1]]) for j in range(n)]
    # the restated clauses without their link and separator
    topical = np.flatnonzero(pool < n_topics)
    topical_bounds = np.searchsorted(topical, np.r_[0, np.cumsum(n_clauses)]).tolist()
    topical = topical.tolist()
    lead_in, script_of = lead_in.tolist(), script.tolist()
    restate_text = tb.text["restate"]
    for j in np.flatnonzero(restate).tolist():
        hits = topical[topical_bounds[j]:min(topical_bounds[j + 1], topical_bounds[j] + RESTATED_CLAUSES)]
        if hits:
            again = "，".join(["".join(pieces[clause_bounds[c] + 1:clause_bounds[c + 1] - 1]) for c in hits])
            contents[j] += restate_text[script_of[j]][lead_in[j]] + again + "！\n"
    return contents, first_topic, slot_pii


def _pii_values(tb: _Tables, rng: np.random.Generator, kind: str, scripts: np.ndarray) -> list[str]:
    """``len(scripts)`` personal-data strings of one kind (addresses in each email's script)."""
    count = len(scripts)
    if kind == "phone":
        return pii.mobile_numbers(rng, count)
    if kind == "landline":
        return pii.landline_numbers(rng, count)
    if kind == "email":
        return pii.email_addresses(rng, count)
    if kind == "idcard":
        return pii.id_numbers(rng, count)
    if kind == "bankcard":
        return pii.bank_card_numbers(rng, count)
    if kind == "url":
        return pii.urls(rng, count)
    pieces = pii.address_pieces(rng, count)
    return ["".join(tb.to_trad.get(p, p) for p in address) if s else "".join(address)
            for address, s in zip(pieces, scripts.tolist(), strict=True)]


def _contact_texts(tb: _Tables, rng: np.random.Generator, script: np.ndarray,
                   probabilities: dict[str, float],
                   templates: dict[str, _PerScript]) -> list[list[tuple[str, str]]]:
    """Per email, ``(text, value)`` of each contact clause or signature line it carries."""
    n = len(script)
    kinds = list(probabilities)
    present = rng.random((n, len(kinds))) < np.array([probabilities[k] for k in kinds])
    which = rng.random((n, len(kinds)))
    out: list[list[tuple[str, str]]] = [[] for _ in range(n)]
    script_of = script.tolist()
    for column, kind in enumerate(kinds):
        rows = np.flatnonzero(present[:, column])
        values = _pii_values(tb, rng, kind, script[rows])
        options_of = templates[kind]
        for row, u, value in zip(rows.tolist(), which[rows, column].tolist(), values, strict=True):
            out[row].append((_pick(options_of[script_of[row]], u).format(value), value))
    return out


def _quote(tb: _Tables, s: int, style: int, draws: Sequence[int], subject: str,
           customer: str) -> tuple[str, list[str]]:
    """An earlier reply of the call center, quoted under the customer's text."""
    text = tb.text
    words = text["quote_words"][s]
    agent = text["agent"][s][draws[0] % len(text["agent"][s])]
    reply = text["reply"][s][draws[1] % len(text["reply"][s])].replace("{subject}", subject)
    year, month, day = 2004 + draws[2] % 2, 1 + draws[3] % 12, 1 + draws[4] % 28
    hour, minute = 8 + draws[5] % 10, draws[6] % 60
    date = f"{year}{words[7]}{month}{words[8]}{day}{words[9]}"
    address = vocab.SERVICE_EMAIL
    if style == 0:
        header = (f"{words[0]}\n{words[1]}{agent} <{address}>\n{words[2]}{date} {hour}:{minute:02d}\n"
                  f"{words[3]}{customer}\n{words[4]}{text['reply_prefix'][s][0]}{subject}\n\n")
        return header + reply + "\n", [address]
    quoted = "\n".join(["> " + sentence for sentence in _AFTER_END_MARK.split(reply) if sentence])
    if style == 1:
        return f"{words[5]}{date}，{agent} {words[6]}\n{quoted}\n", []
    if style == 2:
        return quoted + "\n", []
    stamp = f"{year}-{month:02d}-{day:02d} {hour:02d}:{minute:02d} GMT+08:00 {agent} <{address}>:"
    return f"{stamp}\n{quoted}\n", [address]


def _as_html(body: str, style: int) -> str:
    """The body as an HTML mail: paragraphs, <br> lines or <div> blocks."""
    rows = html.escape(body.rstrip("\n"), quote=False).split("\n")   # escaping keeps line breaks
    if style == 0:
        inner = "".join(f"<p>{row}</p>" if row else "<br>" for row in rows)
        return f"<html><body>{inner}</body></html>"
    if style == 1:
        return '<html><head><meta charset="utf-8"></head><body>' + "<br>\n".join(rows) + "</body></html>"
    return "".join(f"<div>{row or '&nbsp;'}</div>" for row in rows)


def _choice(rng: np.random.Generator, n: int, size: int, p_any: float) -> np.ndarray:
    """Per email an index into ``size`` options with probability ``p_any``, else -1."""
    index = rng.integers(0, size, n)
    return np.where(rng.random(n) < p_any, index, -1)


def _fullwidth(text: str) -> str:
    """ASCII letters and digits as their full-width forms (Ａ１); the rest unchanged."""
    # str.translate looks every character up in a dict: ~4x slower than on the few ASCII runs
    return _ASCII_ALNUM.sub(_fullwidth_run, text)


def _fullwidth_run(match: re.Match) -> str:
    return match.group().translate(_FULLWIDTH)


def _halfwidth_punctuation(text: str) -> str:
    """Full-width ，。！？：；（） as ASCII punctuation."""
    # one str.replace per mark beats str.translate's per-character lookup ~10x; no target is a source
    for full, half in _HALFWIDTH_PUNCT:
        text = text.replace(full, half)
    return text


def _pick(options: Sequence[str], u: float) -> str:
    return options[int(u * len(options))]


# ============================================================================ command line


def main(argv: Sequence[str] | None = None) -> None:
    """``write-dicts [folder]`` regenerates conf/dict; ``sample [n] [seed]`` prints emails."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "write-dicts":
        folder = args[1] if len(args) > 1 else Path(__file__).resolve().parents[2] / "conf" / "dict"
        dictionaries.write_dictionaries(folder)
        print(f"wrote {folder}/user_dict.txt and synonyms.txt")
    elif args and args[0] == "sample":
        n = int(args[1]) if len(args) > 1 else 5
        rng = np.random.default_rng(int(args[2]) if len(args) > 2 else 0)
        mix = rng.dirichlet(np.full(len(TOPICS), 0.3), size=n)
        for subject, body, values in render_emails_with_pii(mix, rng, 0.2):
            print(f"=== 主题: {subject}\n{body}\n--- PII: {values}\n")
    else:
        print(main.__doc__)


if __name__ == "__main__":
    main()
