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

logger = logging.getLogger("parla")

Handler = Callable[[argparse.Namespace], dict[str, Any] | None]


def _quiet_third_party() -> None:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "urllib3", "filelock", "huggingface_hub", "sentence_transformers"):
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
    p.set_defaults(handler=lazy("agent.setup:cmd_setup", 2))

    p = sub.add_parser("demo", help="run setup if needed, then serve the Gradio app")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--index")
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
    p = evaluate.add_parser("dialogues", help="play the demo dialogues through the whole agent")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=lazy("eval.dialogues:cmd_eval_dialogues", 10))

    p = sub.add_parser("export", help="write logged turns as intent training JSONL")
    p.add_argument("--out", required=True)
    p.add_argument("--min-confidence", type=float, default=0.9)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=lazy("agent.commands:cmd_export", 10))
    return parser


def _turn_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--session")
    p.add_argument("--lang")
    p.add_argument("--index")
    p.add_argument("--json", action="store_true")


def _train_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--train", required=True)
    p.add_argument("--valid", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--base")
    p.add_argument("--json", action="store_true")


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
