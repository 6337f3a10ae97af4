"""Words, names, tag labels, sentences, dates and keyword lines for ``bench.corpus``.

Everything draws from the ``random.Random`` it is given, so a seed gives the same text.
The "easy" helpers (``word``, ``vocabulary``, ``easy_tag_labels``, ``sentence``) are
unchanged from the first generator, so its corpora stay byte-identical; the rest
dresses that prose up as real-world copy.
"""

from __future__ import annotations

import itertools
import random
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

SYLLABLES = (  # noqa: SIM905
    "ba be bi bo bu ca ce ci co cu da de di do du fa fe fi fo fu ga ge gi go "
    "gu ha he hi ho hu la le li lo lu ma me mi mo mu na ne ni no nu pa pe pi "
    "po pu ra re ri ro ru sa se si so su ta te ti to tu va ve vi vo vu za ze "
    "zi zo zu bar ber cor dan del fen gar hol kin lam mar nor pel ran sen tor "
    "val wen"
).split()
COMMON = (  # noqa: SIM905
    "the of and to in a is that for on with as by at from it was said has "
    "have which were will would are its their this after over more than about "
    "into new government city council report year week people officials "
    "minister market plan local region company research study team workers "
    "water energy project"
).split()
FIRST_NAMES = (  # noqa: SIM905
    "Ana Ben Chloe David Elena Farid Grace Hugo Ines Jonas Kemi Liam Maria"
).split()
LAST_NAMES = (  # noqa: SIM905
    "Silva Okafor Dubois Novak Tanaka Rossi Keller Haddad Larsen Moreau"
).split()

# Real-world tag labels: accents, apostrophes, ampersands, dots, dashes, digits.
KNOWN_TAGS = (
    "São Paulo", "U.S.-China trade", "COVID-19", "Côte d'Ivoire", "Zürich", "Kraków",
    "Rio de Janeiro", "Málaga", "Reykjavík", "St. Louis", "Île-de-France", "Ōsaka",
    "Québec", "Bogotá", "Düsseldorf", "Gdańsk", "Ciudad Juárez", "N'Djamena",
    "Guinea-Bissau", "Timor-Leste", "Procter & Gamble", "AT&T", "M&A", "G7",
    "G20 summit", "COP28", "UN Security Council", "EU\u2013UK relations", "K-pop",
    "Black Lives Matter", "H5N1 bird flu", "AI & jobs", "Formula 1", "World Cup 2026",
    "Roe v. Wade", "#MeToo", "9/11 inquiry", "S&P 500", "Nasdaq-100", "Women's football",
    "Children\u2019s health", "Cost-of-living crisis", "Net-zero", "Self-driving cars",
    "E-commerce", "Ukraine\u2013Russia war", "Live: election night", "Mental health",
)  # fmt: skip
AUTHORS = (
    "José Álvarez", "Zoë Müller", "François Lefèvre", "Łukasz Wróbel", "Søren Nørgaard",
    "Chloé Dubois", "Mehmet Çelik", "Siobhán O'Brien", "Jürgen Weiß", "Nguyễn Thị Lan",
    "Ana Silva", "Grace Okafor", "David Novak", "Liam Keller", "Maria Rossi",
    "Farid Haddad", "Elena Larsen", "Kemi Tanaka", "Hugo Moreau", "Ines García Márquez",
)  # fmt: skip
AGENCIES = ("Reuters", "AFP", "AP", "Getty Images", "EPA-EFE", "Agência Brasil", "dpa")
ACCENTS = {"a": "áàâã", "e": "éèêë", "i": "íï", "o": "óôöø", "u": "úüû", "c": "ç", "n": "ñ"}
UNITS = ("km", "%", "million", "kg", "°C", "people", "MW")
CONTROLS = "\x0b\x1f\x0c\x1b"
NBSP = "\u00a0"
MONTHS = (  # noqa: SIM905
    "January February March April May June July August September October November December"
).split()
# Typographic marks, escaped so the source shows which is which.
LSQUO, RSQUO, LDQUO, RDQUO = "\u2018", "\u2019", "\u201c", "\u201d"
EN_DASH, EM_DASH, ELLIPSIS = "\u2013", "\u2014", "\u2026"


def word(rng: random.Random, low: int = 2, high: int = 4) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(low, high)))


def vocabulary(rng: random.Random, size: int) -> list[str]:
    words = {word(rng, 1, 3) for _ in range(size * 2)}
    return sorted(words)[:size]


def easy_tag_labels(rng: random.Random, count: int) -> list[str]:
    """``count`` tag labels whose keys (casefolded, punctuation as '-') are distinct."""
    labels: list[str] = []
    keys: set[str] = set()
    while len(labels) < count:
        words = [word(rng, 2, 3) for _ in range(1 if rng.random() < 0.7 else 2)]
        label = " ".join(w.capitalize() if rng.random() < 0.4 else w for w in words)
        key = "-".join(label.casefold().split())
        if key not in keys:
            keys.add(key)
            labels.append(label)
    return labels


def sentence(rng: random.Random, words: list[str]) -> str:
    chosen = [
        rng.choice(COMMON) if rng.random() < 0.45 else rng.choice(words)
        for _ in range(rng.randint(8, 22))
    ]
    if rng.random() < 0.15:
        chosen.insert(rng.randrange(len(chosen)), f"{rng.randint(2, 9999):,}")
    text = " ".join(chosen)
    return text[0].upper() + text[1:] + rng.choice(".....?!")


def tag_key(label: str) -> str:
    """The URL form feedsvc makes of a keyword: casefolded, punctuation runs as '-'."""
    folded = unicodedata.normalize("NFC", " ".join(label.split()).casefold())
    return "-".join("".join(c if c.isalnum() else " " for c in folded).split())


def accented(rng: random.Random, text: str) -> str:
    """``text`` with one letter, sometimes, given an accent."""
    spots = [i for i, c in enumerate(text) if c in ACCENTS]
    if not spots or rng.random() < 0.6:
        return text
    i = rng.choice(spots)
    return text[:i] + rng.choice(ACCENTS[text[i]]) + text[i + 1 :]


def _made_up_tag(rng: random.Random) -> str:
    """A place, topic, acronym, person or trade-relations label."""
    shape = rng.randrange(5)
    if shape == 0:
        place = accented(rng, word(rng, 2, 3)).capitalize()
        return rng.choice(("{}", "San {}", "Port {}", "{} Valley", "{}-sur-Mer", "{} City")).format(
            place
        )
    if shape == 1:
        first, second = word(rng, 1, 3), word(rng, 2, 3)
        return rng.choice(("{} {}", "{}-{}", "{}" + RSQUO + "s {}", "{} & {}")).format(
            first, second
        )
    if shape == 2:
        letters = "".join(rng.choice("ABCDEFGHKLMNPRSTUVWZ") for _ in range(rng.randint(2, 4)))
        return letters + rng.choice(("", f"-{rng.randint(1, 99)}", " Act", " 2.0", " summit"))
    if shape == 3:
        return f"{rng.choice(FIRST_NAMES)} {accented(rng, word(rng, 2, 3).capitalize())}"
    dotted = ".".join(rng.choice("BCEFGHKRSU") for _ in range(2)) + "."
    return f"{dotted}-{word(rng, 2, 2).capitalize()} {rng.choice(('trade', 'talks', 'ties'))}"


def realistic_tag_labels(rng: random.Random, count: int) -> list[str]:
    """``count`` labels with distinct keys, most used first: every third of the head is known."""
    made: list[str] = []
    keys = {tag_key(label) for label in KNOWN_TAGS}
    while len(made) < count:
        label = _made_up_tag(rng)
        if tag_key(label) not in keys:
            keys.add(tag_key(label))
            made.append(label)
    known = list(KNOWN_TAGS)
    rng.shuffle(known)
    for position, label in enumerate(known):
        made.insert(position * 3, label)
    return made[:count]


def dressed(rng: random.Random, text: str, control: float = 0.02) -> str:
    """Real-world copy: curly quotes, dashes, no-break spaces, ellipses, a stray control."""
    words = text.split(" ")
    roll = rng.random()
    if roll < 0.2 and len(words) > 3:
        start = rng.randrange(len(words) - 2)
        end = rng.randrange(start, min(start + 4, len(words) - 1))
        words[start], words[end] = LDQUO + words[start], words[end] + RDQUO
    elif roll < 0.32:
        words.insert(rng.randrange(1, len(words)), EM_DASH)
    elif roll < 0.4:
        index = rng.randrange(len(words))
        quoted = LSQUO + words[index] + RSQUO
        words[index] = quoted if rng.random() < 0.5 else words[index] + RSQUO + "s"
    if rng.random() < 0.12:
        amount = f"{rng.randint(2, 999)}{NBSP}{rng.choice(UNITS)}"
        words.insert(rng.randrange(1, len(words)), amount)
    if rng.random() < control:
        index = rng.randrange(len(words))
        words[index] += rng.choice(CONTROLS)
    text = " ".join(words)
    if text.endswith(".") and rng.random() < 0.08:
        text = text[:-1] + rng.choice((ELLIPSIS, "..."))
    return text


def title(rng: random.Random, words: list[str]) -> str:
    """A headline from ``words``, sometimes with a colon, quotes or a dash."""
    text = " ".join(words)
    if rng.random() < 0.15:
        text = text.replace(" ", ": ", 1)
    return dressed(rng, text[0].upper() + text[1:])


WRITER_FIRST = (  # noqa: SIM905
    "Ana Ben Chloe David Elena Farid Grace Hugo Ines Jonas Kemi Liam Maria Nadia Omar "
    "Priya Quentin Rosa Samir Tomás Uma Víctor Wen Ximena Yusuf Zara Aoife Björn Carmen "
    "Dmitri Eun-ji Fatima Giulia Hamid Ingrid Jakub Kwame Lucía Malik Nkechi Olga Pedro "
    "Rania Sven Thandiwe Ulrich Valentina Wojciech Yara Zoltán Amara Bruno Delphine "
    "Emeka Femke Goran Hana Ivo Jelena"
).split()
WRITER_LAST = (  # noqa: SIM905
    "Silva Okafor Dubois Novak Tanaka Rossi Keller Haddad Larsen Moreau Ahmed Bianchi "
    "Chen Dimitrov Eriksen Fernández Gupta Horvat Ivanova Jansen Kowalski Lindqvist "
    "Mensah Nakamura O'Connor Petrović Quispe Rahman Schmidt Takahashi Usman Varga "
    "Wójcik Xu Yilmaz Zhang Abbott Brennan Castro Dang Ellis Farouk Grün Hughes Ibrahim "
    "Jovanović Kaya Lopes Mbeki Nilsson Ortiz Park Quinn Reyes Sato Tran Ueda Weber"
).split()
WRITERS = AUTHORS + tuple(f"{a} {b}" for a in WRITER_FIRST for b in WRITER_LAST)
"""Some 3,600 bylines: the real-world names first (the most prolific), then made ones."""
_WRITER_WEIGHTS = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(WRITERS))))


def author(rng: random.Random) -> str:
    """An ``author:`` line: one of :data:`WRITERS` by a Zipf law (a few write most),
    sometimes two of them, sometimes spelled in another case."""
    first = rng.choices(WRITERS, cum_weights=_WRITER_WEIGHTS)[0]
    roll = rng.random()
    if roll < 0.05:
        second = rng.choices(WRITERS, cum_weights=_WRITER_WEIGHTS)[0]
        return f"{first} and {second}" if roll < 0.03 else f"{first}, {second}"
    if roll < 0.07:
        return first.upper() if roll < 0.06 else first.lower()
    return first


def credit(rng: random.Random) -> str:
    agency = rng.choice(AGENCIES)
    return agency if rng.random() < 0.3 else f"{rng.choice(AUTHORS)}/{agency}"


def wrapped(paragraph: str, width: int = 72) -> str:
    """The paragraph hard-wrapped at ``width`` on plain spaces (never a blank line)."""
    lines: list[str] = []
    line = ""
    for piece in paragraph.split(" "):
        if line and len(line) + 1 + len(piece) > width:
            lines.append(line)
            line = piece
        else:
            line = f"{line} {piece}" if line else piece
    return "\n".join([*lines, line])


def date_text(moment: datetime, form: int, offset: timedelta) -> str:
    """``moment`` in form 0 (ISO 8601), 1 (RFC 2822) or 2 ("March 5, 2024 14:05 GMT")."""
    local = moment.astimezone(timezone(offset))
    if form == 0:
        return local.isoformat(timespec="seconds")
    if form == 1:
        return format_datetime(local)
    utc = moment.astimezone(UTC)
    return f"{MONTHS[utc.month - 1]} {utc.day}, {utc.year} {utc:%H:%M} GMT"


def keyword_line(rng: random.Random, labels: list[str]) -> str:
    """The labels as an author types them: a stray case, space or trailing comma."""
    typed = []
    for label in labels:
        roll = rng.random()
        typed.append(label.lower() if roll < 0.04 else f" {label}  " if roll < 0.07 else label)
    line = rng.choice((", ", ", ", ",", " ,  ")).join(typed)
    return line + "," if rng.random() < 0.05 else line
