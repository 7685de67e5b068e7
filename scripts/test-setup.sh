#!/bin/sh
# What `bun test` needs beyond npm packages, installed from Debian's packages when missing:
# Chromium for the dashboard tests, and Postgres, whose server binaries the scale-out tests use
# to start a throwaway cluster of their own (test/postgres.ts).
set -e
missing=""
command -v chromium >/dev/null || missing="$missing chromium"
command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql"
[ -z "$missing" ] && exit 0
apt-get update
# shellcheck disable=SC2086 # one word per package
DEBIAN_FRONTEND=noninteractive apt-get install -y $missing
