#!/usr/bin/env bash
# The main job: install, prepare the models (fine-tuning included), serve the demo app.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/install.sh"
exec parla demo "$@"
