#!/usr/bin/env bash
# Runs tests/conformance/cognito_conformance.py against the crate's reference server and against
# moto's standalone server, side by side, as recorded in tests/conformance/RESULTS.md.
# Not run by CI: it is for whoever wants the comparison.
#
#   bash tests/conformance/compare.sh
#
#   1. target/interop-venv (boto3 + pyotp at the pins of .ci/conformance) if missing, and
#      target/moto-venv with the pinned moto[server] if missing or at another version; moto
#      lives in its own venv so it never touches the interop venv's boto3/botocore;
#   2. `cargo build --release --example cognito_idp_server`;
#   3. both servers on free loopback ports (both killed on exit, whatever happens);
#   4. the suite against each, its full output kept in target/compare/{softtoken,moto}.out.
# Prints the suite's `N passed, M failed` line for each server. Exits non-zero only when a
# server does not start or a run ends without its summary line: moto failing rows is expected.
# Needs only PyPI and crates.io.
set -euo pipefail
cd "$(dirname "$0")/../.."

MOTO_VERSION="5.2.5"
MOTO_VENV="target/moto-venv"
VENV="target/interop-venv"
PY="$VENV/bin/python"
OUT="target/compare"
mkdir -p "$OUT"

pin_of() { sed -n "s/^$1=\"\\(.*\\)\"\$/\\1/p" .ci/conformance | head -n 1; }
has_version() { # python dist version -> exit 0 when installed at exactly that version
    "$1" - "$2" "$3" >/dev/null 2>&1 <<'EOF'
import importlib.metadata, sys
sys.exit(importlib.metadata.version(sys.argv[1]) != sys.argv[2])
EOF
}

# -- 1. the venvs ---------------------------------------------------------------------------------
BOTO3_VERSION="$(pin_of BOTO3_VERSION)"
PYOTP_VERSION="$(pin_of PYOTP_VERSION)"
if [ ! -x "$PY" ] || ! "$PY" -c 'import sys' >/dev/null 2>&1; then
    echo "compare: creating $VENV"
    python3 -m venv --clear "$VENV"
fi
if ! has_version "$PY" boto3 "$BOTO3_VERSION" || ! has_version "$PY" pyotp "$PYOTP_VERSION"; then
    echo "compare: installing boto3==$BOTO3_VERSION pyotp==$PYOTP_VERSION into $VENV"
    "$PY" -m pip install -q --disable-pip-version-check \
        "boto3==$BOTO3_VERSION" "pyotp==$PYOTP_VERSION"
fi

if [ ! -x "$MOTO_VENV/bin/python" ] || ! "$MOTO_VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    echo "compare: creating $MOTO_VENV"
    python3 -m venv --clear "$MOTO_VENV"
fi
if ! has_version "$MOTO_VENV/bin/python" moto "$MOTO_VERSION" || [ ! -x "$MOTO_VENV/bin/moto_server" ]; then
    echo "compare: installing moto[server]==$MOTO_VERSION into $MOTO_VENV"
    "$MOTO_VENV/bin/python" -m pip install -q --disable-pip-version-check \
        "moto[server]==$MOTO_VERSION"
fi

# -- 2. the reference server ------------------------------------------------------------------------
cargo build --release --example cognito_idp_server
SERVER=target/release/examples/cognito_idp_server

# -- 3. both servers on free ports ------------------------------------------------------------------
free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
OURS_PID=""
MOTO_PID=""
stop_servers() {
    local pid
    for pid in "$OURS_PID" "$MOTO_PID"; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
}
trap stop_servers EXIT
trap 'exit 130' INT TERM

# wait_for NAME PID LOG SED-EXPRESSION: prints the URL the expression pulls out of LOG.
wait_for() {
    local name=$1 pid=$2 log=$3 expr=$4 url=""
    for _ in $(seq 1 300); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "compare: $name exited:" >&2
            cat "$log" >&2
            return 1
        fi
        url=$(sed -n "$expr" "$log" | head -n 1)
        if [ -n "$url" ]; then
            echo "$url"
            return 0
        fi
        sleep 0.1
    done
    echo "compare: $name did not report its address within 30 s:" >&2
    cat "$log" >&2
    return 1
}

OURS_PORT=$(free_port)
"$SERVER" --listen "127.0.0.1:$OURS_PORT" >"$OUT/softtoken-server.log" 2>&1 &
OURS_PID=$!
MOTO_PORT=$(free_port)
"$MOTO_VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$OUT/moto-server.log" 2>&1 &
MOTO_PID=$!

OURS_URL=$(wait_for "cognito_idp_server" "$OURS_PID" "$OUT/softtoken-server.log" \
    's/.*listening on \(http:[^ ]*\).*/\1/p')
MOTO_URL=$(wait_for "moto_server" "$MOTO_PID" "$OUT/moto-server.log" \
    's/.*Running on \(http:\/\/127\.0\.0\.1:[0-9]*\).*/\1/p')
echo "compare: softtoken (pid $OURS_PID) at $OURS_URL, moto $MOTO_VERSION (pid $MOTO_PID) at $MOTO_URL"

# -- 4. the suite against each ----------------------------------------------------------------------
summary() { sed -n 's/^\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed$/&/p' "$1" | tail -n 1; }
status=0
for target in softtoken moto; do
    if [ "$target" = softtoken ]; then url=$OURS_URL; else url=$MOTO_URL; fi
    echo
    echo "compare: the suite against $target at $url -> $OUT/$target.out"
    "$PY" tests/conformance/cognito_conformance.py --endpoint-url "$url" >"$OUT/$target.out" 2>&1 || true
    if [ -z "$(summary "$OUT/$target.out")" ]; then
        echo "compare: the run against $target ended without its summary line:" >&2
        tail -n 20 "$OUT/$target.out" >&2
        status=1
    fi
done

echo
echo "softtoken:    $(summary "$OUT/softtoken.out")"
echo "moto $MOTO_VERSION:  $(summary "$OUT/moto.out")"
exit "$status"
