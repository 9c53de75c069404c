"""The ``parla`` command line (contract: ``../shared/docs/cli-contract.md``).

Every command exits non-zero with a one-line error on bad input; ``--json`` prints exactly one
JSON object on stdout, and logs go to stderr.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from agent.errors import ParlaError
from agent.threads import passive_openmp

logger = logging.getLogger("parla")

Handler = Callable[[argparse.Namespace], dict[str, Any] | None]


def _quiet_third_party() -> None:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    passive_openmp()  # read once when torch loads: here, before any handler imports torch


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    noisy_loggers = ("httpx", "urllib3", "filelock", "huggingface_hub", "sentence_transformers")
    for noisy in (*noisy_loggers, "faiss"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def lazy(target: str, issue: int) -> Handler:
    """A handler imported only when its command runs (``"module:function"``).

    Heavy libraries (torch, faiss, gradio) load only for the command that needs them. A stage
    whose module has not landed yet answers with a one-line error naming its issue.
    """

    def handler(args: argparse.Namespace) -> dict[str, Any] | None:
        module_name, func_name = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            raise ParlaError(
                f"`parla {args.command}` is not available yet (issue #{issue})"
            ) from None
        result: dict[str, Any] | None = getattr(module, func_name)(args)
        return result

    return handler


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parla",
        description="Parla: a self-hosted multilingual customer-service agent (voice and text).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("setup", help="prepare the offline model bundle, demo index and models")
    p.add_argument("--json", action="store_true")
    p.add_argument("--bundle-only", action="store_true", help="only the offline model bundle")
    p.set_defaults(handler=lazy("agent.setup:cmd_setup", 2))

    p = sub.add_parser("demo", help="run setup if needed, then serve the Gradio app")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int)
    p.add_argument("--index", help="answer from this index folder instead of the demo's")
    p.add_argument("--kb", help="documents folder the knowledge-base tab manages")
    p.add_argument("--share", action="store_true", help="open a public Gradio link (internet)")
    p.add_argument("--auth", help="require a login: user:password (or env PARLA_AUTH)")
    p.add_argument("--config", help="TOML config file")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override config")
    p.set_defaults(handler=lazy("ui.commands:cmd_demo", 6))

    p = sub.add_parser("chat", help="one text turn (or an interactive session with no TEXT)")
    p.add_argument("text", nargs="?")
    _turn_options(p)
    p.set_defaults(handler=lazy("agent.commands:cmd_chat", 10))

    p = sub.add_parser("voice", help="one voice turn: transcribe, answer, speak")
    p.add_argument("audio")
    p.add_argument("--out")
    _turn_options(p)
    p.set_defaults(handler=lazy("agent.commands:cmd_voice", 10))

    index = sub.add_parser("index", help="knowledge-base index").add_subparsers(
        dest="index_command", required=True, metavar="ACTION"
    )
    p = index.add_parser("build", help="ingest a folder or file of documents into a FAISS index")
    p.add_argument("--kb", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=lazy("retrieval.commands:cmd_index_build", 4))

    finetune = sub.add_parser("finetune", help="fine-tune a model").add_subparsers(
        dest="finetune_command", required=True, metavar="MODEL"
    )
    for name, target, issue in (
        ("intent", "finetune.intent:cmd_finetune_intent", 5),
        ("responder", "finetune.responder:cmd_finetune_responder", 9),
    ):
        p = finetune.add_parser(name, help=f"fine-tune the {name} model")
        _train_options(p)
        if name == "intent":
            _intent_train_options(p)
        p.set_defaults(handler=lazy(target, issue))

    evaluate = sub.add_parser("eval", help="offline evaluation").add_subparsers(
        dest="eval_command", required=True, metavar="STAGE"
    )
    for name, issue, flags in (
        ("intent", 5, ("--model", "--test")),
        ("retrieval", 4, ("--index", "--queries")),
        ("asr", 8, ("--manifest",)),
        ("responder", 9, ("--model", "--test")),
    ):  # each runs eval.<name>:cmd_eval_<name>
        p = evaluate.add_parser(name, help=f"evaluate the {name} stage")
        for flag in flags:
            p.add_argument(flag, required=True)
        p.add_argument("--report")
        p.add_argument("--json", action="store_true")
        p.set_defaults(handler=lazy(f"eval.{name}:cmd_eval_{name}", issue))
    p = evaluate.add_parser("entities", help="evaluate entity extraction (issue #5)")
    p.add_argument("--data", help="annotated JSONL (default: the demo's entities.jsonl)")
    p.add_argument("--report")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=lazy("eval.entities:cmd_eval_entities", 5))
    p = evaluate.add_parser("all", help="every stage and the whole cascade: one report")
    p.add_argument("--report", help="report folder (default $PARLA_HOME/reports/<time>)")
    p.add_argument("--per-language", type=int, default=5, help="spoken clips per language")
    p.add_argument("--no-speech", action="store_true", help="skip TTS and the spoken cascade")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=lazy("eval.all:cmd_eval_all", 7))
    p = evaluate.add_parser("dialogues", help="play the demo dialogues through the whole agent")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=lazy("eval.dialogues:cmd_eval_dialogues", 10))

    p = sub.add_parser("bench", help="run every benchmark; JSON and Markdown in one folder")
    p.add_argument("--out", help="folder (default $PARLA_HOME/bench/<time>)")
    p.add_argument("--only", help="comma-separated: agent,speech,retrieval,intent,responder")
    p.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per benchmark")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=lazy("eval.bench:cmd_bench", 7))

    p = sub.add_parser("export", help="write logged turns as intent training JSONL")
    p.add_argument("--out", required=True)
    p.add_argument("--min-confidence", type=float, default=0.9)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=lazy("agent.commands:cmd_export", 10))
    _speech_options(sub, evaluate)  # issue #8
    _retrieval_options(index, evaluate)  # issue #4
    _responder_options(finetune, evaluate)  # issue #9
    return parser


def _turn_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--session")
    p.add_argument("--lang")
    p.add_argument("--index")
    p.add_argument("--json", action="store_true")


def _speech_options(sub: Any, evaluate: Any) -> None:
    """Issue #8: `parla transcribe`, `parla speak`, `parla eval tts`, and `eval asr` knobs."""
    p = evaluate.choices["asr"]
    p.add_argument("--backend", help="faster-whisper (default) or openai-whisper")
    p.add_argument("--model", help="bundle:whisper-base, a local folder/.pt, or a model name")
    p.add_argument("--beam-size", type=int)
    p.add_argument("--full-window", action="store_true", help="encode Whisper's 30 s window")
    p.add_argument("--limit", type=int, help="first N clips only")
    p = evaluate.add_parser("tts", help="synthesis speed and round-trip intelligibility (CER)")
    p.add_argument("--texts", help="JSONL {text, lang} (default: the demo's reference answers)")
    p.add_argument("--limit", type=int, help="texts per language (default 10)")
    p.add_argument("--lang", help="comma-separated languages (default: all present)")
    p.add_argument("--voice", action="append", metavar="LANG=ENGINE:VOICE", help="also measure")
    p.add_argument("--report")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=lazy("eval.tts:cmd_eval_tts", 8))
    p = sub.add_parser("transcribe", help="speech to text only: print what an audio file says")
    p.add_argument("audio")
    p.add_argument("--lang", help="skip language ID: the audio is in this language")
    p.add_argument("--backend", help="faster-whisper (default) or openai-whisper")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=lazy("speech.commands:cmd_transcribe", 8))
    p = sub.add_parser("speak", help="text to speech only: write TEXT as a WAV file")
    p.add_argument("text")
    p.add_argument("--lang", default="en")
    p.add_argument("--out", required=True, help="WAV file to write")
    p.add_argument("--voice", help="ENGINE:VOICE instead of the language's configured voice")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=lazy("speech.commands:cmd_speak", 8))


def _retrieval_options(index: Any, evaluate: Any) -> None:
    """Issue #4: `parla index build` / `parla eval retrieval` knobs."""
    index.choices["build"].add_argument(
        "--train-queries", help="JSONL {query, relevant, lang}: past questions teach the index"
    )
    for p in (index.choices["build"], evaluate.choices["retrieval"]):
        p.add_argument("--embedder", help="sentence-transformers model: bundle name, path or id")
        p.add_argument("--config", help="TOML config file")
        p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override")


def _responder_options(finetune: Any, evaluate: Any) -> None:
    """Issue #9: `parla finetune responder` / `parla eval responder` knobs."""
    p = finetune.choices["responder"]
    p.add_argument("--kb", help="knowledge base the answers come from (default: the demo's)")
    p.add_argument(
        "--budget", type=float, help="training work budget in CPU seconds per thread (default 400)"
    )
    p.add_argument("--decoder-layers", type=int, help="rewriter decoder depth (default 2)")
    p.add_argument("--pretrain-pairs", type=int, help="self-supervised KB pairs (0: none)")
    p.add_argument("--seed", type=int)
    p = evaluate.choices["responder"]
    p.add_argument("--index", help="index folder to retrieve from (default: the demo index)")
    p.add_argument(
        "--passages",
        choices=("retrieval", "article", "given"),
        help="retrieval (default), the reference article, or the test lines' own passages",
    )
    p.add_argument("--split", help="keep lines whose split field is this (default test)")
    p.add_argument("--limit", type=int, help="first N questions per language")
    p.add_argument("--no-rewriter", action="store_true", help="extractive answers only")


def _train_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--train", required=True)
    p.add_argument("--valid", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--base")
    p.add_argument("--json", action="store_true")


def _intent_train_options(p: argparse.ArgumentParser) -> None:
    """Issue #5: `parla finetune intent` knobs; unset ones keep finetune.intent's defaults."""
    p.epilog = "--valid also takes a fraction of --train to hold out, e.g. --valid 0.1"
    p.add_argument("--epochs", type=int, help="maximum epochs (early stopping may end sooner)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="peak learning rate")
    p.add_argument("--layers", type=int, help="keep only the first N transformer layers")
    p.add_argument("--train-layers", type=int, help="train the top N layers (default 4; 0: all)")
    p.add_argument("--max-length", type=int, help="tokens (default: from the training data)")
    p.add_argument("--max-minutes", type=float, help="stop at the first validation past this")
    p.add_argument("--seed", type=int)
    p.add_argument("--threads", type=int, help="torch threads (default 2)")


def main(argv: list[str] | None = None) -> int:
    _quiet_third_party()
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    started = time.monotonic()
    try:
        result = args.handler(args)
    except ParlaError as exc:
        print(f"parla: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("parla: interrupted", file=sys.stderr)
        return 130
    if result is not None:
        result.setdefault("seconds", round(time.monotonic() - started, 2))
        if getattr(args, "json", False):
            print(json.dumps(result, ensure_ascii=False))
        else:
            _print_human(result)
    return 0


def _print_human(result: dict[str, Any]) -> None:
    for key, value in result.items():
        if isinstance(value, dict):
            print(f"{key}:")
            for k, v in value.items():
                print(f"  {k}: {v}")
        else:
            print(f"{key}: {value}")


if __name__ == "__main__":
    sys.exit(main())
