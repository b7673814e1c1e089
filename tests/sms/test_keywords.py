"""Reading inbound texts: keywords by language, fillers, signatures, revocations, negations."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bridge.sms.keywords import (
    SHIPPED_LANGUAGES,
    WORDS_DIR,
    KeywordBook,
    Meaning,
    normalise,
)

STOP, START, HELP, REVOKED = Meaning.STOP, Meaning.START, Meaning.HELP, Meaning.REVOCATION
ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs" / "sms-keywords.md"


def fullwidth(text: str) -> str:
    """The text in full-width forms, as some phones' keyboards send it ("STOP" as U+FF33...)."""
    return "".join(chr(ord(char) + 0xFEE0) if "!" <= char <= "~" else char for char in text)


# (text, meaning) read by a book of every shipped language.
MESSAGES: list[tuple[str, Meaning | None]] = [
    # The FCC's seven, in any case, with the surrounding space and punctuation people type.
    ("stop", STOP),
    ("QUIT", STOP),
    ("End", STOP),
    ("revoke", STOP),
    ("Opt out", STOP),
    ("OPT-OUT", STOP),
    ("cancel", STOP),
    ("UNSUBSCRIBE", STOP),
    # Twilio's, Telnyx's and CTIA's on top.
    ("STOPALL", STOP),
    ("stop all", STOP),
    ("OPTOUT", STOP),
    ("sToP", STOP),
    ("  stop  ", STOP),
    ("\tSTOP\n", STOP),
    ("STOP.", STOP),
    ("stop!!", STOP),
    ("Stop!!!", STOP),
    ("...stop...", STOP),
    ('"STOP"', STOP),
    ("'stop'", STOP),
    ("(stop)", STOP),
    ("STOP?", STOP),
    ("unsub", STOP),
    # Filler words around a keyword.
    ("Stop please", STOP),
    ("please stop", STOP),
    ("Please STOP!", STOP),
    ("STOP STOP", STOP),
    ("stop stop stop", STOP),
    ("STOP " * 12, STOP),
    ("STOP!!! " * 30, STOP),
    ("stop thanks", STOP),
    ("Stop, thank you.", STOP),
    ("Stop now", STOP),
    ("STOP NOW!!!", STOP),
    ("stop it", STOP),
    ("Unsubscribe me", STOP),
    ("unsubscribe me please", STOP),
    ("cancel pls", STOP),
    ("stop asap", STOP),
    ("ok stop", STOP),
    ("stop quit", STOP),
    ("Quit it now", STOP),
    ("Stop it already", STOP),
    # Full-width letters and other compatibility forms.
    (fullwidth("STOP"), STOP),
    (fullwidth("stop"), STOP),
    (fullwidth("STOP!"), STOP),
    (fullwidth("HELP"), HELP),
    (fullwidth("YES"), START),
    (fullwidth("STOP - Jane"), STOP),
    # Emoji around a keyword.
    ("STOP 🛑", STOP),
    ("🙏 stop 🙏", STOP),
    ("stop😡😡", STOP),
    ("yes 👍", START),
    ("✋STOP✋", STOP),
    # Signatures after a keyword.
    ("STOP\n-- Sent from my iPhone", STOP),
    ("STOP\nSent from my iPhone", STOP),
    ("Stop - Jane", STOP),
    ("Stop - Jane Doe", STOP),
    ("STOP\n--\nJane Doe\nAcme Inc.", STOP),
    ("stop\n\nSent via Android", STOP),
    ("STOP — Bob", STOP),
    ("Stop please - Jane", STOP),
    ("HELP\nSent from my iPhone", HELP),
    ("Arrêt\nEnvoyé de mon iPhone", STOP),
    ("STOP\nJane", STOP),
    ("Stop\n\nJane Doe", STOP),
    ("yes - see you at 5", None),
    ("Yes\nSee you there", None),
    ("YES\nSTOP", None),
    # Start and help.
    ("START", START),
    ("yes", START),
    ("YES!", START),
    ("Yes please", START),
    ("unstop", START),
    ("Opt in", START),
    ("start thanks", START),
    ("HELP", HELP),
    ("help!", HELP),
    ("Info", HELP),
    ("INFO?", HELP),
    ("help please", HELP),
    # Not keyword messages.
    ("don't stop", None),
    ("unstoppable", None),
    ("stop by tomorrow?", None),
    ("Stop by tomorrow, we have cake", None),
    ("I can't stop laughing", None),
    ("yes I'll be there", None),
    ("yes see you at 5", None),
    ("Yes, that works for me", None),
    ("The end", None),
    ("end of the day works", None),
    ("cancel my order", None),
    ("I need help with my order", None),
    ("more info", None),
    ("start time?", None),
    ("stopping by later", None),
    ("Bus stop at 5th", None),
    ("what does STOP do?", None),
    ("Text STOP to quit", None),
    ("thanks!", None),
    ("please", None),
    ("ok", None),
    ("Fine", None),
    ("See you soon", None),
    ("1234", None),
    # Nothing at all.
    ("", None),
    ("   ", None),
    ("\n\t", None),
    ("🙂", None),
    ("👍👍👍", None),
    ("🛑", None),
    ("...!?", None),
    ("-- ", None),
    # Free-text revocations.
    ("Please stop texting me", REVOKED),
    ("stop texting me!!", REVOKED),
    ("Can you stop sending me these?", REVOKED),
    ("STOP MESSAGING ME", REVOKED),
    ("Don't text me again", REVOKED),
    ("do not text this number", REVOKED),
    ("No more texts please", REVOKED),
    ("no more messages", REVOKED),
    ("Remove me from your list", REVOKED),
    ("take me off this list", REVOKED),
    ("Leave me alone", REVOKED),
    ("wrong number", REVOKED),
    ("Wrong number, I'm not Jane", REVOKED),
    ("Hi, who is this? Wrong number.", REVOKED),
    ("I want to unsubscribe", REVOKED),
    ("how do i opt out? I want to opt out", REVOKED),
    ("lose my number", REVOKED),
    ("Why won't you stop texting me", REVOKED),
    ("STOP. Stop texting me.", REVOKED),
    ("I don't want these texts anymore", REVOKED),
    ("Hi - please stop texting me", REVOKED),
    ("Please stop texting me\nSent from my iPhone", REVOKED),
    ("Stop contacting me or I will report you", REVOKED),
    ("QUIT TEXTING ME", REVOKED),
    ("don\u2019t text me", REVOKED),
    ("STOP! Who is this?", REVOKED),
    ("Stop. I never signed up for this", REVOKED),
    ("Please stop!! This is harassment", REVOKED),
    ("¡Basta! Ya les dije", REVOKED),
    ("Yes! See you at 5", None),
    ("Help! I locked myself out", None),
    ("Stop by tomorrow. We have cake", None),
    ("Never text me again", REVOKED),
    # Negations turn a phrase around.
    ("don't stop sending me deals", None),
    ("Never stop texting me, love these", None),
    ("please don't ever stop sending me deals", None),
    ("do not stop sending these!", None),
    ("don't remove me please", None),
    # French.
    ("ARRET", STOP),
    ("Arrêt", STOP),
    ("ARRÊT", STOP),
    ("arrêt svp", STOP),
    ("STOP merci", STOP),
    ("Désabonner", STOP),
    ("desinscrire", STOP),
    ("annuler", STOP),
    ("Oui", START),
    ("AIDE", HELP),
    ("Merci de ne plus m'envoyer de messages", REVOKED),
    ("Ne m'envoyez plus rien", REVOKED),
    ("Plus de SMS svp", REVOKED),
    ("laissez-moi tranquille", REVOKED),
    ("oui je serai là", None),
    # Spanish.
    ("BAJA", STOP),
    ("Alto", STOP),
    ("parar", STOP),
    ("CANCELAR", STOP),
    ("baja por favor", STOP),
    ("Dar de baja", STOP),
    ("basta ya", STOP),
    ("SÍ", START),
    ("si", START),
    ("Ayuda", HELP),
    ("no más", REVOKED),
    ("¡No más mensajes!", REVOKED),
    ("No, no me manden más", REVOKED),
    ("dejen de enviarme mensajes", REVOKED),
    ("no dejen de enviarme ofertas", None),
    ("sí, nos vemos a las 5", None),
    # German.
    ("STOPP", STOP),
    ("Abmelden", STOP),
    ("ENDE", STOP),
    ("abmelden bitte", STOP),
    ("Stopp danke", STOP),
    ("kündigen", STOP),
    ("KUENDIGEN", None),
    ("Ja", START),
    ("Hilfe", HELP),
    ("Keine SMS mehr bitte", REVOKED),
    ("Bitte lassen Sie mich in Ruhe", REVOKED),
    ("falsche Nummer", REVOKED),
    # Portuguese.
    ("PARAR", STOP),
    ("Sair", STOP),
    ("cancelar por favor", STOP),
    ("descadastrar", STOP),
    ("Sim", START),
    ("AJUDA", HELP),
    ("Parem de enviar mensagens", REVOKED),
    ("não quero mais receber", REVOKED),
    ("Não me envie mais nada", REVOKED),
    ("número errado", REVOKED),
    # Italian.
    ("FERMA", STOP),
    ("Basta", STOP),
    ("annulla", STOP),
    ("basta grazie", STOP),
    ("disiscrivimi per favore", STOP),
    ("Sì", START),
    ("aiuto", HELP),
    ("Non scrivetemi più", REVOKED),
    ("basta messaggi!", REVOKED),
    ("numero sbagliato", REVOKED),
    ("non smettete di scrivermi", None),
]


@pytest.fixture(scope="module")
def book() -> KeywordBook:
    """A book of every shipped language, no extra words."""
    return KeywordBook.load()


@pytest.mark.parametrize(
    ("text", "meaning"),
    [
        ("please " * 400 + "stop", None),
        ("stop " * 400, None),
        ("Hello! " + "I have a question about my order. " * 45 + "Also stop texting me.", REVOKED),
        ("a" * 1600, None),
    ],
    ids=["fillers", "stops", "sentences", "one-word"],
)
def test_long_texts(book: KeywordBook, text: str, meaning: Meaning | None) -> None:
    """A concatenated 1,600-character text is read whole: only short texts are keyword messages."""
    assert book.classify(text) == meaning


def test_the_table_is_large_and_has_no_repeats() -> None:
    texts = [text for text, _ in MESSAGES]
    assert len(texts) >= 150
    assert len(texts) == len(set(texts))


@pytest.mark.parametrize(("text", "meaning"), MESSAGES, ids=repr)
def test_classify(book: KeywordBook, text: str, meaning: Meaning | None) -> None:
    assert book.classify(text) == meaning


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        (fullwidth("STOP!"), "stop"),
        ("ARRÊT 🙏", "arret"),
        ("Don't  text\nme!!", "dont text me"),
        ("s\u2019il vous plaît", "sil vous plait"),
        ("Straße", "strasse"),
        ("Opt_Out", "opt out"),
        ("🙂", ""),
    ],
)
def test_normalise(text: str, folded: str) -> None:
    assert normalise(text) == folded


def test_english_is_always_loaded() -> None:
    book = KeywordBook.load(["es"])
    assert book.languages == ("en", "es")
    assert book.classify("STOP") == STOP
    assert book.classify("baja") == STOP
    assert KeywordBook.load([]).languages == ("en",)


def test_every_shipped_language_by_default(book: KeywordBook) -> None:
    assert book.languages == SHIPPED_LANGUAGES
    assert {"en", "fr", "es", "de", "pt", "it"} <= set(SHIPPED_LANGUAGES)


def test_a_language_not_loaded_is_not_read() -> None:
    """With only Spanish, the French ARRÊT and "plus de SMS" are ordinary words."""
    book = KeywordBook.load(["es"])
    assert book.classify("ARRÊT") is None
    assert book.classify("plus de SMS") is None
    assert book.classify("Hilfe") is None


def test_unknown_language_is_named() -> None:
    with pytest.raises(ValueError, match=r"'xx'.*known: de, en, es, fr, it, pt"):
        KeywordBook.load(["fr", "xx"])


def test_extra_words() -> None:
    book = KeywordBook.load(["en"], extra={"stop": ["Halt!", "basta ya"], "start": ["GO"]})
    assert book.classify("HALT") == STOP
    assert book.classify("halt please") == STOP
    assert book.classify("Basta ya") == STOP
    assert book.classify("go") == START
    assert book.classify("go team") is None
    assert book.classify("help") == HELP


def test_unknown_extra_meaning_is_named() -> None:
    with pytest.raises(ValueError, match=r"'unstop'.*known: stop, start, help"):
        KeywordBook.load(extra={"unstop": ["go"]})


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"start": ["stop"]}, r"'stop' is both a stop and a start keyword"),
        ({"stop": "halt"}, r"expected a list of words"),
        ({"help": ["🙂"]}, r"is not a word"),
    ],
)
def test_bad_extra_words_are_refused(extra: dict[str, list[str]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KeywordBook.load(extra=extra)


@pytest.mark.parametrize("code", SHIPPED_LANGUAGES)
def test_every_shipped_file_is_sound(code: str) -> None:
    data = tomllib.loads((WORDS_DIR / f"{code}.toml").read_text("utf-8"))
    assert isinstance(data["language"], str)
    owner: dict[str, str] = {}
    for meaning in ("stop", "start", "help"):
        assert data[meaning], (code, meaning)
        for word in data[meaning]:
            assert owner.setdefault(normalise(word), meaning) == meaning, (code, word)
    assert not {normalise(word) for word in data.get("filler", [])} & owner.keys()
    assert KeywordBook.load([code]).languages == tuple(sorted({"en", code}))


def test_no_word_has_two_meanings_across_languages() -> None:
    owner: dict[str, str] = {}
    fillers: set[str] = set()
    for code in SHIPPED_LANGUAGES:
        data = tomllib.loads((WORDS_DIR / f"{code}.toml").read_text("utf-8"))
        fillers |= {normalise(word) for word in data.get("filler", [])}
        for meaning in ("stop", "start", "help"):
            for word in data[meaning]:
                assert owner.setdefault(normalise(word), meaning) == meaning, (code, word)
    assert not fillers & owner.keys()


@pytest.mark.parametrize("page", [DOCS, ROOT / "README.md"], ids=lambda page: page.name)
def test_the_docs_list_every_keyword(page: Path) -> None:
    """The keyword tables (docs/sms-keywords.md, README) name each language's words."""
    docs = normalise(page.read_text("utf-8"))
    for code in SHIPPED_LANGUAGES:
        data = tomllib.loads((WORDS_DIR / f"{code}.toml").read_text("utf-8"))
        for meaning in ("stop", "start", "help"):
            for word in data[meaning]:
                assert f" {normalise(word)} " in f" {docs} ", (code, meaning, word)
