import dataclasses

import numpy as np
import pytest

from agent.messages import AudioIn, Intent, IntentScore, LanguageDecision, Trace


def test_messages_are_frozen():
    intent = Intent("track_order", 0.9, (IntentScore("cancel_order", 0.05),))
    with pytest.raises(dataclasses.FrozenInstanceError):
        intent.label = "other"  # type: ignore[misc]


def test_audio_duration():
    audio = AudioIn(np.zeros(8000, dtype=np.float32))
    assert audio.duration_s == pytest.approx(0.5)


def test_trace_latencies_are_per_instance():
    lang = LanguageDecision("en", 1.0, "user")
    a = Trace(lang, Intent("greeting", 1.0), "small_talk")
    b = Trace(lang, Intent("greeting", 1.0), "small_talk")
    a.latency_ms["asr"] = 1.0
    assert b.latency_ms == {}


def test_a_passage_evidence_holds_its_title_headings_and_text():
    from agent.messages import Passage

    p = Passage("fr/d.md", "Livraison", "Tarif : 9,99 €.", "fr", 0.9, section="Express")
    assert p.evidence == "Livraison\nExpress\nTarif : 9,99 €."
    assert Passage("x", "", "Text.", "en", 0.5).evidence == "Text."
