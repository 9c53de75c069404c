"""One frozen config dataclass per stage, with defaults that work offline, and the one loader.

Model fields take a hub id (``intfloat/multilingual-e5-base``), a local folder, or a
``bundle:`` name from the offline bundle built by ``parla setup`` (see ``agent.models``).
A TOML file overrides any field (``[retrieval] top_k = 8``), and the command line overrides
the file (``--set retrieval.top_k=8``).
"""

from __future__ import annotations

import dataclasses
import logging
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from agent.errors import ParlaError

logger = logging.getLogger(__name__)

LANGUAGES = ("en", "zh", "es", "fr", "de", "pt")  # the demo's languages, ISO 639-1


@dataclass(frozen=True)
class ASRConfig:
    backend: str = "faster-whisper"  # "faster-whisper" or "openai-whisper"
    model: str = "bundle:whisper-base"  # bundle name, local folder, or a Whisper model name/id
    compute_type: str = "int8"  # faster-whisper on CPU; float16 is used on a GPU
    beam_size: int = 1  # 1 is ~20% faster than 5 for ~2 points of WER (measured)
    max_audio_s: float = 120.0  # longer recordings are refused before decoding
    max_bytes: int = 50_000_000  # uploads larger than this are refused unread
    no_speech_threshold: float = 0.6  # Whisper's no-speech probability above which a turn is empty


@dataclass(frozen=True)
class TTSConfig:
    voices: dict[str, str] = field(default_factory=lambda: {"en": "piper:bundle:piper-joe-en"})
    fallback: str = "espeak-ng"  # engine for languages without an entry in ``voices``
    max_chars: int = 2_000  # longer replies are cut at a sentence boundary before speaking


@dataclass(frozen=True)
class LanguageConfig:
    languages: tuple[str, ...] = LANGUAGES  # the languages Parla answers in
    default: str = "en"  # used when nothing else decides
    min_chars_to_switch: int = 12  # shorter turns keep the session's language
    min_confidence_to_switch: float = 0.90  # detector probability needed to switch


@dataclass(frozen=True)
class IntentConfig:
    model: str = "demo:intent"  # a fine-tuned folder; "demo:intent" is the one setup trains
    base: str = "bundle:e5-small"  # what `parla finetune intent` starts from
    max_length: int = 64  # tokens; longer turns are truncated
    clarify_below: float = 0.45  # confidence under which Parla asks instead of guessing


@dataclass(frozen=True)
class RetrievalConfig:
    embedder: str = "bundle:e5-small"  # any sentence-transformers model
    index: str = "demo:index"  # an index folder; "demo:index" is the demo help centre's
    top_k: int = 5  # passages handed to the responder
    min_score: float = 0.80  # below this cosine score there is "no relevant passage"
    chunk_tokens: int = 200  # chunk size limit, in embedder tokens
    chunk_overlap_sentences: int = 1  # sentences repeated between neighbouring chunks


@dataclass(frozen=True)
class ResponderConfig:
    model: str = "demo:responder"  # a fine-tuned folder; "demo:responder" is setup's
    base: str = "bundle:e5-small"  # what `parla finetune responder` warm-starts from
    num_beams: int = 1  # greedy by default: CPU latency
    max_new_tokens: int = 64  # reply length limit


@dataclass(frozen=True)
class AgentConfig:
    history_turns: int = 8  # turns of history kept per session
    max_sessions: int = 1_000  # oldest idle sessions are dropped beyond this
    session_ttl_s: float = 1_800.0  # a session expires after this much inactivity
    max_text_chars: int = 2_000  # longer text turns are truncated (and the trace says so)
    policy: str = ""  # dialogue policy TOML; empty = agent/policy.toml


@dataclass(frozen=True)
class UIConfig:
    host: str = "127.0.0.1"  # loopback by default: expose deliberately
    port: int = 7860
    share: bool = False  # never open a public tunnel unless asked
    max_upload_mb: int = 50
    concurrency: int = 2  # turns processed at once (2 cores)


@dataclass(frozen=True)
class ParlaConfig:
    asr: ASRConfig = field(default_factory=ASRConfig)
    tts: TTSConfig = field(default_factory=TTSConfig)
    language: LanguageConfig = field(default_factory=LanguageConfig)
    intent: IntentConfig = field(default_factory=IntentConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    responder: ResponderConfig = field(default_factory=ResponderConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    ui: UIConfig = field(default_factory=UIConfig)


T = TypeVar("T")


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> ParlaConfig:
    """Read defaults, then a TOML file, then ``section.key=value`` overrides."""
    data: dict[str, dict[str, Any]] = {}
    if path is not None:
        data = _read_toml(Path(path))
    for item in overrides or []:
        section, key, value = _parse_override(item)
        data.setdefault(section, {})[key] = value
    return _build(ParlaConfig, data, "config")


def _read_toml(path: Path) -> dict[str, dict[str, Any]]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ParlaError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ParlaError(f"config file {path} is not valid TOML: {exc}") from None


def _parse_override(item: str) -> tuple[str, str, Any]:
    if "=" not in item or "." not in item.split("=", 1)[0]:
        raise ParlaError(f"override {item!r} must look like section.key=value")
    dotted, raw = item.split("=", 1)
    section, key = dotted.split(".", 1)
    try:
        value: Any = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word is a string
    return section.strip(), key.strip(), value


def _build(cls: type[T], data: dict[str, Any], where: str) -> T:
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - set(fields)
    if unknown:
        raise ParlaError(f"unknown {where} key(s): {', '.join(sorted(unknown))}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        default = getattr(cls(), name)
        if dataclasses.is_dataclass(default):
            if not isinstance(value, dict):
                raise ParlaError(f"{where}.{name} must be a table")
            kwargs[name] = _build(type(default), value, f"{where}.{name}")
        else:
            kwargs[name] = _coerce(value, default, f"{where}.{name}")
    return cls(**kwargs)


def _coerce(value: Any, default: Any, where: str) -> Any:
    if isinstance(default, tuple):
        return tuple(value) if isinstance(value, list) else (value,)
    if isinstance(default, bool) or default is None:
        return value
    if isinstance(default, float) and isinstance(value, int):
        return float(value)
    if not isinstance(value, type(default)):
        raise ParlaError(f"{where} should be a {type(default).__name__}, got {value!r}")
    return value
