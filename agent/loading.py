"""Load every stage once and assemble the ``Agent`` (for the CLI, the app and the benchmarks)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from agent.config import ParlaConfig
from agent.messages import AudioIn, SpeechOut
from agent.models import parla_home
from agent.orders import JsonlOrders
from agent.pipeline import Agent, Stages
from agent.policy import load_policy
from agent.session import Session, SessionStore, session_from_dict, session_to_dict
from agent.store import ConversationStore

logger = logging.getLogger(__name__)


@dataclass
class LoadedAgent:
    """The agent plus where its sessions live."""

    agent: Agent
    config: ParlaConfig
    sessions: SessionStore
    store: ConversationStore

    def open_session(self, session_id: str | None) -> Session:
        """A session by id, restored from the store when another process used it last."""
        if session_id:
            saved = self.store.load_session(session_id, self.config.agent.session_ttl_s)
            if saved is not None:
                return session_from_dict(saved, self.config.agent.history_turns)
        return self.sessions.get(session_id)

    def close_session(self, session: Session) -> None:
        self.store.save_session(session.id, session_to_dict(session))


def load_stages(config: ParlaConfig, index_dir: Path | None = None, voice: bool = False) -> Stages:
    from agent.entities import load_entity_extractor
    from agent.intent import load_intent_classifier
    from agent.language import load_language_router
    from agent.responder import load_responder
    from retrieval.knowledge_base import load_knowledge_base

    stages = Stages(
        router=load_language_router(config.language),
        intents=load_intent_classifier(config.intent),
        entities=load_entity_extractor(),
        knowledge=load_knowledge_base(config.retrieval, index_dir),
        responder=load_responder(config.responder),
        orders=JsonlOrders(),
    )
    if voice:
        from speech.asr import load_transcriber
        from speech.tts import load_synthesizer

        stages.transcriber = load_transcriber(config.asr, config.language.languages)
        stages.synthesizer = load_synthesizer(config.tts)
    return stages


def load_agent(
    config: ParlaConfig,
    index_dir: Path | None = None,
    voice: bool = False,
    store_path: Path | None = None,
) -> LoadedAgent:
    store = ConversationStore(store_path or parla_home() / "conversations.sqlite")
    stages = load_stages(config, index_dir, voice)
    agent = Agent(
        stages,
        load_policy(config.agent.policy),
        config.agent,
        store,
        top_k=config.retrieval.top_k,
        default_language=config.language.default,
    )
    sessions = SessionStore(
        config.agent.max_sessions, config.agent.session_ttl_s, config.agent.history_turns
    )
    return LoadedAgent(agent, config, sessions, store)


def decode_turn_audio(bundle: LoadedAgent, source: str) -> AudioIn:
    from speech.audio import decode_audio

    return decode_audio(source, bundle.config.asr)


def write_wav(speech: SpeechOut, path: Path) -> None:
    from speech.tts import write_wav as _write

    _write(speech, path)
