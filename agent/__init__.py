"""Parla: a self-hosted multilingual customer-service agent.

The stages live in folders named after them: ``speech/`` (Whisper in, a voice out),
``retrieval/`` (the knowledge base and its FAISS index), ``agent/`` (language, intent,
entities, responder, dialogue), ``finetune/`` (training), ``ui/`` (the Gradio app) and
``eval/`` (offline measurements). ``agent.messages`` holds what flows between them.
"""

__version__ = "0.1.0"
