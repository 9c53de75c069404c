"""Language routing: text, speech and user evidence, sessions, and bad input."""

import pytest

from agent.config import LanguageConfig
from agent.errors import ParlaError
from agent.language import LanguageRouter


@pytest.fixture(scope="module")
def router() -> LanguageRouter:
    return LanguageRouter()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Could you tell me when my laptop will be delivered to my flat?", "en"),
        ("¿Cuándo llegará el portátil que pedí la semana pasada?", "es"),
        ("Quand est-ce que mon ordinateur portable sera livré chez moi ?", "fr"),
        ("Wann wird mein Laptop endlich an meine Adresse geliefert?", "de"),
        ("Quando é que o meu computador portátil vai ser entregue em casa?", "pt"),
        ("我的笔记本电脑什么时候能送到？", "zh"),
    ],
)
def test_long_turns_are_detected(router, text, code):
    decision = router.route(text, None)
    assert decision.code == code
    assert decision.source == "text"


@pytest.mark.parametrize(
    ("text", "code"),
    [("hola", "es"), ("merci", "fr"), ("danke", "de"), ("obrigado", "pt"), ("thanks", "en"),
     ("你好", "zh"), ("Guten Tag", "de"), ("Bom dia", "pt")],
)  # fmt: skip
def test_short_turns_switch_on_strong_evidence(router, text, code):
    # langdetect alone calls "hola" English and "merci" Spanish (see offline-models.md).
    other = "en" if code != "en" else "fr"
    assert router.route(text, other).code == code


@pytest.mark.parametrize("text", ["ok", "VT-20481736", "Klar, VT-57352068", "Apple Pay?"])
def test_short_ambiguous_turns_keep_the_session(router, text):
    decision = router.route(text, "de")
    assert decision.code == "de"


def test_an_ambiguous_short_turn_keeps_the_session_and_says_why(router):
    decision = router.route("Apple Pay?", "zh")
    assert (decision.code, decision.source) == ("zh", "session")
    assert "kept zh" in decision.evidence


def test_user_choice_wins(router):
    decision = router.route("Where is my order?", "en", ("en", 0.99), user_choice="pt")
    assert (decision.code, decision.source, decision.confidence) == ("pt", "user", 1.0)


def test_user_choice_of_an_unconfigured_language_is_a_clear_error(router):
    with pytest.raises(ParlaError, match="not available"):
        router.route("hello", None, user_choice="it")


def test_confident_speech_language_wins_over_text(router):
    decision = router.route("ok", "en", speech_language=("fr", 0.93))
    assert (decision.code, decision.source) == ("fr", "speech")


def test_unsure_speech_language_falls_back_to_the_text(router):
    decision = router.route(
        "Necesito cambiar la dirección de entrega de mi pedido", "en", ("pt", 0.4)
    )
    assert (decision.code, decision.source) == ("es", "text")


def test_speech_language_outside_the_configured_ones_is_ignored(router):
    decision = router.route("ok", "de", speech_language=("it", 0.99))
    assert decision.code == "de"


@pytest.mark.parametrize("text", ["", "   ", "👍👍🎉", "12345 !!!"])
def test_turns_without_letters_keep_the_session_or_default(router, text):
    assert router.route(text, "es").code == "es"
    decision = router.route(text, None)
    assert (decision.code, decision.source) == ("en", "default")


def test_unconfigured_session_language_is_ignored(router):
    assert router.route("ok", "it").code == "en"


def test_detection_is_deterministic(router):
    text = "Quero saber se posso pagar em prestações"
    assert {router.route(text, None).code for _ in range(5)} == {"pt"}


def test_mixed_scripts_follow_the_main_script(router):
    assert router.route("我的订单VT-20739418到哪了？一直显示备货中。", "en").code == "zh"
    assert router.route("Is the Tessa Tab 11 还有货 in the Paris store today?", "zh").code == "en"


def test_very_long_text_is_routed(router):
    text = "Je voudrais savoir où en est ma commande. " * 1200  # ~50,000 characters
    assert router.route(text, "en").code == "fr"


def test_detection_is_restricted_to_configured_languages():
    router = LanguageRouter(LanguageConfig(languages=("en", "de"), default="en"))
    decision = router.route("¿Dónde está mi pedido? Lo compré hace dos semanas.", None)
    assert decision.code in {"en", "de"}


@pytest.mark.parametrize(
    "config",
    [LanguageConfig(languages=()), LanguageConfig(languages=("english",)),
     LanguageConfig(languages=("en", "de"), default="fr")],
)  # fmt: skip
def test_bad_configuration_is_a_clear_error(config):
    with pytest.raises(ParlaError):
        LanguageRouter(config)


def test_demo_dialogues_are_routed_with_their_sessions(router):
    from agent.datasets import demo_dialogues

    turns = hits = 0
    for dialogue in demo_dialogues():
        session = None
        for turn in dialogue["turns"]:
            session = router.route(turn["user"], session).code
            turns += 1
            hits += session == turn["lang"]
    assert hits / turns >= 0.95
