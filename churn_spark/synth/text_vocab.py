"""The curated Chinese vocabulary of the call-center email generator, read from ``data/``.

The words, clause templates and other pieces of text live in UTF-8 files next to this module
so that a newcomer can add a sentence or a word without touching code; ``text.py`` and
``text_pii.py`` use the constants below. The files (each opens with a header on its content):

=====================  ==============================================================
``topics.txt``         per topic: domain words, clause templates (their slots are
                       listed in the file's header), subject lines
``content.txt``        topic-neutral clauses, linking words, the paper's names, shared words
``letter.txt``         greetings, sign-offs, name and contact lines, the quoted reply
``spellings.txt``      typos and synonyms the generator writes (``conf/dict/synonyms.txt``)
``slot_values.txt``    counts, durations, dates, amounts, banks, companies
``personal_data.txt``  names, mail domains, address parts, ID/card/phone prefixes, URLs
=====================  ==============================================================

Format: ``#`` starts a comment line, ``[name]`` starts a section, and every other non-blank
line holds the section's items: one text a line, or several words separated by spaces.
The files are read once, when this module is imported.
"""

from __future__ import annotations

import importlib.resources
import re
from dataclasses import dataclass

PUBLISHER = "明河日报"
SERVICE_EMAIL = "service@mhrb.com.cn"
# Topics whose words are mostly adjectives: the shared "{w}" clauses would read badly.
NO_GENERIC_CLAUSES = ("praise",)

_SECTION = re.compile(r"\[(.+)\]")


@dataclass(frozen=True)
class TopicText:
    """One topic's text: domain words (most typical first), clause templates, subject lines."""

    words: tuple[tuple[str, str], ...]   # (word, jieba POS)
    clauses: tuple[str, ...]
    subjects: tuple[str, ...]


def read_sections(file_name: str) -> dict[str, tuple[str, ...]]:
    """The sections of a file of ``data/``: name -> its non-blank, stripped lines, in file order."""
    text = (importlib.resources.files(__package__) / "data" / file_name).read_text(encoding="utf-8")
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        header = _SECTION.fullmatch(line)
        if header:
            if header.group(1) in sections:
                raise ValueError(f"{file_name}: section [{header.group(1)}] appears twice")
            current = sections[header.group(1)] = []
        elif current is None:
            raise ValueError(f"{file_name}: {line!r} comes before the first [section]")
        else:
            current.append(line)
    return {name: tuple(items) for name, items in sections.items()}


def _split(lines: tuple[str, ...]) -> tuple[str, ...]:
    """The space-separated items of a section of words or codes."""
    return tuple(item for line in lines for item in line.split())


def _tagged_words(lines: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """``word/pos`` items as ``(word, pos)``; a word without a tag is a noun."""
    return tuple((word, pos or "n") for word, _, pos in (item.partition("/") for item in _split(lines)))


def _variants(lines: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Rows ``canonical variant [variant ...]`` as canonical -> variants."""
    table = {row.split()[0]: tuple(row.split()[1:]) for row in lines}
    if len(table) != len(lines):
        raise ValueError("a canonical word has two rows")
    return table


def _topic_texts(sections: dict[str, tuple[str, ...]]) -> dict[str, TopicText]:
    """Topics in file order, each from its sections ``[<topic>: words]``, ``clauses``, ``subjects``."""
    topics = [name.removesuffix(": words") for name in sections if name.endswith(": words")]
    return {topic: TopicText(words=_tagged_words(sections[f"{topic}: words"]),
                             clauses=sections[f"{topic}: clauses"], subjects=sections[f"{topic}: subjects"])
            for topic in topics}


def _by_kind(sections: dict[str, tuple[str, ...]], prefix: str) -> dict[str, tuple[str, ...]]:
    """The sections ``[<prefix>: <kind>]`` as kind -> items, in file order."""
    return {name.removeprefix(prefix + ": "): items for name, items in sections.items()
            if name.startswith(prefix + ": ")}


TOPIC_TEXTS: dict[str, TopicText] = _topic_texts(read_sections("topics.txt"))

_content = read_sections("content.txt")
PAPER_NAMES = _content["paper names"]
GENERAL_WORDS = _tagged_words(_content["general words"])
TOPIC_GENERIC_CLAUSES = _content["generic clauses"]
GENERAL_CLAUSES = _content["general clauses"]
CONNECTIVES = _content["connectives"]
OPENERS = _content["openers"]
RESTATE_LEAD_INS = _content["restate lead-ins"]
EXTRA_USER_WORDS = _tagged_words(_content["extra user words"])

_letter = read_sections("letter.txt")
GREETINGS = _letter["greetings"]
SIGN_OFFS = _letter["sign-offs"]
NAME_LINES = _letter["name lines"]
MOBILE_TAILS = _letter["mobile tails"]
CONTACT_CLAUSES = _by_kind(_letter, "contact clauses")
CONTACT_LINES = _by_kind(_letter, "contact lines")
SERVICE_REPLIES = _letter["service replies"]
SERVICE_AGENTS = _letter["service agents"]

_spellings = read_sections("spellings.txt")
TYPOS = _variants(_spellings["typos"])
SYNONYMS = _variants(_spellings["synonyms"])

_slot_values = read_sections("slot_values.txt")
NUMBERS = _slot_values["numbers"]
DURATIONS = _slot_values["durations"]
DATES = _slot_values["dates"]
MONTHS = _slot_values["months"]
MONEY = _slot_values["money"]
BANKS = _slot_values["banks"]
COMPANIES = _slot_values["companies"]

_personal = read_sections("personal_data.txt")
SURNAMES = _split(_personal["surnames"])
GIVEN_NAMES = _split(_personal["given names"])
PINYIN_SURNAMES = _split(_personal["pinyin surnames"])
PINYIN_GIVEN_NAMES = _split(_personal["pinyin given names"])
MAIL_DOMAINS = _personal["mail domains"]
CITY_DISTRICTS = _personal["city districts"]
ROADS = _personal["roads"]
ESTATES = _personal["estates"]
ID_REGIONS = _split(_personal["id regions"])
CARD_PREFIXES = _split(_personal["card prefixes"])
AREA_CODES = _split(_personal["area codes"])
MOBILE_PREFIXES = _split(_personal["mobile prefixes"])
URLS = _personal["urls"]
