"""Personal data for generated emails: phone numbers, IDs, bank cards, addresses, URLs.

Each generator takes the process's ``numpy.random.Generator`` and a count and returns that
many strings, drawing all random numbers of a batch at once. The values are realistic in
form (mobile prefixes 13x-19x, the ISO 7064 check character of resident IDs, the Luhn
check digit of bank cards) but random, so they belong to nobody. They exist to be masked:
``render_emails_with_pii`` reports every value it writes into a body.
"""

from __future__ import annotations

import numpy as np

from churn_spark.synth import text_vocab as vocab

PII_KINDS = ("phone", "landline", "email", "idcard", "bankcard", "address", "url")

_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_ID_CHECK = "10X98765432"


def _digits(rng: np.random.Generator, count: int, width: int) -> list[str]:
    """``count`` random digit strings of ``width`` characters each."""
    table = rng.integers(0, 10, size=(count, width)).astype(np.uint8) + ord("0")
    joined = table.tobytes().decode("ascii")   # one decode, then slices: rows are contiguous
    return [joined[start:start + width] for start in range(0, count * width, width)]


def _pick(rng: np.random.Generator, options: tuple[str, ...], count: int) -> list[str]:
    return [options[i] for i in rng.integers(0, len(options), size=count).tolist()]


def mobile_numbers(rng: np.random.Generator, count: int) -> list[str]:
    """Mainland mobile numbers ``1[3-9]x xxxx xxxx``, plain or with +86, spaces or dashes."""
    prefixes = _pick(rng, vocab.MOBILE_PREFIXES, count)
    bodies = _digits(rng, count, 8)
    styles = rng.choice(8, size=count, p=[0.5, 0.12, 0.1, 0.08, 0.05, 0.05, 0.05, 0.05])
    return [_MOBILE_STYLES[style].format(pre=pre, body=body, head=body[:4], tail=body[4:])
            for pre, body, style in zip(prefixes, bodies, styles.tolist(), strict=True)]


_MOBILE_STYLES = ("{pre}{body}", "{pre} {head} {tail}", "{pre}-{head}-{tail}", "+86 {pre}{body}",
                  "+86-{pre}-{head}-{tail}", "+86 {pre} {head} {tail}", "(+86){pre}{body}", "86-{pre}{body}")


def landline_numbers(rng: np.random.Generator, count: int) -> list[str]:
    """Fixed-line numbers with area code: ``010-12345678``, ``(0571)8123456``, ``+86-21-...``."""
    codes = _pick(rng, vocab.AREA_CODES, count)
    firsts = rng.integers(2, 9, size=count)
    rests = _digits(rng, count, 7)
    styles = rng.choice(4, size=count, p=[0.6, 0.15, 0.15, 0.1])
    out = []
    for code, first, rest, style in zip(codes, firsts.tolist(), rests, styles.tolist(), strict=True):
        # four-digit area codes come with 7- or 8-digit numbers, three-digit ones with 8
        number = f"{first}{rest}" if len(code) == 3 or first % 2 else f"{first}{rest[:6]}"
        if style == 0:
            out.append(f"{code}-{number}")
        elif style == 1:
            out.append(f"({code}){number}")
        elif style == 2:
            out.append(f"{code} {number[:4]} {number[4:]}")
        else:
            out.append(f"+86-{code[1:]}-{number}")
    return out


def email_addresses(rng: np.random.Generator, count: int) -> list[str]:
    """Personal mailboxes such as ``zhangwei1978@163.com`` or ``12345678@qq.com``."""
    family = _pick(rng, vocab.PINYIN_SURNAMES, count)
    # the second part is any pinyin name: in Latin letters surnames and given names look alike (li, yang)
    given = _pick(rng, vocab.PINYIN_SURNAMES + vocab.PINYIN_GIVEN_NAMES, count)
    domains = _pick(rng, vocab.MAIL_DOMAINS, count)
    years = rng.integers(1940, 1990, size=count)
    numbers = _digits(rng, count, 9)
    styles = rng.choice(5, size=count, p=[0.35, 0.2, 0.15, 0.15, 0.15])
    out = []
    for fam, giv, dom, year, num, style in zip(family, given, domains, years.tolist(), numbers, styles.tolist(),
                                               strict=True):
        if style == 4:  # QQ numbers are the user name of a qq.com mailbox
            out.append(f"{num.lstrip('0') or '1'}@qq.com")
        elif style == 0:
            out.append(f"{fam}{giv}{year}@{dom}")
        elif style == 1:
            out.append(f"{fam}.{giv}@{dom}")
        elif style == 2:
            out.append(f"{fam}{giv}@{dom}")
        else:
            out.append(f"{giv}_{fam}{num[:2]}@{dom}")
    return out


def id_numbers(rng: np.random.Generator, count: int) -> list[str]:
    """18-character resident ID numbers: region, birth date, sequence and ISO 7064 check."""
    regions = _pick(rng, vocab.ID_REGIONS, count)
    births = np.datetime64("1930-01-01") + rng.integers(0, 365 * 58, size=count).astype("timedelta64[D]")
    sequences = _digits(rng, count, 3)
    lower_x = rng.random(count) < 0.1
    dates = np.datetime_as_string(births, unit="D").tolist()   # YYYY-MM-DD
    first17 = [region + date.replace("-", "") + seq for region, date, seq in zip(regions, dates, sequences,
                                                                                 strict=True)]
    if not first17:
        return []
    # the ISO 7064 MOD 11-2 check of all numbers at once: weighted digit sums modulo 11
    digits = np.frombuffer("".join(first17).encode("ascii"), dtype=np.uint8).reshape(count, 17) - ord("0")
    checks = ((digits.astype(np.int64) @ _ID_WEIGHTS) % 11).tolist()
    return [number + (_ID_CHECK[check].lower() if lower else _ID_CHECK[check])
            for number, check, lower in zip(first17, checks, lower_x.tolist(), strict=True)]


def luhn_check_digit(payload: str) -> str:
    """The digit that makes ``payload + digit`` pass the Luhn test (bank cards)."""
    backwards = payload[::-1]
    # every other digit from the right is doubled (2d - 9 above 4): the check digit will sit right of them
    total = sum(map(_LUHN_DOUBLED.__getitem__, backwards[0::2])) + sum(map(int, backwards[1::2]))
    return str((10 - total % 10) % 10)


_LUHN_DOUBLED = {str(d): d * 2 - 9 if d > 4 else d * 2 for d in range(10)}


def bank_card_numbers(rng: np.random.Generator, count: int) -> list[str]:
    """Bank card numbers of 16-19 digits with a valid Luhn digit, plain or grouped by four."""
    prefixes = _pick(rng, vocab.CARD_PREFIXES, count)
    lengths = rng.choice([16, 17, 18, 19], size=count, p=[0.45, 0.05, 0.05, 0.45])
    middles = _digits(rng, count, 12)
    styles = rng.choice(3, size=count, p=[0.7, 0.25, 0.05])
    out = []
    for prefix, length, middle, style in zip(prefixes, lengths.tolist(), middles, styles.tolist(), strict=True):
        payload = (prefix + middle)[: length - 1]
        number = payload + luhn_check_digit(payload)
        if style:
            sep = " " if style == 1 else "-"
            number = sep.join(number[i: i + 4] for i in range(0, length, 4))
        out.append(number)
    return out


def address_pieces(rng: np.random.Generator, count: int) -> list[list[str]]:
    """Postal addresses as lists of pieces (city+district, road, house, unit, room...).

    Pieces rather than strings so that the caller converts each known piece to
    Traditional characters through its table of precomputed conversions.
    """
    cities = _pick(rng, vocab.CITY_DISTRICTS, count)
    roads = _pick(rng, vocab.ROADS, count)
    estates = _pick(rng, vocab.ESTATES, count)
    numbers = rng.integers(1, 400, size=(count, 4))
    styles = rng.integers(0, 4, size=count)
    out = []
    for city, road, estate, (house, block, unit, room), style in zip(cities, roads, estates, numbers.tolist(),
                                                                     styles.tolist(), strict=True):
        room = 100 * (1 + room % 20) + 1 + room % 4
        if style == 0:
            tail = [estate, str(block % 30 + 1), "号楼", str(unit % 6 + 1), "单元", str(room), "室"]
        elif style == 1:
            tail = [str(block % 40 + 1), "栋", str(room), "室"]
        elif style == 2:
            tail = [str(block % 200 + 1), "弄", str(unit % 60 + 1), "号", str(room), "室"]
        else:
            tail = []
        out.append([city, road, str(house), "号", *tail])
    return out


ADDRESS_LITERALS = ("号楼", "单元", "室", "栋", "弄", "号")


def urls(rng: np.random.Generator, count: int) -> list[str]:
    """Web addresses: the paper's own pages and customers' links to screenshots or blogs."""
    bases = _pick(rng, vocab.URLS, count)
    letters = np.frombuffer(b"abcdefghijkmnpqrstuvwxyz0123456789", dtype=np.uint8)
    tokens = letters[rng.integers(0, len(letters), size=(count, 8))]
    suffixes = _pick(rng, ("", "", ".html", ".htm", "/"), count)
    joined = tokens.tobytes().decode("ascii")
    return [base + joined[8 * i:8 * i + 8] + suffix
            for i, (base, suffix) in enumerate(zip(bases, suffixes, strict=True))]
