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
