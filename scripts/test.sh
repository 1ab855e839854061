#!/usr/bin/env bash
# The test command: installs what the tests need (Python's openpyxl, an independent XLSX reader),
# then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c 'import openpyxl' 2>/dev/null; then
  python3 -m pip install --quiet openpyxl
fi
cargo test --workspace "$@"
