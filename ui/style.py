"""How the page looks and the little it does in the browser on its own.

The theme uses the system's fonts: a self-hosted page fetches nothing from other sites. The
script in ``HEAD`` covers what the server cannot see: a microphone the browser refuses (denied
permission, no device, or a page served over plain http to another machine), said in words next
to the microphone instead of a silent button.
"""

from __future__ import annotations

from typing import Any

SYSTEM_FONTS = ("ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "sans-serif")
MONO_FONTS = ("ui-monospace", "SFMono-Regular", "Menlo", "monospace")


def theme() -> Any:
    import gradio as gr

    return gr.themes.Soft(
        primary_hue="indigo",
        secondary_hue="sky",
        neutral_hue="slate",
        font=list(SYSTEM_FONTS),
        font_mono=list(MONO_FONTS),
        radius_size="lg",
    )


CSS = """
.gradio-container { max-width: 1280px !important; width: 100% !important; margin: 0 auto; }
footer { opacity: .6; }
#parla-header { display: flex; align-items: center; gap: 14px; padding: 6px 2px 2px; }
#parla-header .logo { width: 42px; height: 42px; flex-shrink: 0; border-radius: 12px; display: grid;
  place-items: center; background: linear-gradient(135deg, #4f46e5, #0ea5e9); color: #fff;
  font-weight: 700; font-size: 22px; }
#parla-header h1 { margin: 0; font-size: 1.45rem; line-height: 1.2; }
#parla-header p { margin: 0; color: var(--body-text-color-subdued); font-size: .92rem; }
.parla-badge { display: inline-block; padding: 4px 12px; border-radius: 999px;
  background: var(--color-accent-soft); color: var(--color-accent); font-size: .85rem;
  font-weight: 600; white-space: nowrap; }
#parla-badge { text-align: right; }
.parla-status { padding: 6px 12px; border-radius: 8px; font-size: .9rem; }
#parla-status { min-height: 32px; }  /* room for the queue position while a turn waits */
.parla-info { color: var(--body-text-color-subdued); }
.parla-ok { background: #ecfdf5; color: #065f46; }
.parla-warn { background: #fffbeb; color: #92400e; border: 1px solid #fcd34d; }
.parla-error { background: #fef2f2; color: #991b1b; border: 1px solid #fca5a5; }
.parla-handoff { padding: 10px 14px; border-radius: 10px; background: #fff7ed;
  border: 1px solid #fdba74; color: #7c2d12; }
.parla-sources-head { font-size: .8rem; font-weight: 600; letter-spacing: .02em;
  text-transform: uppercase; color: var(--body-text-color-subdued); margin-bottom: 4px; }
.parla-source { margin-top: 6px; display: flex; flex-wrap: wrap; align-items: baseline; gap: 8px; }
.parla-source-title { font-weight: 600; }
.parla-score { font-size: .78rem; padding: 1px 8px; border-radius: 999px;
  background: var(--color-accent-soft); color: var(--color-accent); }
.parla-docid { font-size: .75rem; opacity: .7; }
.parla-snippet { color: var(--body-text-color-subdued); font-size: .9rem; margin: 4px 0; }
details.parla-article summary { cursor: pointer; color: var(--color-accent); font-size: .88rem; }
.parla-article-text { max-height: 320px; overflow-y: auto; font-size: .88rem; padding: 6px 2px; }
#parla-mic-hint:empty { display: none; }
#parla-why { font-size: .9rem; }
#parla-why table { font-size: .85rem; }
#parla-why td, #parla-why th { padding: 2px 10px !important; }
.parla-progress { height: 10px; border-radius: 999px; background: var(--neutral-200);
  overflow: hidden; margin: 6px 0; }
.parla-progress > div { height: 100%; background: linear-gradient(90deg, #4f46e5, #0ea5e9);
  transition: width .4s ease; }
#parla-send { min-width: 90px; }
.parla-plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr));
  gap: 16px; margin-top: 12px; }
.parla-plots figure { margin: 0; padding: 10px; border: 1px solid var(--border-color-primary);
  border-radius: 12px; background: var(--block-background-fill); }
.parla-plots img { width: 100%; height: auto; }
.parla-plots figcaption { text-align: center; font-size: .9rem; margin-top: 6px;
  color: var(--body-text-color-subdued); }
"""

# Runs once per page. Gradio's recorder only greys out when the browser refuses the microphone,
# and records for as long as it is left running; this says why the microphone cannot open, and
# stops a forgotten recording just before the server's limit, saying so.
_HEAD = """
<script>
(() => {
  const LIMIT_S = __MAX_AUDIO_S__;
  const STOP_MS = Math.max(1000, LIMIT_S * 1000 - 500);  // before the server's limit
  let stopTimer = null;
  const say = (text) => {
    const hint = document.querySelector('#parla-mic-hint');
    if (hint) { hint.innerHTML = text ? `<div class="parla-status parla-warn">${text}</div>` : ''; }
  };
  const why = (err) => {
    if (!window.isSecureContext || !navigator.mediaDevices) {
      return 'The browser only opens the microphone on https:// pages or on this computer ' +
             '(localhost). Type your question, or ask the operator to serve Parla over https.';
    }
    if (err && (err.name === 'NotAllowedError' || err.name === 'SecurityError')) {
      return 'The microphone is blocked for this page. Allow it in the browser\\'s site ' +
             'settings (the icon left of the address), then press Record again, or type instead.';
    }
    if (err && (err.name === 'NotFoundError' || err.name === 'OverconstrainedError')) {
      return 'No microphone was found. Plug one in and press Record again, or type instead.';
    }
    return 'The microphone could not be opened (' + (err && err.name || 'unknown error') +
           '). Type your question instead.';
  };
  const check = async () => {
    if (!window.isSecureContext || !navigator.mediaDevices) { say(why(null)); return false; }
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      stream.getTracks().forEach((t) => t.stop());
      say('');
      return true;
    } catch (err) { say(why(err)); return false; }
  };
  const stopAtLimit = () => {
    clearTimeout(stopTimer);
    stopTimer = setTimeout(() => {
      const stop = document.querySelector('#parla-mic button.stop-button');
      if (stop && stop.offsetParent !== null) {
        stop.click();
        say(`Recording stopped at the ${LIMIT_S}-second limit for one message. ` +
            'It is being answered now.');
      }
    }, STOP_MS);
  };
  document.addEventListener('click', async (event) => {
    const target = event.target.closest ? event.target : null;
    if (!target) return;
    if (target.closest('#parla-mic button.stop-button, #parla-mic button.stop-button-paused')) {
      clearTimeout(stopTimer);
    } else if (target.closest('#parla-mic button.record-button, #parla-mic .mic-select')) {
      if (await check() && target.closest('button.record-button')) stopAtLimit();
    }
  }, true);
})();
</script>
"""


def head(max_audio_s: float) -> str:
    """The page's script, stopping recordings half a second before ``max_audio_s``."""
    return _HEAD.replace("__MAX_AUDIO_S__", f"{max_audio_s:g}")
