"""speech.vad: silence and noise hold no speech; regions group into utterances."""

import numpy as np

from agent.config import ASRConfig
from speech.vad import NoVAD, SileroVAD, SpeechRegion, group_regions, load_vad

SR = 16_000


def test_digital_silence_has_no_speech_without_running_the_model():
    vad = SileroVAD(ASRConfig())
    assert vad.regions(np.zeros(5 * SR, dtype=np.float32)) == []
    assert vad.regions(np.zeros(0, dtype=np.float32)) == []


def test_white_noise_has_no_speech():
    rng = np.random.default_rng(1)
    for amp in (0.05, 0.5):
        noise = np.clip(rng.standard_normal(10 * SR) * amp, -1, 1).astype(np.float32)
        assert SileroVAD(ASRConfig()).regions(noise) == []


def test_vad_can_be_switched_off():
    assert isinstance(load_vad(ASRConfig(vad=False)), NoVAD)
    assert NoVAD().regions(np.full(SR, 0.1, dtype=np.float32)) == [SpeechRegion(0, SR)]
    assert NoVAD().regions(np.zeros(SR, dtype=np.float32)) == []


def test_short_pauses_merge_long_pauses_split():
    regions = [
        SpeechRegion(0, SR),
        SpeechRegion(int(1.3 * SR), 2 * SR),
        SpeechRegion(4 * SR, 5 * SR),
    ]
    assert group_regions(regions, max_gap_s=0.8, max_len_s=28) == [
        SpeechRegion(0, 2 * SR),
        SpeechRegion(4 * SR, 5 * SR),
    ]


def test_utterances_never_exceed_the_window():
    regions = [SpeechRegion(i * 10 * SR, (i * 10 + 9) * SR) for i in range(6)]
    merged = group_regions(regions, max_gap_s=2.0, max_len_s=28)
    assert all(r.duration_s <= 28 for r in merged)
    assert len(merged) == 3
