"""Simplified -> Traditional conversion that OpenCC's t2s turns back into the same text.

OpenCC's ``s2t`` then ``t2s`` is not always the identity. Inside a word, ``s2t`` may pick a
character that ``t2s`` maps elsewhere (坐标 -> 座標 -> 座标). Across words, ``t2s`` matches
phrases of its own dictionary (TSPhrases) that span the join: 关于 + 单位 becomes 關於單位,
and the phrase 於單 (a name) turns it into 关於单位. A text pipeline that normalises with t2s
would then see other words than the writer meant.

This converter makes the round trip exact by construction. Call a phrase of TSPhrases
*irregular* when its conversion differs from converting its characters one by one. Then

1. ``piece(s)`` converts a fixed piece of text with OpenCC ``s2t`` and replaces each
   character whose character-wise ``t2s`` is not the original by another Traditional
   spelling that maps back (复: 覆 -> 復), then breaks any irregular phrase left inside;
2. ``repair(t)`` breaks irregular phrases that appear where pieces were joined, replacing
   one character by another with the same character-wise image (於單 -> 于單).

A text with no irregular phrase converts character by character, and every character
converts back to its original, so ``t2s(text) == simplified``. Building the tables reads
OpenCC's dictionaries once; ``repair`` is one regular-expression search per text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path


class TraditionalConverter:
    """Piecewise Simplified -> Traditional conversion with an exact t2s round trip."""

    def __init__(self) -> None:
        import opencc

        self._s2t = opencc.OpenCC("s2t")
        self._t2s = opencc.OpenCC("t2s")
        folder = Path(opencc.__file__).resolve().parent / "dictionary"
        self._char_t2s: dict[str, str] = {}
        for line in (folder / "TSCharacters.txt").read_text(encoding="utf-8").splitlines():
            key, values = line.split("\t")
            self._char_t2s[key] = values.split(" ")[0]
        self._candidates: dict[str, list[str]] = {}
        for line in (folder / "STCharacters.txt").read_text(encoding="utf-8").splitlines():
            key, values = line.split("\t")
            self._candidates[key] = values.split(" ")
        irregular = []
        for line in (folder / "TSPhrases.txt").read_text(encoding="utf-8").splitlines():
            key, values = line.split("\t")
            if values.split(" ")[0] != self.charwise(key):
                irregular.append(key)
        # longest first, so that the alternation reports the phrase t2s would match
        self._irregular = re.compile("|".join(re.escape(k) for k in sorted(irregular, key=len, reverse=True)))
        # the same phrases as a trie (於(?:單|...)): matches where _irregular does, rules a text out faster
        self._any_irregular = re.compile(_trie_pattern(irregular))
        self._repairs = {key: self._break(key) for key in irregular}

    def charwise(self, text: str) -> str:
        """t2s one character at a time (what t2s does where no phrase matches)."""
        return "".join(self._char_t2s.get(char, char) for char in text)

    def pieces(self, texts: Sequence[str]) -> list[str]:
        """``piece`` of each text, with one OpenCC call for the whole list."""
        # OpenCC splits its input at line breaks anyway: converting the joined list equals
        # converting item by item
        if any("\n" in text for text in texts):
            return [self.piece(text) for text in texts]
        converted = self._s2t.convert("\n".join(texts)).split("\n")
        return [self._exact(simple, trad) for simple, trad in zip(texts, converted, strict=True)]

    def piece(self, text: str) -> str:
        """The Traditional form of ``text`` whose t2s is ``text`` again."""
        return self._exact(text, self._s2t.convert(text))

    def repair(self, text: str) -> str:
        """Break irregular phrases formed where converted pieces were joined."""
        if self._any_irregular.search(text) is None:   # nearly every text
            return text
        for _ in range(4):   # a repair could, in theory, form a new phrase with its neighbour
            if self._irregular.search(text) is None:
                return text
            text = self._irregular.sub(lambda match: self._repairs[match.group()], text)
        return text

    def to_simplified(self, text: str) -> str:
        """OpenCC's t2s, as the text pipeline applies it."""
        return self._t2s.convert(text)

    def _exact(self, simple: str, traditional: str) -> str:
        if len(traditional) != len(simple):
            return simple
        chars = [t if self._char_t2s.get(t, t) == s else self._spelling_of(s)
                 for s, t in zip(simple, traditional, strict=True)]
        return self.repair("".join(chars))

    def _spelling_of(self, simple_char: str) -> str:
        """A Traditional spelling of ``simple_char`` that converts back to it (else itself)."""
        for candidate in self._candidates.get(simple_char, []):
            if self._char_t2s.get(candidate, candidate) == simple_char:
                return candidate
        return simple_char

    def _break(self, phrase: str) -> str:
        """``phrase`` with one character swapped for another of the same character-wise image,
        so that it is no longer an irregular phrase (falls back to the character-wise image)."""
        for position, char in enumerate(phrase):
            target = self._char_t2s.get(char, char)
            for other in [*self._candidates.get(target, []), target]:
                if other != char and self._char_t2s.get(other, other) == target:
                    candidate = phrase[:position] + other + phrase[position + 1:]
                    if self._irregular.search(candidate) is None:
                        return candidate
        return self.charwise(phrase)


def _trie_pattern(phrases: Sequence[str]) -> str:
    """A regular expression matching exactly ``phrases``, factored by common prefixes.

    Python's ``re`` tries the branches of an alternation one by one at every candidate
    position; the trie shape tries only the branches of each next character.
    """
    trie: dict[str, dict] = {}
    for phrase in phrases:
        node = trie
        for char in phrase:
            node = node.setdefault(char, {})
        node[""] = {}   # a phrase ends here

    def pattern(node: dict[str, dict]) -> str:
        branches = [re.escape(char) + pattern(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return pattern(trie)
