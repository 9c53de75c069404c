"""Language routing: which of the configured languages a turn is answered in, and why.

Evidence, strongest first: the user's explicit choice; the speech recogniser's language ID
(passed in by the speech stage); the text itself. Text evidence comes from three places:
the script (Han characters mean Chinese), a small lexicon of the short turns people really type
("hola", "merci", "danke", ...) and ``langdetect`` (seeded, so the same text always gets the
same answer, and restricted to the configured languages through its prior map).

``langdetect`` is confidently wrong on one- or two-word turns ("hola" comes out English with
p=0.99999), so a short turn only switches the session's language when the script or the lexicon
says so; otherwise the session keeps its language.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from dataclasses import dataclass
from typing import Any

from agent.config import LanguageConfig
from agent.errors import ParlaError
from agent.messages import LanguageDecision

logger = logging.getLogger(__name__)

# langdetect names Chinese by script; Parla speaks ISO 639-1 codes.
_DETECTOR_CODES: dict[str, tuple[str, ...]] = {"zh": ("zh-cn", "zh-tw")}
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA_HANGUL = re.compile(r"[\u3040-\u30ff\uac00-\ud7af]")
# Order numbers, prices, phone numbers, e-mails and links say nothing about the language.
# ASCII classes on purpose: Chinese has no spaces, and \S+ would swallow a whole sentence.
_TOKEN_WITH_DIGIT = re.compile(r"[A-Za-z0-9\-_./:+]*\d[A-Za-z0-9\-_./:+]*")
_EMAIL_OR_URL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+|https?://[!-~]+|www\.[!-~]+")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
HAN_WEIGHT = 3  # one Han character carries about as much as three Latin letters

# Frequent words that point to one language (or a few): greetings, thanks, goodbyes, yes/no,
# articles, pronouns and the verbs of customer service. Written for Parla. A word listed for
# several languages votes for each of them equally. They decide turns of up to
# ``LEXICON_MAX_WORDS`` words, where the detector is unreliable (Spanish and Portuguese above all).
LEXICON: dict[str, frozenset[str]] = {
    "en": frozenset(
        """hi hello hey thanks thank cheers bye goodbye yes yeah yep nope please sorry great
        morning evening afternoon there okay thx awesome brilliant lovely the my is it i you
        your can what where when how does did have has and to of for with not don't i'm it's
        this that will would could just got get want need refund delivery parcel payment
        invoice money cancel track""".split()
    ),
    "es": frozenset(
        """hola gracias adiós adios buenas buenos días tardes noches sí vale perdón perdona
        favor muchas muchísimas genial hasta luego perfecto claro bueno venga el los las del al
        mi mis un una es está y pero muy hay quiero puedo tengo cuánto cuándo dónde qué cómo
        por para pedido ya también eso esto sin ha he han hace lo me necesito queda alguno dime
        borrar cambiar recibí recibi recibido factura tienda cuenta correo dinero envío
        nada""".split()
    ),
    "fr": frozenset(
        """bonjour bonsoir salut merci beaucoup oui revoir parfait super d'accord svp stp pardon
        désolé désolée bonne journée soirée allô coucou enfin le les des du au aux une est et
        je j'ai vous nous mon ma mes pas ne n'est c'est pour avec sans mais où très commande
        il elle on ça cette ce la en me veux voudrais besoin facture magasin compte
        remboursement livraison colis télécharger telecharger numéro reçu""".split()
    ),
    "de": frozenset(
        """hallo danke tschüss tschüs servus moin guten tag morgen abend ja nein bitte genau
        klar super prima entschuldigung schade dir vielen dank der die das den dem ein eine
        einen ich ist und nicht mein meine meinen sie wir ihr bei mit für auf von zu wie wo
        wann kann habe hat noch schon auch bestellung paket möchte brauche rechnung konto
        lieferung filiale gutschein zurück kein keine löschen stornieren geld jemand""".split()
    ),
    "pt": frozenset(
        """olá ola obrigado obrigada tchau adeus bom boa dia tarde noite sim até logo próxima
        perfeito pronto claro desculpe desculpa beleza valeu o os um uma uns umas não nao é
        minha meu meus você vocês está quero posso tenho quanto custa da dos das na nas pelo
        pela ao já também isso isto encomenda com sem em ainda foi tem têm muito me preciso
        loja conta fatura receber recebi dinheiro morada queria telemóvel nada""".split()
    ),
}
# Letters that, among the demo languages, only one language uses.
MARKERS: dict[str, str] = {
    "ã": "pt",
    "õ": "pt",
    "ñ": "es",
    "¿": "es",
    "¡": "es",
    "ß": "de",
    "ä": "de",
    "ö": "de",
    "œ": "fr",
    "è": "fr",
    "ë": "fr",
    "î": "fr",
    "ï": "fr",
    "û": "fr",
    "ù": "fr",
}
MARKER_VOTES = 2.0  # a letter only one language uses weighs as much as two of its words
LEXICON_MAX_WORDS = 8  # longer turns go to the detector, which is reliable on them


@dataclass(frozen=True)
class TextGuess:
    """What the text alone says about its language."""

    code: str
    """Best configured language."""
    probability: float
    """Its probability (detector probability, or a lexicon/script share)."""
    kind: str
    """``script``, ``lexicon`` or ``detector``: the first two are strong even on short turns."""
    letters: int
    """Letters in the turn once numbers, emails and URLs are removed (Han characters weighted)."""
    probabilities: dict[str, float]
    """Every configured language's probability, for the trace."""


class LanguageRouter:
    """Decides the language of each turn; stateless (the session's language is passed in)."""

    def __init__(self, config: LanguageConfig | None = None) -> None:
        self.config = config or LanguageConfig()
        unknown = [code for code in self.config.languages if len(code) != 2]
        if unknown or not self.config.languages:
            raise ParlaError(
                f"language.languages must be ISO 639-1 codes such as 'en', got {unknown or '[]'}"
            )
        if self.config.default not in self.config.languages:
            raise ParlaError(
                f"language.default {self.config.default!r} is not one of the configured "
                f"languages ({', '.join(self.config.languages)})"
            )
        self._detector = _Detector(self.config.languages, self.config.seed)

    @property
    def languages(self) -> tuple[str, ...]:
        return self.config.languages

    def route(
        self,
        text: str,
        session_language: str | None,
        speech_language: tuple[str, float] | None = None,
        user_choice: str | None = None,
    ) -> LanguageDecision:
        """The language to answer this turn in.

        ``user_choice`` (a language the user picked) always wins and must be configured.
        ``speech_language`` is the recogniser's (code, probability); it decides when it names a
        configured language with at least ``min_speech_confidence``, otherwise the transcript's
        text decides. A session language that is not configured is ignored.
        """
        if user_choice:
            return self._user_choice(user_choice)
        session = session_language if session_language in self.languages else None
        if speech_language is not None:
            decision = self._from_speech(speech_language)
            if decision is not None:
                return decision
        return self._from_text(text or "", session)

    def guess(self, text: str) -> TextGuess | None:
        """The text's own evidence, or None when it holds no letters (emoji, numbers, nothing)."""
        return self._detector.guess(text)

    def _user_choice(self, choice: str) -> LanguageDecision:
        code = choice.strip().lower()
        if code not in self.languages:
            raise ParlaError(
                f"language {choice!r} is not available; choose one of {', '.join(self.languages)}"
            )
        return LanguageDecision(code, 1.0, "user", "chosen by the user")

    def _from_speech(self, speech: tuple[str, float]) -> LanguageDecision | None:
        code, probability = speech[0].lower(), float(speech[1])
        if code in self.languages and probability >= self.config.min_speech_confidence:
            return LanguageDecision(
                code, probability, "speech", f"speech language ID {code} p={probability:.2f}"
            )
        logger.debug("speech language %s p=%.2f is not decisive; using the text", code, probability)
        return None

    def _from_text(self, text: str, session: str | None) -> LanguageDecision:
        guess = self._detector.guess(text)
        if guess is None:
            return self._keep(session, 0.0, "no letters in the turn")
        strong = guess.kind != "detector" or (
            guess.probability >= self.config.min_confidence_to_switch
            and guess.letters >= self.config.min_chars_to_switch
        )
        evidence = f"{guess.kind} {guess.code} p={guess.probability:.2f}"
        if guess.code == session or strong:
            return LanguageDecision(guess.code, guess.probability, "text", evidence)
        if session is None and 2 * guess.letters >= self.config.min_chars_to_switch:
            # A first turn has nothing better to go on than the detector's best guess.
            return LanguageDecision(guess.code, guess.probability, "text", evidence + " (weak)")
        reason = f"short or ambiguous turn ({guess.letters} letters, {evidence})"
        return self._keep(session, guess.probabilities.get(session or "", 0.0), reason)

    def _keep(self, session: str | None, probability: float, reason: str) -> LanguageDecision:
        if session is None:
            return LanguageDecision(self.config.default, probability, "default", reason)
        return LanguageDecision(session, probability, "session", f"kept {session}: {reason}")


def load_language_router(config: LanguageConfig | None = None) -> LanguageRouter:
    return LanguageRouter(config)


class _Detector:
    """langdetect restricted to the configured languages, plus script and lexicon evidence."""

    _lock = threading.Lock()  # langdetect's factory is shared and not thread-safe to build
    _factory: Any = None

    def __init__(self, languages: tuple[str, ...], seed: int) -> None:
        self.languages = languages
        self.seed = seed
        self.prior = {
            name: 1.0 for code in languages for name in _DETECTOR_CODES.get(code, (code,))
        }
        self._to_iso = {
            name: code for code in languages for name in _DETECTOR_CODES.get(code, (code,))
        }

    def guess(self, text: str) -> TextGuess | None:
        cleaned = _TOKEN_WITH_DIGIT.sub(
            " ", _EMAIL_OR_URL.sub(" ", unicodedata.normalize("NFC", text))
        )
        han = len(_HAN.findall(cleaned))
        latin = sum(ch.isalpha() for ch in cleaned) - han
        letters = latin + HAN_WEIGHT * han
        if letters == 0:
            return None
        if (
            han
            and "zh" in self.languages
            and HAN_WEIGHT * han >= latin
            and not _KANA_HANGUL.search(cleaned)
        ):
            return TextGuess("zh", 1.0, "script", letters, {"zh": 1.0})
        lexical = self._lexicon(cleaned)
        if lexical is not None:
            code, share = lexical
            return TextGuess(code, share, "lexicon", letters, {code: share})
        probabilities = self._detect(cleaned)
        if not probabilities:
            return None
        code = max(probabilities, key=probabilities.__getitem__)
        return TextGuess(code, probabilities[code], "detector", letters, probabilities)

    def _lexicon(self, text: str) -> tuple[str, float] | None:
        words = [w.lower() for w in _WORD.findall(text)]
        if not words or len(words) > LEXICON_MAX_WORDS:
            return None
        votes: dict[str, float] = {}
        for word in words:
            owners = [c for c, vocab in LEXICON.items() if c in self.languages and word in vocab]
            for code in owners:
                votes[code] = votes.get(code, 0.0) + 1.0 / len(owners)
        for code in {MARKERS[c] for c in text.lower() if c in MARKERS}:
            if code in self.languages:
                votes[code] = votes.get(code, 0.0) + MARKER_VOTES
        ranked = sorted(votes.items(), key=lambda kv: -kv[1]) + [("", 0.0), ("", 0.0)]
        (best, top), (_, second) = ranked[0], ranked[1]
        needed = 1.0 if len(words) <= 2 else 1.5  # one greeting word decides "hola"; not more
        if top < needed or top < 2 * second:
            return None  # no evidence, or a tie ("super", "claro" alone)
        return best, top / (top + second)

    def _detect(self, text: str) -> dict[str, float]:
        from langdetect.lang_detect_exception import LangDetectException

        detector = self._create_detector()
        detector.set_prior_map(self.prior)
        detector.append(text)
        try:
            ranked = detector.get_probabilities()
        except LangDetectException:
            return {}
        out: dict[str, float] = {}
        for item in ranked:
            code = self._to_iso.get(item.lang)
            if code is not None:
                out[code] = out.get(code, 0.0) + float(item.prob)
        return out

    def _create_detector(self):
        with _Detector._lock:
            if _Detector._factory is None:  # the profiles take ~0.5 s to load: once per process
                from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

                factory = DetectorFactory()
                factory.load_profile(PROFILES_DIRECTORY)
                _Detector._factory = factory
            _Detector._factory.set_seed(self.seed)  # unseeded, langdetect answers at random
            return _Detector._factory.create()
