#!/usr/bin/env bash
# Make sure the system packages the test suite needs are present (Debian 12 / apt).
#
# Idempotent: looks for each package's binaries and installs, with apt-get, only what is
# missing; silent and fast (no apt at all) when everything is already there.
#
#   postgresql  real PostgreSQL server for tests/pg.py (Debian 12 ships PostgreSQL 15)
#   chromium    headless browser for the HTML report test
#
# Usage: bash tests/system-deps.sh    (as root, or as a user with sudo)
set -euo pipefail

missing=()

have_postgresql() {
    local initdb
    for initdb in /usr/lib/postgresql/*/bin/initdb; do
        [[ -x "$initdb" && -x "${initdb%/initdb}/pg_ctl" ]] && return 0
    done
    return 1
}

have_postgresql || missing+=(postgresql)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)

if ((${#missing[@]} == 0)); then
    exit 0
fi

if ((EUID == 0)); then
    sudo=()
elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
else
    echo "system-deps.sh: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
fi

echo "system-deps.sh: installing ${missing[*]}" >&2
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"

# Check that the install actually provided what we look for.
have_postgresql || { echo "system-deps.sh: postgresql installed but no initdb found" >&2; exit 1; }
command -v chromium >/dev/null 2>&1 || { echo "system-deps.sh: chromium not found" >&2; exit 1; }
