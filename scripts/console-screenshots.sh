#!/usr/bin/env bash
# Renders the console's dialogs and pages (offscreen) against a throwaway PostgreSQL cluster, and
# the steering pages against a real dlb-agent, and writes the PNGs to docs/screenshots/, which
# README.md and docs/console.md show. The same programs are the tests tst_console_gui and
# tst_console_steer; here they only write somewhere else.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
cmake --build "$BUILD_DIR" --target tst_console_gui tst_console_watch_gui tst_console_steer
mkdir -p docs/screenshots
DLB_SCREENSHOT_DIR="$PWD/docs/screenshots" QT_QPA_PLATFORM=offscreen \
  pg_virtualenv "$BUILD_DIR/tests/tst_console_gui"
# The Agents page and the Dashboard, against a real agent with 30 replicas under load.
DLB_SCREENSHOT_DIR="$PWD/docs/screenshots" QT_QPA_PLATFORM=offscreen \
  pg_virtualenv "$BUILD_DIR/tests/tst_console_watch_gui"
# The Replicas and Algorithm pages against a real dlb-agent (no database needed).
DLB_SCREENSHOT_DIR="$PWD/docs/screenshots" QT_QPA_PLATFORM=offscreen \
  "$BUILD_DIR/tests/tst_console_steer" screenshots algorithmRefusedByTheFormByTheAgentThenApplied
ls -l docs/screenshots
