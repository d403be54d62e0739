#!/bin/sh
# Re-apply the mechanical lint fixes of issue #17 item 7 to the whole tree; run from the root.
# Every step is behaviour-safe and idempotent: a second run changes nothing.
# The unsafe ruff fixes are limited to rules checked to keep behaviour here; C416 is left out
# on purpose (SQLAlchemy result rows have .keys(), so dict(rows) would read them as a mapping),
# and PLC0414 too (`import fixture as fixture` re-exports a pytest fixture).
set -eu
BIN=${BIN:-.venv/bin}
"$BIN/python" -m tests.tooling.expected_first tests adapters/gitlab/tests adapters/jira/tests tracker_bridge >/dev/null
"$BIN/ruff" check --fix --exit-zero --quiet . >/dev/null
"$BIN/ruff" check --fix --exit-zero --quiet --unsafe-fixes \
    --select TC001,TC002,TC003,TC004,TC005,EM101,EM102,EM103,ISC004,C402,PLR1714,FURB162,FURB171,PIE810,PYI034,ANN204 . >/dev/null
"$BIN/ruff" check --fix --exit-zero --quiet . >/dev/null
"$BIN/ruff" format --quiet .
