"""Chinese word segmentation with part-of-speech filtering (the paper's steps 2-3).

:class:`ChineseSegmenter` cuts clean text into words with jieba's POS mode
(``jieba.posseg``) plus the project's user dictionary, and keeps the informative classes:
a word is kept when its tag starts with one of ``keepPos`` (default nouns ``n``, verbs
``v``, adjectives ``a``, adverbs ``d``, Latin words ``eng``; so ``vn``, ``an``, ``ad`` ... too)
and with none of ``dropPos`` (default the proper nouns ``nr ns nt nz``). Numbers ``m``,
pronouns ``r``, conjunctions ``c``, prepositions ``p``, particles ``u``/``y``, interjections
``e``, punctuation ``x`` ... are dropped because no keep prefix matches them. Words that
contain a digit are dropped as well (order numbers, residues of masked data).

Where the work happens: on the executors. Each Python worker builds its segmenter once
(:func:`segmenter_for`, a module-level cache keyed by backend, dictionary hash and POS
lists) from the user dictionary *text*, which travels in the UDF's closure (works on Spark
Connect; classic Spark broadcasts a large pickled command itself); the tokenizer itself is
never pickled. The stage is therefore self-contained: a saved model
carries its dictionary and works under spark-submit on workers that have no ``conf/``.

Backends (``backend`` param, config ``text.segmenter``):

* ``jieba`` (the reference) — ``jieba.posseg.POSTokenizer.cut``.
* ``rjieba`` — the same algorithm with the Rust port doing the dictionary part:
  ``rjieba.Jieba.cut(hmm=False)`` gives jieba's maximum-probability route over the
  dictionary DAG; runs of characters the dictionary does not know are then tagged exactly
  as ``posseg`` does (its HMM over runs of single characters, memoised per run) and known
  words get their tag from jieba's word->tag table. The agreement with ``jieba`` on the
  generated corpus is measured by ``tests/unit/test_text_segment.py`` and ``python -m bench.text``;
  it is the pipeline's default (``conf/pipeline.yaml``) because it is ~15x faster.
  ``terms()`` fuses that tagging with the filter: one ``cut`` per text, and the decision per
  dictionary word and the kept words per buffer cached (bounded), so it returns the filter
  over ``tag()`` exactly at ~47 us instead of ~125 us per generated email (warm caches).
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence

import pandas as pd
from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasInputCol, HasOutputCol
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from churn_spark.text.dictionaries import UserWord, dictionary_version, parse_user_dict

BACKENDS = ("jieba", "rjieba")
DEFAULT_KEEP_POS = ["n", "v", "a", "d", "eng"]
DEFAULT_DROP_POS = ["nr", "ns", "nt", "nz"]
_DIGIT = re.compile(r"\d")
_CACHE_SIZE = 200_000  # buffers memoised per segmenter (unknown runs: HMM tags, kept words)
_BUFFER, _KEEP, _DROP = 0, 1, 2  # what terms() does with an rjieba token


class PosFilter:
    """``keep(tag)``: a tag starts with a keep prefix and with no drop prefix (cached per tag)."""

    def __init__(self, keep: Sequence[str], drop: Sequence[str]):
        self.keep_prefixes, self.drop_prefixes = tuple(keep), tuple(drop)
        self._decisions: dict[str, bool] = {}

    def __call__(self, tag: str) -> bool:
        decision = self._decisions.get(tag)
        if decision is None:
            decision = tag.startswith(self.keep_prefixes) and not tag.startswith(self.drop_prefixes)
            self._decisions[tag] = decision
        return decision


class Segmenter:
    """One process's tokenizer: ``tag(text) -> [(word, pos)]`` and ``terms(text) -> [word]``."""

    def __init__(self, backend: str, user_words: Sequence[UserWord], keep: Sequence[str],
                 drop: Sequence[str]):
        import jieba
        import jieba.posseg

        if backend not in BACKENDS:
            raise ValueError(f"unknown segmenter backend {backend!r}; expected one of {BACKENDS}")
        jieba.setLogLevel(logging.WARNING)
        self.backend = backend
        self._tokenizer = jieba.Tokenizer()
        self._tokenizer.initialize()
        # the frequency jieba would suggest is computed once, so both backends get the same number
        # a user word without a tag is a domain term: tag it as a noun (posseg would say 'x')
        resolved = [(w.word, w.freq if w.freq is not None else self._tokenizer.suggest_freq(w.word, False),
                     w.tag or "n") for w in user_words]
        for word, freq, tag in resolved:
            self._tokenizer.add_word(word, freq, tag)
        self._pos = jieba.posseg.POSTokenizer(self._tokenizer)
        self._pos.makesure_userdict_loaded()
        self._filter = PosFilter(keep, drop)
        if backend == "rjieba":
            import rjieba

            self._rust = rjieba.Jieba()
            for word, freq, tag in resolved:
                self._rust.add_word(word, freq, tag)
            self._freq = self._tokenizer.FREQ
            self._tags = self._pos.word_tag_tab
            self._detail = self._pos._POSTokenizer__cut_detail  # posseg's HMM for unknown runs
            self._detail_cache: OrderedDict[str, list[tuple[str, str]]] = OrderedDict()
            # terms(): what to do with a token, per word (bounded: dictionary words and single
            # characters only) and the kept words of a buffer, per buffer (first in, first out)
            self._decisions: dict[str, int] = {}
            self._buffer_terms_cache: OrderedDict[str, tuple[str, ...]] = OrderedDict()

    def tag(self, text: str) -> list[tuple[str, str]]:
        """Every word of ``text`` with its POS tag (whitespace dropped)."""
        if self.backend == "jieba":
            return [(p.word, p.flag) for p in self._pos.cut(text) if not p.word.isspace()]
        return self._tag_rjieba(text)

    def terms(self, text: str) -> list[str]:
        """The informative words of ``text``, in order: the words of :meth:`tag` whose tag passes
        the POS filter and that contain no digit."""
        if self.backend == "rjieba":
            return self._terms_rjieba(text)
        keep = self._filter
        return [w for w, t in self.tag(text) if keep(t) and not _DIGIT.search(w)]

    # posseg's __cut_DAG, with rjieba computing the route (see the module docstring)
    def _tag_rjieba(self, text: str) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        tags, freq = self._tags, self._freq
        for block in text.split():
            buf = ""
            for word in self._rust.cut(block, False):
                # single characters, and runs rjieba groups that jieba's DAG leaves as single
                # characters (Latin letters, digits: not in the dictionary), gather in a buffer
                if len(word) == 1 or not freq.get(word):
                    buf += word
                    continue
                if buf:
                    self._flush(buf, out)
                    buf = ""
                out.append((word, tags.get(word, "x")))
            if buf:
                self._flush(buf, out)
        return out

    def _flush(self, buf: str, out: list[tuple[str, str]]) -> None:
        if len(buf) == 1 or self._freq.get(buf):
            out.extend(self._buffer_tags(buf))
            return
        cached = self._detail_cache.get(buf)
        if cached is None:
            cached = self._buffer_tags(buf)
            self._detail_cache[buf] = cached
            if len(self._detail_cache) > _CACHE_SIZE:
                self._detail_cache.popitem(last=False)
        out.extend(cached)

    def _buffer_tags(self, buf: str) -> list[tuple[str, str]]:
        """posseg's words and tags for a buffer: a character, an unknown run (its HMM), or a word's characters."""
        if len(buf) == 1:
            return [(buf, self._tags.get(buf, "x"))]
        if not self._freq.get(buf):
            return [(p.word, p.flag) for p in self._detail(buf)]
        return [(c, self._tags.get(c, "x")) for c in buf]

    # terms() over rjieba: _tag_rjieba and the filter of terms() fused into one pass with one dict
    # lookup per token. One cut per text instead of one per block: rjieba never puts whitespace
    # inside a token (it emits each whitespace character alone), so its tokens are those of the
    # blocks with whitespace tokens between them, and a whitespace token ends the buffer as a block
    # end does (tests/unit/test_text_segment.py checks terms() against the filter over tag()).
    def _terms_rjieba(self, text: str) -> list[str]:
        terms: list[str] = []
        decisions, buffer_terms = self._decisions, self._buffer_terms_cache
        buf = ""
        for word in self._rust.cut(text, False):
            decision = decisions.get(word)
            if decision is None:
                decision = self._decide(word)
            if decision == _BUFFER:
                buf += word
                continue
            if buf:
                kept = buffer_terms.get(buf)
                terms.extend(self._buffer_terms(buf) if kept is None else kept)
                buf = ""
            if decision == _KEEP:
                terms.append(word)
        if buf:
            kept = buffer_terms.get(buf)
            terms.extend(self._buffer_terms(buf) if kept is None else kept)
        return terms

    def _decide(self, word: str) -> int:
        """What terms() does with an rjieba token: buffer it, or end the buffer and keep or drop it."""
        if word.isspace():
            decision = _DROP
        elif len(word) == 1 or not self._freq.get(word):
            decision = _BUFFER
        elif self._filter(self._tags.get(word, "x")) and not _DIGIT.search(word):
            decision = _KEEP
        else:
            decision = _DROP
        if len(word) == 1 or word in self._freq:  # not unknown runs (order numbers ...): the cache stays bounded
            self._decisions[word] = decision
        return decision

    def _buffer_terms(self, buf: str) -> tuple[str, ...]:
        """The kept words of a buffer (memoised, first in first out)."""
        keep = self._filter
        kept = tuple(w for w, t in self._buffer_tags(buf) if keep(t) and not _DIGIT.search(w))
        self._buffer_terms_cache[buf] = kept
        if len(self._buffer_terms_cache) > _CACHE_SIZE:
            self._buffer_terms_cache.popitem(last=False)
        return kept


_SEGMENTERS: OrderedDict[tuple, Segmenter] = OrderedDict()
_LOCK = threading.Lock()


def segmenter_for(backend: str, dict_key: str, user_dict_text: str, keep: Sequence[str],
                  drop: Sequence[str]) -> Segmenter:
    """This process's segmenter for a dictionary, built on first use and then reused.

    ``user_dict_text`` is parsed only when the segmenter is built. At most two segmenters are
    kept per process.
    """
    key = (backend, dict_key, tuple(keep), tuple(drop))
    with _LOCK:
        segmenter = _SEGMENTERS.get(key)
        if segmenter is None:
            segmenter = Segmenter(backend, parse_user_dict(user_dict_text), keep, drop)
            _SEGMENTERS[key] = segmenter
            while len(_SEGMENTERS) > 2:
                _SEGMENTERS.popitem(last=False)
        return segmenter


class ChineseSegmenter(Transformer, HasInputCol, HasOutputCol, DefaultParamsReadable, DefaultParamsWritable):
    """Transformer: clean text -> ``array<string>`` of informative words (see the module docstring).

    ``userDictionary`` holds the user dictionary's text (jieba format ``word [freq] [pos]``),
    so a saved stage segments new text exactly as at training time; ``dictionaryVersion``
    records the hash of all text dictionaries the pipeline was built with.
    """

    userDictionary = Param(Params._dummy(), "userDictionary", "user dictionary text (jieba format)",
                           typeConverter=TypeConverters.toString)
    dictionaryVersion = Param(Params._dummy(), "dictionaryVersion",
                              "hash of the dictionaries the pipeline was built with",
                              typeConverter=TypeConverters.toString)
    keepPos = Param(Params._dummy(), "keepPos", "POS tag prefixes to keep",
                    typeConverter=TypeConverters.toListString)
    dropPos = Param(Params._dummy(), "dropPos", "POS tag prefixes to drop even if a keep prefix matches",
                    typeConverter=TypeConverters.toListString)
    backend = Param(Params._dummy(), "backend", "jieba | rjieba", typeConverter=TypeConverters.toString)

    @keyword_only
    def __init__(self, *, inputCol: str | None = None, outputCol: str | None = None,
                 userDictionary: str | None = None, dictionaryVersion: str | None = None,
                 keepPos: list[str] | None = None, dropPos: list[str] | None = None,
                 backend: str | None = None) -> None:
        super().__init__()
        self._setDefault(inputCol="clean_text", outputCol="raw_terms", userDictionary="",
                         dictionaryVersion="", keepPos=list(DEFAULT_KEEP_POS),
                         dropPos=list(DEFAULT_DROP_POS), backend="jieba")
        self._set(**self._input_kwargs)

    @keyword_only
    def setParams(self, *, inputCol: str | None = None, outputCol: str | None = None,
                  userDictionary: str | None = None, dictionaryVersion: str | None = None,
                  keepPos: list[str] | None = None, dropPos: list[str] | None = None,
                  backend: str | None = None) -> ChineseSegmenter:
        return self._set(**self._input_kwargs)

    def local_segmenter(self) -> Segmenter:
        """The segmenter of this process for the stage's params (driver-side use, tests, benchmarks)."""
        text = self.getOrDefault("userDictionary")
        return segmenter_for(self.getOrDefault("backend"), dictionary_version({"user": text}), text,
                             self.getOrDefault("keepPos"), self.getOrDefault("dropPos"))

    def batch_function(self):
        """A picklable ``f(texts) -> list of term lists``; the dictionary goes in its closure.

        A closure rather than a broadcast works on Spark Connect, and classic Spark broadcasts a
        large pickled command itself.
        """
        text = self.getOrDefault("userDictionary")
        backend, keep, drop = (self.getOrDefault("backend"), self.getOrDefault("keepPos"),
                               self.getOrDefault("dropPos"))
        if backend not in BACKENDS:
            raise ValueError(f"unknown segmenter backend {backend!r}; expected one of {BACKENDS}")
        dict_key = dictionary_version({"user": text})

        def segment_batch(texts) -> list[list[str]]:
            segmenter = segmenter_for(backend, dict_key, text, keep, drop)
            return [segmenter.terms(t) if isinstance(t, str) else [] for t in texts]

        return segment_batch

    def _transform(self, dataset: DataFrame) -> DataFrame:
        segment_batch = self.batch_function()

        @F.pandas_udf(T.ArrayType(T.StringType()))
        def segment(texts: pd.Series) -> pd.Series:
            return pd.Series(segment_batch(texts))

        return dataset.withColumn(self.getOutputCol(), segment(F.col(self.getInputCol())))
