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
    log_prob_threshold: float = -1.0  # ...and only when the words' mean log-probability is lower
    compression_ratio_threshold: float = 2.4  # gzip ratio above which text is a repetition loop
    device: str = "auto"  # "cpu", "cuda", or "auto" (a GPU when CTranslate2/torch sees one)
    gpu_compute_type: str = "float16"  # faster-whisper's compute type on a GPU
    cpu_threads: int = 0  # threads for the encoder/decoder; 0 = every core of the machine
    # faster-whisper on the CPU: threads that decode, in a second copy of the model (+110 MB) when
    # this differs from cpu_threads; 0 = the encoder's. One thread decodes a token faster than two
    # (2 cores: JFK 327 -> 303 ms, 3 s turns 149 -> 136 ms).
    decode_threads: int = 1
    vad: bool = True  # find speech first (Silero VAD): silence never reaches Whisper
    vad_threshold: float = 0.5  # Silero speech probability that starts a speech region
    min_speech_ms: int = 250  # shorter bursts (a click, a cough) are not speech
    vad_min_silence_ms: int = 500  # a pause this long ends a speech region
    vad_pad_ms: int = 200  # audio kept on each side of a region so first/last sounds survive
    short_window: bool = True  # encode only the spoken audio, not Whisper's fixed 30 s window
    window_padding_s: float = 7.0  # silence after the speech in a short window: fewer repeats and
    # language-ID slips than 1 s (bench: short-clip CER 35% vs 40%, full window 32%), still fast
    max_window_s: float = 30.0  # Whisper's trained window: utterances are cut to fit it
    utterance_gap_s: float = 0.8  # pauses longer than this split a clip into utterances
    per_utterance_language: bool = True  # each utterance gets its own language ID (code-switching)


@dataclass(frozen=True)
class TTSConfig:
    # Voices per language, ENGINE:VOICE[?options], in order of preference ("|"): the first that
    # is installed speaks. The most intelligible measured here (round-trip CER through Whisper
    # base, `parla eval tts`): SVOX Pico for de/es/fr and MBROLA br3 for pt (Debian non-free,
    # installed by scripts/install.sh), then the best espeak-ng settings.
    voices: dict[str, str] = field(
        default_factory=lambda: {
            "en": "piper:bundle:piper-joe-en",
            "de": "pico:de|espeak-ng:de+m1?rate=135&gap=3",
            "es": "pico:es|espeak-ng:es+m3?rate=150&gap=2",
            "fr": "pico:fr|espeak-ng:fr",
            "pt": "espeak-ng:mb-br3?rate=140|espeak-ng:pt-br?rate=130&gap=3",
            # A neural Mandarin voice from the offline bundle (non-commercial data licence:
            # see speech/tts_fastspeech.py), then espeak-ng.
            "zh": "fastspeech2:bundle:fastspeech2-zh|espeak-ng:cmn-latn-pinyin+m1?rate=130&gap=3",
        }
    )
    fallback: str = "espeak-ng"  # engine for languages without an entry in ``voices``
    # Languages whose voice cannot read Latin script -> the language whose voice reads their
    # Latin-script words: the Mandarin voice would spell "Voltia" letter by letter.
    latin_words: dict[str, str] = field(default_factory=lambda: {"zh": "en"})
    max_chars: int = 2_000  # longer replies are cut at a sentence boundary before speaking
    first_chunk_chars: int = 30  # the first piece is cut this short: first audio in ~0.3 s
    chunk_chars: int = 250  # later pieces: whole sentences, long ones cut at clauses
    pause_s: float = 0.25  # silence between sentences in a whole (non-streamed) reply
    normalise_text: bool = True  # read numbers, order ids, prices, e-mails the way a person would


@dataclass(frozen=True)
class LanguageConfig:
    languages: tuple[str, ...] = LANGUAGES  # the languages Parla answers in
    default: str = "en"  # used when nothing else decides
    min_chars_to_switch: int = 12  # shorter turns keep the session's language
    min_confidence_to_switch: float = 0.90  # detector probability needed to switch
    min_speech_confidence: float = 0.70  # Whisper language-ID probability that decides alone
    seed: int = 0  # langdetect is random unless seeded: the same turn gets the same language


@dataclass(frozen=True)
class IntentConfig:
    model: str = "demo:intent"  # a fine-tuned folder; "demo:intent" is the one setup trains
    base: str = "bundle:e5-small"  # what `parla finetune intent` starts from
    max_length: int = 64  # tokens; longer turns are truncated
    clarify_below: float = 0.45  # confidence under which Parla asks instead of guessing
    quantize: bool = False  # int8 dynamic quantisation of the linear layers (CPU latency)
    # Weights at inference (agent/precision.py): "auto" is bfloat16 where the CPU computes it
    # natively, else float32. Demo test, one query on 2 cores: float32 p50 29 ms, bfloat16 20 ms,
    # the same 1,140 predictions (int8 above: 14 ms but accuracy 0.920 -> 0.903).
    dtype: str = "auto"
    threads: int = 0  # torch threads set when loading; 0 leaves the process's setting alone
    # Cosine an added (few-shot) intent needs at least; None: the model's own, calibrated when
    # it was trained (the fine-tuned space has its own scale: on the demo model a text's cosine
    # to a 4-example centroid of its intent is 0.60 at the median), else 0.80 for older models.
    prototype_min_similarity: float | None = None
    prototype_margin: float = 0.02  # ...and by how much it must beat every trained intent
    # Added to the margin for an intent added from a one-line description: a description is not
    # worded like a request, so its centroid sits further from them. Demo validation, a model
    # trained without two intents, then given their descriptions: recall 0.15 at 0, 0.27 at -0.05
    # with no other turn taken, 0.30 at -0.1 taking 0.09% of other turns.
    description_margin: float = -0.05
    prototype_temperature: float = 0.05  # softmax temperature turning cosines into confidences


@dataclass(frozen=True)
class EntityConfig:
    catalog: str = "demo"  # product names: "demo" (data/demo/catalog.json) or a JSON file
    types: tuple[str, ...] = ("order_number", "email", "phone", "date", "amount", "product")
    day_first: bool = True  # 03/04/2026 is 3 April (a European shop) unless 03 cannot be a day


@dataclass(frozen=True)
class RetrievalConfig:
    embedder: str = "bundle:e5-small"  # any sentence-transformers model
    index: str = "demo:index"  # an index folder; "demo:index" is the demo help centre's
    top_k: int = 5  # passages handed to the responder
    min_score: float = 0.85  # below this cosine score there is "no relevant passage" (measured)
    min_score_other_language: float = 0.81  # same, for a passage in another language (measured)
    # An index taught by labelled questions replaces min_score per language by the score that
    # keeps this share of them (cosine scales differ by language); 0 uses min_score everywhere.
    calibrated_keep: float = 0.95
    chunk_tokens: int = 200  # chunk size limit, in embedder tokens
    chunk_overlap_sentences: int = 1  # sentences repeated between neighbouring chunks
    min_section_tokens: int = 0  # sections shorter than this are merged into the next one
    fallback_below: float = 0.85  # best same-language score under which all languages are searched
    index_kind: str = "auto"  # "auto" (flat, HNSW above approximate_above), "flat" or "hnsw"
    approximate_above: int = 20_000  # chunks per language: flat costs over 1 ms above (measured)
    hnsw_m: int = 32  # HNSW graph degree
    hnsw_ef_construction: int = 80  # HNSW build effort
    hnsw_ef_search: int = 128  # HNSW search effort: recall@10 >= 0.96 of exact at 100k (measured)
    device: str = "cpu"  # "gpu" searches on the GPU (needs the faiss-gpu extra)
    embed_batch_size: int = 32  # texts per forward pass of the embedder
    max_file_mb: float = 20.0  # larger files are skipped (and listed) when indexing


@dataclass(frozen=True)
class ResponderConfig:
    model: str = "demo:responder"  # a fine-tuned folder; "demo:responder" is setup's
    base: str = "bundle:e5-small"  # what `parla finetune responder` warm-starts from
    num_beams: int = 1  # greedy by default: CPU latency
    max_new_tokens: int = 64  # reply length limit
    min_new_tokens: int = 2  # shortest reply the rewriter may write, in tokens
    no_repeat_ngram: int = 3  # the rewriter never repeats a 3-token sequence (0: allowed)
    use_rewriter: bool = True  # False answers with the selected sentences (extractive path)
    rewriter_sentences: int = 2  # best-ranked sentences handed to the rewriter
    extractive_sentences: int = 1  # the extractive reply: the best sentence, and the next...
    extractive_margin: float = 0.02  # ...ones whose score is within this of the best
    passage_weight: float = 2.0  # a sentence's rank adds this times its passage's retrieval score
    shared_words_weight: float = 0.1  # ...and this times the share of the question's rare words
    # it contains. Chosen together on the demo validation split, retrieval in the loop,
    # extractive ROUGE-L: (sentences 2, passage 1, words 0) 0.424; (2, 1, 0.1) 0.433;
    # (1, 1, 0.1) 0.440; (1, 1.5, 0.1) 0.444; (1, 2, 0.1) 0.448; (1, 3, 0.1) 0.449;
    # (1, 5, 0.1) 0.440; (2, 2, 0.1) 0.442. One sentence also makes a shorter spoken reply.
    # The answer memory: a sentence's rank also adds memory_weight times its share of the vote
    # of the memory_neighbours labelled questions nearest the question (softmax of their
    # cosines / memory_temperature). Chosen on the demo validation split, retrieval in the
    # loop, extractive ROUGE-L, a memory of the training questions. Answers in their own
    # language only: (weight, neighbours, temperature) no memory 0.480; (0.1, 5, 0.05) 0.497;
    # (0.2, 5, 0.05) 0.505; (0.3, 5, 0.05) 0.500; (0.5, 5, 0.05) 0.480; (0.2, 10, 0.05) 0.508;
    # (0.3, 10, 0.05) 0.500; (0.3, 10, 0.1) 0.506; (0.3, 3, 0.05) 0.494. With the answers'
    # counterparts in every language (finetune.responder_memory): (0.2, 10, 0.05) 0.529;
    # (0.2, 20, 0.05) 0.533; (0.3, 10, 0.05) 0.519; (0.3, 20, 0.05) 0.525; (0.2, 5, 0.05)
    # 0.524; (0.2, 30, 0.05) 0.532; (0.2, 20, 0.1) 0.528; (0.15, 20, 0.05) 0.529. 0: off.
    memory_weight: float = 0.2
    memory_neighbours: int = 20
    memory_temperature: float = 0.05
    history_turns: int = 2  # earlier user turns the rewriter sees
    max_passages: int = 8  # truncation rule: the first (best) passages kept...
    max_passage_chars: int = 4_000  # ...each cut to this many characters...
    max_sentences: int = 64  # ...and at most this many sentences ranked, in passage order
    min_support: float = 0.8  # guard: share of content words the passages must support
    min_order: float = 0.5  # guard: share of words in the order of the selected sentences
    min_confidence: float | None = None  # rewrites scoring less are not used (None: calibrated)
    # A rewrite whose mean log-probability per token is under give_up_factor x min_confidence
    # after give_up_after tokens is abandoned (it would be rejected). Demo valid + test, 522
    # rewrites, 2 accepted: (4, 2.0) decodes 71% fewer tokens and loses none of the 2;
    # (4, 1.5) loses 1; (8, 2.0) saves 43%. 0 turns it off.
    give_up_factor: float = 2.0
    give_up_after: int = 4


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
    max_upload_mb: int = 50  # per uploaded file (documents, recordings); bigger ones are refused
    concurrency: int = 2  # turns processed at once (2 cores)
    auth: str = ""  # "user:password" to require a login ("" = none); env PARLA_AUTH also works
    max_audio_s: float = 60.0  # longer recordings are refused before transcription
    min_audio_s: float = 0.5  # shorter ones (a click) are refused with a hint to hold and speak
    queue_size: int = 64  # requests waiting beyond this are told the server is busy
    speak_replies: bool = True  # initial state of the "read replies aloud" switch
    kb_dir: str = ""  # documents the knowledge-base tab manages; "" = $PARLA_HOME/kb (demo copy)
    reports_dir: str = ""  # eval report folders; "" = $PARLA_HOME/reports


@dataclass(frozen=True)
class ParlaConfig:
    asr: ASRConfig = field(default_factory=ASRConfig)
    tts: TTSConfig = field(default_factory=TTSConfig)
    language: LanguageConfig = field(default_factory=LanguageConfig)
    intent: IntentConfig = field(default_factory=IntentConfig)
    entities: EntityConfig = field(default_factory=EntityConfig)
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
