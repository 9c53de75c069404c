"""The Gradio app: chat by text or voice, the why of each answer, the knowledge base, the evals.

``parla demo`` runs ``ui.commands.cmd_demo``. To serve another agent (or fakes, in tests)::

    from ui import AppContext, build_app, serve
    app = build_app(AppContext(agent, sessions, knowledge=..., reports_root=...))
    serve(app, ui_config)

Heavy imports (gradio) happen inside these functions, so ``import ui`` stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AppContext", "FolderKnowledgeBase", "KnowledgeBaseAdmin", "build_app", "serve"]


def __getattr__(name: str) -> Any:
    if name == "AppContext":
        from ui.chat_page import AppContext

        return AppContext
    if name in ("FolderKnowledgeBase", "KnowledgeBaseAdmin"):
        import ui.knowledge

        return getattr(ui.knowledge, name)
    if name == "build_app":
        from ui.app import build_app

        return build_app
    if name == "serve":
        from ui.serving import serve

        return serve
    raise AttributeError(name)
