"""What an inbound text means: STOP, START, HELP, a free-text revocation, or nothing.

The words are data: one TOML file a language in `words/` (`en.toml`, `fr.toml`, ...) with its
`stop`, `start` and `help` keywords, the `filler` words that may stand around a keyword
("Stop please"), the `revocation` phrases that anywhere in a text read as "stop texting me",
the `negation` words that turn such a phrase around ("don't stop sending me deals") and how a
trailing `signature` line begins. Everything is compared in the `normalise`d form.

A text is read in this order: a keyword message (the whole text is a keyword, perhaps with
filler words, perhaps followed by a signature) is that keyword's meaning; otherwise a text
whose first sentence is a stop ("STOP! Who is this?") or that holds a revocation phrase no
negation turns around is a revocation; otherwise nothing. docs/sms-keywords.md has examples.
"""

from __future__ import annotations

import enum
import functools
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

WORDS_DIR = Path(__file__).resolve().parent / "words"
SHIPPED_LANGUAGES: tuple[str, ...] = tuple(sorted(path.stem for path in WORDS_DIR.glob("*.toml")))
ALWAYS_LOADED = "en"
_KEYWORD_LISTS = ("stop", "start", "help")
_OTHER_LISTS = ("filler", "revocation", "negation", "signature")
# Keyword messages are short, even "STOP STOP STOP ..." in anger: a longer text is only
# searched for revocation phrases, which bounds the filler pattern's work on 1,600 characters.
_MAX_KEYWORD_MESSAGE_WORDS = 30
_NOT_WORD = re.compile(r"[\W_]+")
# Most texts are plain ASCII: bytes.translate folds them in one C pass (every byte that is not
# a letter or digit becomes a space; apostrophes go).
_ASCII_SPACES = bytes(b if chr(b).isalnum() else 32 for b in range(128)) + bytes(128)
_ASCII_APOSTROPHES = b"'`"
_APOSTROPHES = "'\u2019\u02bc\u2018`"  # ' and its typographic look-alikes
_MAY_BE_SIGNED = re.compile(r"[\n\-\u2013\u2014\uff0d]")  # \uff0d: the full-width hyphen
# A line opening with a dash or underscores starts a signature ("STOP\n-- Jane").
_SIGNATURE_LINE = re.compile(r"(?m)^[ \t]*(?:-{1,3}|\u2013|\u2014|__+)")
# Where a first sentence ends: . ! ? a line break, or the ideographic and full-width forms.
_SENTENCE_END = re.compile(r"[.!?\n\u3002\uff01\uff1f]")
# Up to three words after a spaced dash or on a last line of their own ("Stop - Jane Doe").
_DASHES = r"\-\u2013\u2014"  # hyphen, en dash, em dash
_NAME_TRAILER = re.compile(
    rf"(?:\s[{_DASHES}]+[ \t]*|\n\s*)([^\s{_DASHES}]+(?:[ \t]+[^\s{_DASHES}]+){{0,2}})[ \t]*$"
)


class Meaning(enum.StrEnum):
    """What a person meant by a text."""

    STOP = "stop"
    START = "start"
    HELP = "help"
    REVOCATION = "revocation"


def normalise(text: str) -> str:
    """The folded form matching works on: full-width "STOP!!" and "Arrêt 🙏" read "stop", "arret".

    Compatibility forms become plain letters (NFKD: full-width, ligatures), accents are
    dropped, case is folded, apostrophes vanish ("don't" reads "dont") and every run of other
    characters that are not letters or digits (punctuation, emoji, white space) is one space.
    """
    if not text.isascii():
        text = _apostrophes_and_marks().sub("", unicodedata.normalize("NFKD", text))
        if not text.isascii():
            return _NOT_WORD.sub(" ", text.casefold()).strip()
    words = text.encode("ascii").translate(_ASCII_SPACES, _ASCII_APOSTROPHES).lower().split()
    return b" ".join(words).decode("ascii")


@functools.cache
def _apostrophes_and_marks() -> re.Pattern[str]:
    """Apostrophes and the combining marks (accents) NFKD splits off letters, in the BMP."""
    marks = (chr(code) for code in range(0x300, 0x10000) if unicodedata.combining(chr(code)))
    return re.compile(f"[{re.escape(_APOSTROPHES + ''.join(marks))}]")


@functools.cache
def _read_language(code: str) -> Mapping[str, tuple[str, ...]]:
    """One shipped language's lists, normalised; read once per process."""
    with (WORDS_DIR / f"{code}.toml").open("rb") as file:
        data = tomllib.load(file)
    lists: dict[str, tuple[str, ...]] = {}
    for name in _KEYWORD_LISTS + _OTHER_LISTS:
        if name not in data and name in _KEYWORD_LISTS:
            raise ValueError(f"{code}.toml: no {name} list")
        lists[name] = _folded_words(data.get(name, []), f"{code}.toml: {name}")
    return lists


def _folded_words(words: object, where: str) -> tuple[str, ...]:
    """The normalised words of a list, refusing what is not a list of words."""
    if isinstance(words, str) or not isinstance(words, Sequence):
        raise ValueError(f"{where}: expected a list of words, got {words!r}")
    folded = []
    for word in words:
        if not isinstance(word, str) or not normalise(word):
            raise ValueError(f"{where}: {word!r} is not a word")
        folded.append(normalise(word))
    return tuple(dict.fromkeys(folded))


def _alternation(words: Iterable[str]) -> str:
    """A regex matching any of the words, as a trie: "stop(?: all)?" rather than "stop|stop all".

    Python's engine tries the branches of an alternation one by one; a trie lets it follow only
    the branch a text's next letter allows, so a hundred phrases cost about as much as one.
    """
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}
    return _trie_pattern(trie) if trie else "(?!)"


def _trie_pattern(node: dict[str, Any]) -> str:
    """The regex of one trie node: its branches, optional when a word may end here."""
    branches = [
        re.escape(char) + _trie_pattern(child) for char, child in sorted(node.items()) if char
    ]
    if not branches:
        return ""
    if len(branches) == 1 and "" not in node:
        return branches[0]
    group = f"(?:{'|'.join(branches)})"
    return f"{group}?" if "" in node else group


class KeywordBook:
    """Keywords of some languages (English always) plus an operator's extra words."""

    def __init__(self, languages: Sequence[str], lists: Mapping[str, Iterable[str]]) -> None:
        """A book over merged, normalised lists (use `load`)."""
        self._languages = tuple(languages)
        self._meanings: dict[str, Meaning] = {}
        for name in _KEYWORD_LISTS:
            for word in lists[name]:
                known = self._meanings.setdefault(word, Meaning(name))
                if known != name:
                    raise ValueError(f"{word!r} is both a {known} and a {name} keyword")
        fillers = set(lists["filler"]) - self._meanings.keys()
        # A keyword message starts and ends with a keyword or filler word: two set tests
        # spare most chatter the pattern.
        words = (*self._meanings, *fillers)
        self._first_words = frozenset(word.split(" ")[0] for word in words)
        self._last_words = frozenset(word.split(" ")[-1] for word in words)
        filler = _alternation(fillers)
        branches = []
        for meaning in (Meaning.STOP, Meaning.START, Meaning.HELP):
            keyword = _alternation(w for w, m in self._meanings.items() if m == meaning)
            branches.append(f"(?P<{meaning}>{keyword})(?: (?:{keyword}|{filler}))*")
        # "please stop", "STOP STOP", "stop now thanks": fillers and repeats of one meaning.
        self._with_fillers = re.compile(f"(?:(?:{filler}) )*(?:{'|'.join(branches)})")
        phrases = set(lists["revocation"])
        self._phrase_starts = frozenset(phrase.split(" ")[0] for phrase in phrases)
        self._revocation = re.compile(f"(?<![^ ])(?:{_alternation(phrases)})(?![^ ])")
        negations = set(lists["negation"])
        self._negations = tuple(f" {word}" for word in negations)
        # "No, no me manden más": a phrase that is itself a negative is not turned around.
        self._negative_phrases = frozenset(p for p in phrases if p.split(" ")[0] in negations)
        self._signatures = tuple(f"{start} " for start in set(lists["signature"]))

    @classmethod
    def load(
        cls,
        languages: Iterable[str] | None = None,
        extra: Mapping[str, Sequence[str]] | None = None,
    ) -> KeywordBook:
        """The book of these languages (None: all shipped; English always) and extra words."""
        chosen = {ALWAYS_LOADED, *(SHIPPED_LANGUAGES if languages is None else languages)}
        for code in sorted(chosen):
            if code not in SHIPPED_LANGUAGES:
                known = ", ".join(SHIPPED_LANGUAGES)
                raise ValueError(f"unknown keyword language {code!r}; known: {known}")
        lists: dict[str, list[str]] = {name: [] for name in _KEYWORD_LISTS + _OTHER_LISTS}
        for code in sorted(chosen):
            for name, words in _read_language(code).items():
                lists[name].extend(words)
        for name, own_words in (extra or {}).items():
            if name not in _KEYWORD_LISTS:
                known = ", ".join(_KEYWORD_LISTS)
                raise ValueError(f"unknown keyword meaning {name!r}; known: {known}")
            lists[name].extend(_folded_words(own_words, f"extra {name} keywords"))
        return cls(sorted(chosen), lists)

    @property
    def languages(self) -> tuple[str, ...]:
        """The language codes this book reads, sorted."""
        return self._languages

    def classify(self, text: str) -> Meaning | None:
        """What the text means, or None for a text that is neither a keyword nor a revocation."""
        folded = normalise(text)
        if not folded:
            return None
        meaning = self._keyword(folded)
        if meaning is None and _MAY_BE_SIGNED.search(text):
            body = normalise(self._without_signature(text))
            if body and body != folded:
                meaning = self._keyword(body)
        if meaning is not None:
            return meaning
        return Meaning.REVOCATION if self._revokes(text, folded) else None

    def _keyword(self, folded: str) -> Meaning | None:
        """The meaning of a folded text that is a keyword message, perhaps with fillers."""
        exact = self._meanings.get(folded)
        if exact is not None:
            return exact
        first, _, rest = folded.partition(" ")
        if (
            first not in self._first_words
            or rest.rpartition(" ")[2] not in self._last_words
            or rest.count(" ") >= _MAX_KEYWORD_MESSAGE_WORDS
        ):
            return None
        match = self._with_fillers.fullmatch(folded)
        return Meaning(match.lastgroup) if match and match.lastgroup else None

    def _without_signature(self, text: str) -> str:
        """The raw text less a trailing signature: a dash line, "Sent from ...", a name."""
        text = unicodedata.normalize("NFKC", text)  # full-width dashes and names read plain
        marker = _SIGNATURE_LINE.search(text)
        if marker and text[: marker.start()].strip():
            text = text[: marker.start()]
        head, newline, last = text.rstrip().rpartition("\n")
        if newline and head.strip() and f"{normalise(last)} ".startswith(self._signatures):
            text = head
        trailer = _NAME_TRAILER.search(text)
        # A name is capitalised ("yes - see you at 5" is an answer, not a signed "yes") and
        # not itself a keyword ("YES\nSTOP" says two things).
        if (
            trailer
            and all(word[:1].isupper() for word in trailer.group(1).split())
            and self._keyword(normalise(trailer.group(1))) is None
        ):
            text = text[: trailer.start()]
        return text

    def _revokes(self, text: str, folded: str) -> bool:
        """Whether the text opens with "STOP!" or holds a phrase no negation turns around."""
        # "STOP! Who is this?" is more than a keyword message, but a reasonable person reads
        # it as one; "Yes! See you at 5" is still no opt-in.
        if folded.partition(" ")[0] in self._first_words:
            opening = _SENTENCE_END.split(text, maxsplit=1)
            if len(opening) > 1 and self._keyword(normalise(opening[0])) is Meaning.STOP:
                return True
        # Most texts hold no word a phrase starts with: a set test is cheaper than the regex.
        if self._phrase_starts.isdisjoint(folded.split(" ")):
            return False
        for match in self._revocation.finditer(folded):
            if match.group() in self._negative_phrases:
                return True
            if not f" {folded[: match.start()].rstrip()}".endswith(self._negations):
                return True
        return False
