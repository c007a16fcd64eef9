#!/usr/bin/env bash
# One scripted software-token enrolment with the unmodified AWS CLI against a running
# Cognito-compatible endpoint (the crate's reference server, or any other):
#   create pool (software tokens on, MFA OPTIONAL) and app client, create a user with a permanent
#   password, InitiateAuth -> tokens, associate-software-token --access-token, compute the code
#   with pyotp, verify-software-token -> Status SUCCESS; then the CLI's rendering of an error
#   (a wrong code -> EnableSoftwareTokenMFAException), set-user-mfa-preference, and the next
#   sign-in -> SOFTWARE_TOKEN_MFA answered with the next step's code.
#
# Usage: aws_cli_smoke.sh --endpoint-url http://127.0.0.1:PORT
# Environment: AWS (the aws executable, default `aws` on PATH), PYTHON (a Python with pyotp,
# default python3). Dummy credentials and region are set here. Exits non-zero on any failure.
set -euo pipefail

ENDPOINT_URL=""
while [ $# -gt 0 ]; do
    case "$1" in
        --endpoint-url) ENDPOINT_URL="${2:?--endpoint-url needs a value}"; shift 2 ;;
        --endpoint-url=*) ENDPOINT_URL="${1#--endpoint-url=}"; shift ;;
        *) echo "usage: $0 --endpoint-url URL" >&2; exit 2 ;;
    esac
done
[ -n "$ENDPOINT_URL" ] || { echo "usage: $0 --endpoint-url URL" >&2; exit 2; }

AWS="${AWS:-aws}"
PYTHON="${PYTHON:-python3}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-x}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-x}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export AWS_EC2_METADATA_DISABLED=true
export AWS_PAGER=""

STEP_NO=0
fail() { echo "FAIL  aws cli smoke: $*" >&2; echo "0 passed, 1 failed"; exit 1; }
step() { STEP_NO=$((STEP_NO + 1)); echo "  [$STEP_NO] $*"; }

# `--no-cli-pager` exists only in AWS CLI v2; v1 (the `awscli` package on PyPI) never pages and
# refuses the flag, so it is passed to v2 alone (AWS_PAGER="" covers both).
CLI_VERSION=$("$AWS" --version 2>&1)
PAGER_FLAG=()
case "$CLI_VERSION" in aws-cli/1.*) ;; *) PAGER_FLAG=(--no-cli-pager) ;; esac

idp() {
    "$AWS" cognito-idp "$@" --endpoint-url "$ENDPOINT_URL" "${PAGER_FLAG[@]}" --output json
}

# json FIELD.PATH < json: prints the value (strings raw, others as JSON); fails when absent.
json() {
    "$PYTHON" -c '
import json, sys
try:
    value = json.load(sys.stdin)
except ValueError:
    sys.exit("json: not a JSON document")
for part in sys.argv[1].split("."):
    if not isinstance(value, dict) or part not in value:
        sys.exit(f"json: missing {sys.argv[1]!r}")
    value = value[part]
print(value if isinstance(value, str) else json.dumps(value))
' "$1"
}

# totp SECRET OFFSET: the code pyotp computes for now + OFFSET seconds.
totp() {
    "$PYTHON" -c 'import pyotp, sys, time; print(pyotp.TOTP(sys.argv[1]).at(int(time.time()) + int(sys.argv[2])))' "$1" "$2"
}

# Stay clear of a 30 s step boundary for the code-dependent steps below (a few seconds at most).
wait_for_step_room() {
    "$PYTHON" -c '
import time
phase = time.time() % 30
if not 2 <= phase <= 22:
    time.sleep((2 - phase) if phase < 2 else (32 - phase))
'
}

echo "aws cli smoke: $CLI_VERSION against $ENDPOINT_URL"
RUN="smoke-$("$PYTHON" -c 'import secrets; print(secrets.token_hex(3))')"
PASSWORD="Smoke-Passw0rd-$RUN"

step "create-user-pool"
POOL_ID=$(idp create-user-pool --pool-name "$RUN" | json UserPool.Id) || fail "create-user-pool"

step "set-user-pool-mfa-config (software tokens on, OPTIONAL)"
MFA=$(idp set-user-pool-mfa-config --user-pool-id "$POOL_ID" \
    --software-token-mfa-configuration Enabled=true --mfa-configuration OPTIONAL) \
    || fail "set-user-pool-mfa-config"
[ "$(json MfaConfiguration <<<"$MFA")" = "OPTIONAL" ] || fail "MfaConfiguration not OPTIONAL: $MFA"

step "create-user-pool-client (ALLOW_USER_PASSWORD_AUTH)"
CLIENT_ID=$(idp create-user-pool-client --user-pool-id "$POOL_ID" --client-name "$RUN" \
    --explicit-auth-flows ALLOW_USER_PASSWORD_AUTH ALLOW_REFRESH_TOKEN_AUTH \
    | json UserPoolClient.ClientId) || fail "create-user-pool-client"

step "admin-create-user + admin-set-user-password --permanent"
idp admin-create-user --user-pool-id "$POOL_ID" --username "$RUN" --message-action SUPPRESS \
    >/dev/null || fail "admin-create-user"
idp admin-set-user-password --user-pool-id "$POOL_ID" --username "$RUN" \
    --password "$PASSWORD" --permanent >/dev/null || fail "admin-set-user-password"

step "initiate-auth USER_PASSWORD_AUTH -> tokens"
AUTH=$(idp initiate-auth --auth-flow USER_PASSWORD_AUTH --client-id "$CLIENT_ID" \
    --auth-parameters "USERNAME=$RUN,PASSWORD=$PASSWORD") || fail "initiate-auth"
ACCESS_TOKEN=$(json AuthenticationResult.AccessToken <<<"$AUTH") \
    || fail "initiate-auth returned no AccessToken: $AUTH"

step "associate-software-token --access-token"
ASSOCIATED=$(idp associate-software-token --access-token "$ACCESS_TOKEN") \
    || fail "associate-software-token"
SECRET=$(json SecretCode <<<"$ASSOCIATED") || fail "no SecretCode: $ASSOCIATED"
[[ "$SECRET" =~ ^[A-Z2-7]{52}$ ]] || fail "SecretCode is not 52 chars [A-Z2-7]: $SECRET"

wait_for_step_room

step "verify-software-token with a wrong code -> EnableSoftwareTokenMFAException"
RIGHT=$(totp "$SECRET" 0)
WRONG=$(printf '%06d' $(( (10#$RIGHT + 500000) % 1000000 )))
set +e
ERROR_OUTPUT=$(idp verify-software-token --access-token "$ACCESS_TOKEN" --user-code "$WRONG" 2>&1)
STATUS=$?
set -e
[ "$STATUS" -ne 0 ] || fail "a wrong code was accepted: $ERROR_OUTPUT"
grep -q "EnableSoftwareTokenMFAException" <<<"$ERROR_OUTPUT" \
    || fail "unexpected error for a wrong code: $ERROR_OUTPUT"
grep -q "Code mismatch and fail enable Software Token MFA" <<<"$ERROR_OUTPUT" \
    || fail "unexpected message for a wrong code: $ERROR_OUTPUT"

step "verify-software-token with the pyotp code -> Status SUCCESS"
VERIFIED=$(idp verify-software-token --access-token "$ACCESS_TOKEN" --user-code "$RIGHT" \
    --friendly-device-name "aws-cli-smoke") || fail "verify-software-token"
[ "$(json Status <<<"$VERIFIED")" = "SUCCESS" ] || fail "Status is not SUCCESS: $VERIFIED"

step "set-user-mfa-preference + get-user -> SOFTWARE_TOKEN_MFA preferred"
idp set-user-mfa-preference --access-token "$ACCESS_TOKEN" \
    --software-token-mfa-settings Enabled=true,PreferredMfa=true >/dev/null \
    || fail "set-user-mfa-preference"
ME=$(idp get-user --access-token "$ACCESS_TOKEN") || fail "get-user"
[ "$(json PreferredMfaSetting <<<"$ME")" = "SOFTWARE_TOKEN_MFA" ] \
    || fail "PreferredMfaSetting is not SOFTWARE_TOKEN_MFA: $ME"

step "initiate-auth -> SOFTWARE_TOKEN_MFA; respond-to-auth-challenge with the next step's code"
CHALLENGE=$(idp initiate-auth --auth-flow USER_PASSWORD_AUTH --client-id "$CLIENT_ID" \
    --auth-parameters "USERNAME=$RUN,PASSWORD=$PASSWORD") || fail "initiate-auth (2)"
[ "$(json ChallengeName <<<"$CHALLENGE")" = "SOFTWARE_TOKEN_MFA" ] \
    || fail "expected SOFTWARE_TOKEN_MFA: $CHALLENGE"
SESSION=$(json Session <<<"$CHALLENGE")
SIGNED_IN=$(idp respond-to-auth-challenge --client-id "$CLIENT_ID" \
    --challenge-name SOFTWARE_TOKEN_MFA --session "$SESSION" \
    --challenge-responses "USERNAME=$RUN,SOFTWARE_TOKEN_MFA_CODE=$(totp "$SECRET" 30)") \
    || fail "respond-to-auth-challenge"
[ "$(json AuthenticationResult.TokenType <<<"$SIGNED_IN")" = "Bearer" ] \
    || fail "no Bearer tokens: $SIGNED_IN"

echo "PASS  aws cli smoke: associate-software-token / verify-software-token (Status SUCCESS) and MFA sign-in"
echo "1 passed, 0 failed"
