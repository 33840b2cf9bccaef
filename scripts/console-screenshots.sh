#!/usr/bin/env bash
# Renders the console's dialogs and pages (offscreen) against a throwaway PostgreSQL cluster and
# writes the PNGs to docs/screenshots/, which README.md and docs/console.md show. The same
# program is the `gui` test (tst_console_gui); here it only writes somewhere else.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
cmake --build "$BUILD_DIR" --target tst_console_gui tst_console_watch_gui
mkdir -p docs/screenshots
DLB_SCREENSHOT_DIR="$PWD/docs/screenshots" QT_QPA_PLATFORM=offscreen \
  pg_virtualenv "$BUILD_DIR/tests/tst_console_gui"
# The Agents page and the Dashboard, against a real agent with 30 replicas under load.
DLB_SCREENSHOT_DIR="$PWD/docs/screenshots" QT_QPA_PLATFORM=offscreen \
  pg_virtualenv "$BUILD_DIR/tests/tst_console_watch_gui"
ls -l docs/screenshots
