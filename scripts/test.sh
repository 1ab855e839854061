#!/usr/bin/env bash
# The test command: installs what the tests need, then runs every test of the workspace.
#  - Python's openpyxl: an independent XLSX reader for the attachment files;
#  - Debian's chromium, chromium-driver, its Chinese locale (chromium-l10n: the browser's own
#    controls, such as the file picker and the date input, in Chinese as in an office) and a
#    Chinese font: the browser end-to-end tests (tests/tests/browser.rs, journeys.rs) drive a
#    real headless Chromium and save screenshots.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c 'import openpyxl' 2>/dev/null; then
  python3 -m pip install --quiet openpyxl
fi
if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null || ! [ -e /usr/lib/chromium/locales/zh-CN.pak ] || ! fc-list 2>/dev/null | grep -qi 'wqy\|noto sans cjk'; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver chromium-l10n fonts-wqy-microhei >/dev/null
fi
cargo test --workspace "$@"
