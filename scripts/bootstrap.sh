#!/usr/bin/env bash
# Installs the Debian packages the test suite runs against, only those missing:
# PostgreSQL server, Redis server, Chromium (Playwright drives /usr/bin/chromium), libmagic1 (steck),
# kcat (a Kafka client of its own, run against the event log).
set -euo pipefail

LOCK_WAIT_TRIES=120 # x 5 s: another apt-get (an unattended upgrade, a parallel session) may hold the lock

missing=()
if [[ "${1:-}" == "venv" ]]; then
    # `make up` on a Debian whose python3 lacks ensurepip (the python3-venv package is separate).
    missing+=(python3-venv)
else
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
command -v kcat >/dev/null || missing+=(kcat)
PATH="$PATH:/usr/sbin:/sbin" ldconfig -p 2>/dev/null | grep -q 'libmagic\.so\.1 ' || missing+=(libmagic1)
fi

if ((${#missing[@]} == 0)); then
    exit 0
fi

if ((EUID == 0)); then
    sudo=()
elif command -v sudo >/dev/null; then
    sudo=(sudo)
else
    echo "bootstrap: missing Debian packages: ${missing[*]}" >&2
    echo "bootstrap: not root and no sudo; as root run: apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null; then
    echo "bootstrap: missing ${missing[*]} and no apt-get here; install them with your package manager" >&2
    exit 1
fi

# Retries only while another process holds the apt/dpkg lock; any other failure stops at once.
apt_get() {
    local log status
    log=$(mktemp)
    for ((try = 1; try <= LOCK_WAIT_TRIES; try++)); do
        status=0
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "$@" 2>"$log" || status=$?
        cat "$log" >&2
        if ((status == 0)) || ! grep -qE 'Could not get lock|Unable to (acquire|lock)' "$log"; then
            rm -f "$log"
            return "$status"
        fi
        echo "bootstrap: apt is locked by another process, retrying ($try/$LOCK_WAIT_TRIES)" >&2
        sleep 5
    done
    rm -f "$log"
    echo "bootstrap: apt still locked after $((LOCK_WAIT_TRIES * 5)) s" >&2
    return 1
}

echo "bootstrap: installing ${missing[*]}"
apt_get update -q
apt_get install -y -q --no-install-recommends "${missing[@]}"
