"""Raw email text -> clean text: personal data masked, markup, quotes and signatures removed.

The paper's step 1 ("remove special characters and punctuation") plus what real call-center
mail needs first. :func:`clean_email` runs, in this order:

1. **mask personal data** on the raw text (phones incl. +86 and landlines, email addresses,
   18-digit ID numbers, bank card numbers, URLs, street addresses with house numbers) with
   :data:`PII_PLACEHOLDER`, counting each type. Nothing downstream (segmenter, tables, logs)
   ever sees the raw values.
2. strip HTML: ``<script>/<style>``, quoted ``<blockquote>``, tags (block tags become line
   breaks), entities (``&amp;`` -> ``&``);
3. full-width -> half-width (``１２３ＡＢＣ，`` -> ``123ABC,``) and mask again, which catches
   personal data written with full-width digits or hidden behind HTML entities;
4. Traditional -> Simplified Chinese (OpenCC ``t2s`` tables, see :class:`TraditionalToSimplified`);
5. drop quoted earlier replies (lines starting with ``>``; everything after
   ``-----原始邮件-----`` / ``Original Message`` / ``在 ... 写道：`` / ``On ... wrote:`` /
   an Outlook ``发件人:``/``From:`` header / an attribution line ending in ``:`` above ``>``
   lines) and signatures (after ``--`` or ``发自我的...``, or a closing line such as
   ``谢谢！``/``此致``/``Best regards`` followed only by a few short lines: name, contacts);
6. lower-case Latin text, replace every character that is not a CJK ideograph, Latin letter
   or digit by a space (punctuation, symbols, emoji, the placeholder), collapse spaces.

Full-width/half-width and Traditional/Simplified normalisation play the role of case
conversion for Chinese (PAPER.md, step 2).
"""

from __future__ import annotations

import html
import os
import re
from functools import lru_cache

import pandas as pd
from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasInputCols, HasOutputCol
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

# ---------------------------------------------------------------------------------------
# personal data

#: What a masked value is replaced by: a symbol, so step 6 turns it into a space and the
#: segmenter never sees a token there.
PII_PLACEHOLDER = " \u2205 "

#: PII types in masking order (the order matters: an 18-digit ID would also match the bank
#: card pattern, and landline patterns would match inside a spaced bank card number).
PII_TYPES: tuple[str, ...] = ("url", "email", "id_number", "bank_card", "phone", "address")

_SEP = r"[ \-]?"  # digit groups may be separated by one space or hyphen
_CC = r"\(?(?:\+|00)?86\)?"  # country code: +86, 0086, (+86), 86
_HAN = r"[\u4e00-\u9fff]"
_STREET = r"(?:路|街|大道|巷|弄|胡同)"
_UNIT = r"(?:号楼|號樓|栋|棟|幢|座|弄|号|號|单元|單元|室|楼|樓|层|層)"
_PII_PATTERNS: dict[str, re.Pattern[str]] = {
    "url": re.compile(r"(?:https?://|ftp://|www\.)[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+", re.I),
    # "++": giving back characters of the name cannot put the '@' (not one of them) after it, so
    # the possessive form finds the same matches without retrying every shorter name (~3x faster)
    "email": re.compile(r"[A-Za-z0-9._%+\-]++@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+"),
    # 6-digit region, birth date 18xx-20xx, 3-digit sequence, check character (GB 11643)
    "id_number": re.compile(
        r"(?<!\d)\d{6}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[0-9Xx](?![0-9A-Za-z])"),
    # 16-19 digits, optionally grouped
    "bank_card": re.compile(rf"(?<!\d)\d(?:{_SEP}\d){{15,18}}(?!\d)"),
    "phone": re.compile(
        r"(?<![\d+])(?:"
        # mobile 1[3-9]x xxxx xxxx, optionally with a country code
        rf"(?:{_CC}{_SEP})?1[3-9]\d(?:{_SEP}\d{{4}}){{2}}"
        r"|"
        # landline: (0xx) / 0xxx / +86 xx area code, then 7-8 digits in one or two groups
        rf"(?:{_CC}{_SEP}\(?0?\d{{2,3}}\)?|\(0\d{{2,3}}\)|0\d{{2,3}}){_SEP}\d{{3,4}}{_SEP}\d{{3,4}}"
        r")(?!\d)"),
    # street + house number (+ building, unit, room): 中山路12号3栋501室, 和平街395號翠苑新村8號樓.
    # The street name is taken when it follows a district/city suffix or a non-Chinese
    # character, else only from the street suffix on (Chinese has no word boundaries).
    # City and district names stay: public, and dropped as place names (ns) by the POS filter.
    "address": re.compile(
        rf"(?:(?:(?<=[省市区區县縣镇鎮])|(?<!{_HAN})){_HAN}{{1,4}}?(?={_STREET}\s*\d))?"
        rf"{_STREET}\s*\d+\s*[号號](?:\s*(?:{_HAN}{{2,6}}?)?\s*\d+\s*{_UNIT})*"),
}
# Cheap tests that skip a pattern for the many emails that cannot contain its kind of data.
# The digit-based kinds (IDs, cards, phones) are searched only inside runs of digits and
# separators holding at least 7 characters, found by one fast scan.
_NUMBER_RUN = re.compile(r"[(+\d][\d \-()+]{5,}[\dXx]")
_NUMBER_KINDS = ("id_number", "bank_card", "phone")
# The fewest characters a match of each digit-based kind has (ID: 18; card: 16 digits; phone: a
# 3-digit area code and two 3-digit groups): a shorter run is not searched for that kind.
_MIN_LENGTH = {"id_number": 18, "bank_card": 16, "phone": 9}
# Every address match holds one of these (its street and number) and starts at most 4
# characters (the name before the street) before it.
_ADDRESS_HINT = re.compile(rf"{_STREET}\s*\d")
_ADDRESS_MAX_LEAD = 4


def _has_url(text: str) -> bool:
    return "://" in text or "www." in text or "WWW." in text


def mask_pii(text: str, counts: dict[str, int] | None = None) -> str:
    """Replace personal data in ``text`` by :data:`PII_PLACEHOLDER`; add what was found to ``counts``."""
    counts = counts if counts is not None else {}
    if _has_url(text):
        text = _mask(text, "url", counts)
    if "@" in text:
        text = _mask(text, "email", counts)
    # one pass: sub finds the runs itself and returns the text unchanged when there is none
    text = _NUMBER_RUN.sub(lambda m: _mask_number_run(m.group(), counts), text)
    return _mask_addresses(text, counts)


def _mask(text: str, kind: str, counts: dict[str, int]) -> str:
    text, n = _PII_PATTERNS[kind].subn(PII_PLACEHOLDER, text)
    if n:
        counts[kind] = counts.get(kind, 0) + n
    return text


def _mask_addresses(text: str, counts: dict[str, int]) -> str:
    """``_mask(text, "address", counts)``, but the pattern is tried only where a match can start.

    The address pattern has no literal start, so a plain scan tries it at every character (~40 us
    on an email with a street number); here it is tried only at the few places before each street
    with a number, left to right as the scan would reach them, resuming after a match's end.
    """
    address = _PII_PATTERNS["address"]
    pieces, end = [], 0
    for hint in _ADDRESS_HINT.finditer(text):
        for start in range(max(end, hint.start() - _ADDRESS_MAX_LEAD), hint.start() + 1):
            match = address.match(text, start)  # look-behinds still see the text before start
            if match:
                pieces += [text[end:start], PII_PLACEHOLDER]
                end = match.end()
                break
    if not pieces:
        return text
    counts["address"] = counts.get("address", 0) + len(pieces) // 2
    return "".join(pieces) + text[end:]


def _mask_number_run(run: str, counts: dict[str, int]) -> str:
    for kind in _NUMBER_KINDS:
        if len(run) >= _MIN_LENGTH[kind]:  # a pattern cannot match more characters than the run has
            run = _mask(run, kind, counts)
    return run


def find_pii(text: str) -> list[tuple[str, str]]:
    """``(type, value)`` of every piece of personal data the patterns find, each pattern on the whole text.

    The plain (slow) reference for audits and tests; :func:`mask_pii` is the fast path.
    """
    found = []
    for kind in PII_TYPES:
        found.extend((kind, m.group()) for m in _PII_PATTERNS[kind].finditer(text))
        text = _PII_PATTERNS[kind].sub(PII_PLACEHOLDER, text)
    return found


# ---------------------------------------------------------------------------------------
# markup, quotes, signatures

_HTML_DROP = re.compile(r"<(script|style|blockquote)\b.*?</\1\s*>", re.S | re.I)
_HTML_BLOCK = re.compile(r"<\s*/?\s*(?:br|p|div|li|ul|ol|tr|td|th|table|h[1-6]|hr)\b[^>]*>", re.I)
_HTML_TAG = re.compile(r"<[!/]?[A-Za-z][^<>]{0,1000}>|<!--.*?-->", re.S)

# Quotes and signatures are found after Traditional -> Simplified conversion and with
# half-width punctuation, so the patterns need only Simplified forms and ASCII ':'.
# The line patterns below are searched in "\n" + text and start with that line break where
# re.M's "^" would stand: a pattern starting with a literal lets the regex engine jump from line
# break to line break instead of trying a match at every character (~2x faster). A match's start
# in "\n" + text is then its line's start in text, its end one past the end in text.
# A line where the quoted earlier mail begins: everything from it on is dropped.
_QUOTE_HEADER = (
    r"[ \t]*(?:"
    r"-{2,}[ \t]*(?:原始邮件|original message|forwarded message|转发邮件|转发的邮件)[ \t]*-{2,}"
    r"|在.{0,120}写道[ \t]*:?"
    r"|on[ \t].{0,200}[ \t]wrote[ \t]*:"
    r"|(?:发件人|寄件者|寄件人|from)[ \t]*:.*"
    r")[ \t]*$"
    # an attribution line ("2004-07-02 15:30 客服部 <...>:") directly above quoted lines
    r"|[^\n]*:[ \t]*\n[ \t]*>")
# A line where the signature begins ("-- " is the RFC 3676 delimiter), or a device tail.
_SIGNATURE = r"[ \t]*(?:--|—{1,2}|_{3,}|-{3,}|(?:发自|来自)我的.*|sent from my .*|从我的.{0,20}发送)[ \t]*$"
# Either: one search finds the earlier of the two (the leftmost match of A|B is A's or B's, whichever starts first).
_CUT_LINE = re.compile(rf"\n(?:{_QUOTE_HEADER}|{_SIGNATURE})", re.I | re.M)
# A closing line (谢谢！, 此致 敬礼, Best regards): cut there when only short lines follow it.
_SIGN_OFF = re.compile(
    r"\n[ \t]*(?:谢谢|多谢|感谢|此致|盼复|急盼|期待|祝好|顺祝|麻烦了|thanks|thank you|best regards|regards)"
    r"[^\n]{0,12}$", re.I | re.M)
_SIGNATURE_MAX_LINES, _SIGNATURE_MAX_LINE = 6, 30
_SENTENCE_PUNCTUATION = re.compile(r"[，。！？；,!?;]")  # inside a line: prose, not a signature
_QUOTED_LINE = re.compile(r"^\s*>.*$", re.M)
_SUBJECT_PREFIX = re.compile(r"^\s*(?:(?:re|fw|fwd|aw|回复|回覆|答复|转发|轉發)\s*[:：]\s*)+", re.I)

# full-width ASCII (U+FF01-FF5E) -> ASCII, ideographic space -> space
_HALF_WIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
# Full-width characters whose conversion matters (letters, digits, the symbols of e-mail
# addresses, URLs, phone numbers and quote headers). Full-width punctuation such as ，。！
# becomes a space in the last step anyway, so text with only that skips the conversion.
_WIDTH_NEEDED = re.compile("[\u3000\uff05\uff08-\uff0b\uff0d-\uff1a\uff20-\uff3a\uff3f\uff41-\uff5a]")
# The full-width characters of Chinese prose, most frequent first: _to_half_width converts them
# with str.replace, ~4x faster than str.translate (a dict look-up and a KeyError per character).
_COMMON_FULL_WIDTH = "，：！？（）；"
_FULL_WIDTH = re.compile("[\u3000\uff01-\uff5e]")  # the keys of _HALF_WIDTH
# a word: a run of CJK ideographs, ASCII lower-case letters and digits; everything else separates words
_WORD = re.compile(r"[0-9a-z\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


def _to_half_width(text: str) -> str:
    """``text.translate(_HALF_WIDTH)``: the common characters by str.replace, the rest (rare) by translate."""
    for char in _COMMON_FULL_WIDTH:
        if char in text:
            text = text.replace(char, chr(_HALF_WIDTH[ord(char)]))
    if _FULL_WIDTH.search(text):  # the replacements are ASCII, so translate leaves them as they are
        text = text.translate(_HALF_WIDTH)
    return text


def strip_html(text: str) -> str:
    """Remove markup: dropped elements, tags (block tags -> newline) and entities."""
    if "<" not in text and "&" not in text:  # every pattern below and every entity starts with one of them
        return text
    text = _HTML_DROP.sub("\n", text)
    text = _HTML_BLOCK.sub("\n", text)
    text = _HTML_TAG.sub("", text)
    return html.unescape(text)


def strip_quotes_and_signature(text: str) -> str:
    """Cut at the first quote header or signature line, then a trailing sign-off block; drop ``>`` lines."""
    match = _CUT_LINE.search("\n" + text)
    if match:
        text = text[:match.start()]
    if ">" in text:  # a quoted line has one
        text = _QUOTED_LINE.sub("", text)
    for match in reversed(list(_SIGN_OFF.finditer("\n" + text))):
        line_start, line_end = match.start(), match.end() - 1  # in text (see _QUOTE_HEADER)
        rest = [line for line in text[line_end:].splitlines() if line.strip()]
        if len(rest) <= _SIGNATURE_MAX_LINES and all(_signature_like(line) for line in rest):
            text = text[:line_start]
        else:
            break
    return text


def _signature_like(line: str) -> bool:
    line = line.strip()
    return len(line) <= _SIGNATURE_MAX_LINE and not _SENTENCE_PUNCTUATION.search(line[:-1])


_NON_BMP = re.compile("[\U00010000-\U0010ffff]")


class TraditionalToSimplified:
    """OpenCC ``t2s`` as two table look-ups: a phrase pass, then ``str.translate`` per character.

    opencc-python-reimplemented converts ~1 MB/s, a third of jieba's POS-mode speed; this
    gives the same text (measured on the generated corpus by ``tests/unit/test_text_cleaning.py``)
    at ~100x the speed. The tables are OpenCC's own: ``TSCharacters.txt`` (first candidate per
    character, as OpenCC takes) and ``TSPhrases.txt``, of which only the phrases whose
    conversion differs from the character-by-character one need the phrase pass.
    """

    def __init__(self) -> None:
        import opencc

        folder = os.path.join(os.path.dirname(opencc.__file__), "dictionary")
        chars = _read_opencc_table(os.path.join(folder, "TSCharacters.txt"))
        singles = {k: v for k, v in chars.items() if len(k) == 1 and k != v}
        self._char_map = str.maketrans(singles)
        phrases = _read_opencc_table(os.path.join(folder, "TSPhrases.txt"))
        self._phrases = {k: v for k, v in phrases.items() if k.translate(self._char_map) != v}
        alternatives = sorted(self._phrases, key=len, reverse=True)
        self._phrase_re = re.compile("|".join(map(re.escape, alternatives))) if alternatives else None
        # text without any of these characters is left as it is (most emails are Simplified): the
        # characters that convert, and one character of each phrase made only of characters that
        # do not (a phrase cannot match without each of its characters). That one is taken from
        # the character table (e.g. 瞭, 覆: rare in Simplified text), not a common one like 一
        converting, in_table = frozenset(singles), frozenset(k for k in chars if len(k) == 1)
        self._traditional = converting | {next((c for c in k if c in in_table), k[0])
                                          for k in self._phrases if converting.isdisjoint(k)}
        # The same tests and tables in faster forms. A character class finds a character of
        # _traditional ~7x faster than frozenset.isdisjoint; the regex engine holds the BMP ones in a
        # bitmap but would try the others one by one, so the class has the range of all non-BMP
        # characters instead, and text with any of those gets the exact set test.
        bmp = sorted(c for c in self._traditional if c <= "\uffff")
        self._traditional_or_non_bmp = re.compile("[" + "".join(map(re.escape, bmp)) + "\U00010000-\U0010ffff]")
        # str.translate with a list indexed by code point is ~2x faster than with a dict (which raises
        # a KeyError for each character it leaves); code points past the list's end are left too, so
        # the list serves text of BMP characters only.
        self._bmp_char_map = list(range(max((cp for cp in self._char_map if cp <= 0xFFFF), default=-1) + 1))
        for cp, target in self._char_map.items():
            if cp < len(self._bmp_char_map):
                self._bmp_char_map[cp] = target

    def convert(self, text: str) -> str:
        if not self._traditional_or_non_bmp.search(text):  # Simplified text: nothing to convert
            return text
        non_bmp = _NON_BMP.search(text) is not None
        if non_bmp and self._traditional.isdisjoint(text):
            return text
        char_map = self._char_map if non_bmp else self._bmp_char_map
        if self._phrase_re is None or not self._phrase_re.search(text):
            return text.translate(char_map)
        pieces, last = [], 0
        for match in self._phrase_re.finditer(text):
            pieces.append(text[last:match.start()].translate(char_map))
            pieces.append(self._phrases[match.group()])
            last = match.end()
        pieces.append(text[last:].translate(char_map))
        return "".join(pieces)


def _read_opencc_table(path: str) -> dict[str, str]:
    table = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            source, _, targets = line.rstrip("\n").partition("\t")
            if source and targets:
                table[source] = targets.split(" ")[0]
    return table


@lru_cache(maxsize=1)
def t2s() -> TraditionalToSimplified:
    """The converter of this process (built once per Python worker)."""
    return TraditionalToSimplified()


def normalize_width_script_case(text: str, to_simplified: bool = True) -> str:
    """Half-width, Simplified, lower-case: how dictionary entries are put in the cleaned text's form."""
    text = text.translate(_HALF_WIDTH)
    if to_simplified:
        text = t2s().convert(text)
    return text.lower()


def clean_email(subject: str | None, body: str | None, counts: dict[str, int] | None = None, *,
                to_simplified: bool = True, strip_quotes: bool = True) -> str:
    """One email's clean text (see the module docstring for the steps); masked PII added to ``counts``.

    >>> clean_email("回覆：投訴", "請致電 13812345678。<br>&gt; 舊郵件")
    '投诉 请致电'
    """
    subject = _SUBJECT_PREFIX.sub("", subject or "")
    text = f"{subject}\n{body or ''}" if subject else (body or "")
    masked = mask_pii(text, counts)
    text = strip_html(masked)
    width_converted = _WIDTH_NEEDED.search(text) is not None
    if width_converted:
        text = _to_half_width(text)
    if width_converted or text is not masked:  # markup or full-width characters may have hidden personal data
        text = mask_pii(text, counts)
    if to_simplified:
        text = t2s().convert(text)
    if strip_quotes:
        text = strip_quotes_and_signature(text)
    # the words joined by one space: what replacing each run of non-word characters by a space and stripping gives
    return " ".join(_WORD.findall(text.lower()))


# ---------------------------------------------------------------------------------------
# the Spark ML stage

class EmailCleaner(Transformer, HasInputCols, HasOutputCol, DefaultParamsReadable, DefaultParamsWritable):
    """Transformer: subject + body -> clean text (see :func:`clean_email`).

    ``inputCols`` are joined with a line break (the first is treated as the subject, whose
    ``Re:``/``回复：`` prefixes are dropped); null columns count as empty. The per-email counts
    of masked values come with the texts from :meth:`batch_function` (the text stage's
    ``emails_to_terms(..., with_mask_counts=True)``).
    """

    toSimplified = Param(Params._dummy(), "toSimplified", "convert Traditional to Simplified Chinese",
                         typeConverter=TypeConverters.toBoolean)
    stripQuotes = Param(Params._dummy(), "stripQuotes",
                        "drop quoted earlier replies and signatures", typeConverter=TypeConverters.toBoolean)

    @keyword_only
    def __init__(self, *, inputCols: list[str] | None = None, outputCol: str | None = None,
                 toSimplified: bool | None = None, stripQuotes: bool | None = None) -> None:
        super().__init__()
        self._setDefault(inputCols=["subject", "body"], outputCol="clean_text", toSimplified=True,
                         stripQuotes=True)
        self._set(**self._input_kwargs)

    @keyword_only
    def setParams(self, *, inputCols: list[str] | None = None, outputCol: str | None = None,
                  toSimplified: bool | None = None, stripQuotes: bool | None = None) -> EmailCleaner:
        return self._set(**self._input_kwargs)

    def batch_function(self):
        """A picklable ``f(*input columns as pd.Series) -> (texts, counts rows)`` for one batch.

        A counts row holds, per email, how many values of each :data:`PII_TYPES` type were masked.
        """
        to_simplified, strip_quotes = self.getOrDefault("toSimplified"), self.getOrDefault("stripQuotes")
        n_inputs = len(self.getInputCols())
        no_counts = (0,) * len(PII_TYPES)

        def clean_batch(*columns: pd.Series) -> tuple[list[str], list[tuple[int, ...]]]:
            texts, count_rows = [], []
            subjects = columns[0] if n_inputs > 1 else [None] * len(columns[0])
            bodies = _join_columns(columns[1:]) if n_inputs > 1 else columns[0]
            for subject, body in zip(subjects, bodies, strict=True):
                counts: dict[str, int] = {}
                texts.append(clean_email(_str(subject), _str(body), counts,
                                         to_simplified=to_simplified, strip_quotes=strip_quotes))
                count_rows.append(tuple([counts.get(kind, 0) for kind in PII_TYPES]) if counts else no_counts)
            return texts, count_rows

        return clean_batch

    def _transform(self, dataset: DataFrame) -> DataFrame:
        clean_batch = self.batch_function()

        @F.pandas_udf(T.StringType())
        def clean_text(*columns: pd.Series) -> pd.Series:
            return pd.Series(clean_batch(*columns)[0])

        return dataset.withColumn(self.getOutputCol(), clean_text(*[F.col(c) for c in self.getInputCols()]))


def _str(value) -> str | None:
    return value if isinstance(value, str) else None


def _join_columns(columns: tuple[pd.Series, ...]) -> list[str | None]:
    if len(columns) == 1:
        return list(columns[0])
    return ["\n".join(v for v in values if isinstance(v, str)) for values in zip(*columns, strict=True)]
