"""The project's text dictionaries (``conf/dict/``): parsing and a version hash.

Formats (``#`` starts a comment line, blank lines are ignored, files are UTF-8):

* ``user_dict.txt`` — jieba's user dictionary, ``word [freq] [pos]`` per line;
* ``synonyms.txt`` — ``variant<TAB>canonical`` per line (misspellings, variants, synonyms);
* ``stopwords.txt`` and ``exclusions.txt`` — one term per line.

Entries are put in the cleaned text's form (half-width, Simplified, lower-case; see
:func:`~churn_spark.text.cleaning.normalize_width_script_case`) so that a Traditional or
upper-case entry still matches. The stages keep the dictionaries' *contents* (not their
paths) so that a saved model is self-contained; :func:`dictionary_version` names them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from churn_spark.text.cleaning import normalize_width_script_case


def read_text(path: str) -> str:
    """A dictionary file's content ('' for an empty path); works for local and Hadoop paths."""
    if not path:
        return ""
    if "://" in path and not path.startswith("file://"):
        import pyarrow.fs as pafs

        fs, rel = pafs.FileSystem.from_uri(path)
        with fs.open_input_stream(rel) as fh:
            return fh.read().decode("utf-8-sig")
    with open(path.removeprefix("file://"), encoding="utf-8-sig") as fh:
        return fh.read()


def _lines(text: str) -> Iterable[str]:
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            yield line


def parse_term_list(text: str) -> list[str]:
    """Stopwords / exclusions: distinct normalised terms, in file order."""
    seen: dict[str, None] = {}
    for line in _lines(text):
        seen.setdefault(normalize_width_script_case(line), None)
    return list(seen)


@dataclass(frozen=True)
class UserWord:
    word: str
    freq: int | None
    tag: str | None


def parse_user_dict(text: str) -> list[UserWord]:
    """jieba user dictionary lines ``word [freq] [pos]``; the word is normalised."""
    words = []
    for line in _lines(text):
        parts = line.split()
        word = normalize_width_script_case(parts[0])
        freq = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        tag = parts[-1] if len(parts) > 1 and not parts[-1].isdigit() else None
        words.append(UserWord(word, freq, tag))
    return words


def parse_synonyms(text: str) -> dict[str, str]:
    """``variant -> canonical`` with chains resolved (a->b, b->c gives a->c); cycles fail."""
    raw: dict[str, str] = {}
    for line in _lines(text):
        if "\t" in line:
            variant, canonical = line.split("\t", 1)
        else:  # tolerate space-separated lines written by hand
            parts = line.split()
            if len(parts) != 2:
                raise ValueError(f"synonyms: expected 'variant<TAB>canonical', got {line!r}")
            variant, canonical = parts
        variant = normalize_width_script_case(variant.strip())
        canonical = normalize_width_script_case(canonical.strip())
        if variant and canonical and variant != canonical:
            raw[variant] = canonical
    return resolve_chains(raw)


def resolve_chains(mapping: Mapping[str, str]) -> dict[str, str]:
    resolved = {}
    for variant in mapping:
        seen = {variant}
        target = mapping[variant]
        while target in mapping:
            if target in seen:
                raise ValueError(f"synonyms: cycle through {variant!r}")
            seen.add(target)
            target = mapping[target]
        resolved[variant] = target
    return resolved


def dictionary_version(texts: Mapping[str, str]) -> str:
    """A short, stable hash of the dictionaries' contents (name -> text)."""
    digest = hashlib.sha256()
    for name in sorted(texts):
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(texts[name].encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()[:16]
