#!/usr/bin/env bash
# Prints PyTorch's CPU wheel index when this platform has wheels there and it answers, else
# nothing: on Linux x86_64, PyPI's torch is a CUDA build of several GB, the CPU one a tenth
# of that. Used by the Makefile for the `hf` extra (in `dev`); TORCH_INDEX= overrides it.
set -euo pipefail
index=https://download.pytorch.org/whl/cpu
if [ "$(uname -s)" = Linux ] && [ "$(uname -m)" = x86_64 ] \
  && curl -fsS --max-time 3 -o /dev/null "$index/torch/" 2>/dev/null; then
  echo "$index"
fi
