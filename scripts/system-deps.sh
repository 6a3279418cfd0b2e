#!/usr/bin/env bash
# Installs the Debian packages the local stack needs, only when they are missing:
# redis-server (the broker) and python3-venv (Debian's Python ships venv separately).
set -euo pipefail

python=${1:-python3}
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
"$python" -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
((${#missing[@]})) || exit 0

sudo=()
[[ $(id -u) -eq 0 ]] || sudo=(sudo)
echo "Installing ${missing[*]} with apt-get"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
