#!/usr/bin/env bash
# The main job: install, prepare the models (fine-tuning included), serve the demo app.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The first run must serve within 15 minutes of now, install included: `parla setup` fits the
# responder's training into what is left (agent/setup.py, setup_deadline).
export PARLA_STARTED_AT="${PARLA_STARTED_AT:-$(date +%s)}"
source "$ROOT/scripts/install.sh"
exec parla demo "$@"
