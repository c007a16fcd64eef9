#!/usr/bin/env python3
"""Wire-level conformance suite for Cognito's software-token (TOTP) MFA lifecycle.

Drives any Cognito-compatible endpoint (the crate's reference server, moto's server, LocalStack,
or a real user pool) with unmodified boto3 and checks every client-observable row of
DESIGN.md §3: exception names and messages, the SecretCode format, sessions (chain, single use,
purpose), the ±1-step window, replay, preferences, the MFA view of (Admin)GetUser, the sign-in
decision, lockout and AdminDeleteSoftwareToken.

It creates its own user pools, app clients and users through the API, so it needs nothing set
up beforehand. Dependencies: boto3 and pyotp, plus the standard library.

    python tests/conformance/cognito_conformance.py --endpoint-url http://127.0.0.1:9229
    python tests/conformance/cognito_conformance.py --start-server   # runs the built example

Each row prints PASS or FAIL with its name (and the reason on failure); the last line is
exactly `N passed, M failed`; the exit status is non-zero when any row failed.

Time: TOTP codes are computed with pyotp from the local clock, which must agree with the
server's (same machine, or NTP). Rows that depend on the current 30-second step first wait
until `time.time() % 30` lies in a safe part of the step, so a run never straddles a step
boundary by accident; no row waits for a whole step (the next step's code is already valid
inside the ±1 window). The whole run takes well under two minutes.
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from importlib.metadata import PackageNotFoundError, version as _dist_version
from pathlib import Path
from typing import Any, Callable, Optional

import boto3
import pyotp
from botocore.config import Config
from botocore.exceptions import ClientError

STEP = 30
PASSWORD = "Conformance-Passw0rd!"
DEVICE = "conformance-phone"
AUTH_FLOWS = ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
SECRET_CODE = re.compile(r"[A-Z2-7]{52}")
SOFTWARE_TOKEN_MFA = "SOFTWARE_TOKEN_MFA"

IPE = "InvalidParameterException"
NAE = "NotAuthorizedException"
NOT_FOUND = "SoftwareTokenMFANotFoundException"

MSG_POOL_DISABLED = "Software Token MFA has not been enabled by the userPool."
MSG_BAD_ACCESS_TOKEN = "Invalid Access Token"
MSG_VERIFY_MISMATCH = "Code mismatch and fail enable Software Token MFA"
MSG_CODE_MISMATCH = "Invalid code received for user"
MSG_REPLAYED = "Your software token has already been used once."
MSG_NO_TOKEN = "Software Token MFA does not exist for the user."
MSG_NOT_SET_UP = "User has not set up software token mfa"
MSG_ADMIN_NOT_SET_UP = "User does not have delivery config set to turn on SOFTWARE_TOKEN_MFA"
MSG_NOT_VERIFIED = "User has not verified software token mfa"
MSG_INVALID_SESSION = "Invalid session for the user."
MSG_SESSION_REUSED = "Invalid session for the user, session can only be used once."
MSG_LOCKED = "Too many failed attempts to present a software token code. Try again later."

MALFORMED_CODES = [
    ("", "empty"),
    ("12345", "5 digits"),
    ("1234567", "7 digits"),
    (" 123456", "leading space"),
    ("12345a", "a letter"),
    ("+12345", "a sign"),
    ("\uff11\uff12\uff13\uff14\uff15\uff16", "full-width digits"),
]


# ---------------------------------------------------------------------------------------------
# Assertions


class RowFailure(AssertionError):
    """A row's expectation did not hold."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise RowFailure(message)


def clip(text: str, limit: int = 240) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def summarize(response: Any, limit: int = 240) -> str:
    if isinstance(response, dict):
        response = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    return clip(repr(response), limit)


def expect_error(call: Callable[[], Any], code: str, message: Optional[str] = None) -> ClientError:
    """Runs `call`, which must fail with exception `code` (and exactly `message`, if given)."""
    try:
        response = call()
    except ClientError as error:
        got_code = error.response.get("Error", {}).get("Code")
        got_message = error.response.get("Error", {}).get("Message")
        if got_code != code:
            raise RowFailure(
                f"expected {code}, got {got_code}: {clip(repr(got_message))}"
            ) from None
        if message is not None and got_message != message:
            raise RowFailure(
                f"{code} with message {clip(repr(got_message))}, expected {message!r}"
            ) from None
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status != 400:
            raise RowFailure(f"{code} came with HTTP status {status}, expected 400") from None
        return error
    raise RowFailure(f"expected {code}, but the call succeeded: {summarize(response)}")


def expect_empty(response: dict, what: str) -> None:
    rest = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    check(rest == {}, f"{what}: expected an empty response, got {summarize(rest)}")


def expect_secret_code(response: dict) -> str:
    secret = response.get("SecretCode")
    check(isinstance(secret, str), f"no SecretCode in {summarize(response)}")
    check(
        SECRET_CODE.fullmatch(secret) is not None,
        f"SecretCode is {len(secret)} chars and not [A-Z2-7]{{52}}: {secret!r}",
    )
    return secret


def expect_authentication_result(response: dict, what: str = "response") -> dict:
    check(
        "ChallengeName" not in response,
        f"{what}: expected AuthenticationResult, got challenge {response.get('ChallengeName')!r}",
    )
    result = response.get("AuthenticationResult")
    check(isinstance(result, dict), f"{what}: no AuthenticationResult in {summarize(response)}")
    for key in ("AccessToken", "IdToken", "RefreshToken"):
        check(
            isinstance(result.get(key), str) and result[key] != "",
            f"{what}: AuthenticationResult.{key} missing or empty",
        )
    check(
        result.get("TokenType") == "Bearer",
        f"{what}: TokenType {result.get('TokenType')!r}, expected 'Bearer'",
    )
    expires = result.get("ExpiresIn")
    check(
        isinstance(expires, int) and expires > 0,
        f"{what}: ExpiresIn {expires!r}, expected a positive integer",
    )
    return result


def expect_challenge(response: dict, name: str, what: str = "response") -> dict:
    check(
        response.get("ChallengeName") == name,
        f"{what}: expected ChallengeName {name}, got {summarize(response)}",
    )
    check("AuthenticationResult" not in response, f"{what}: a challenge came with tokens")
    session = response.get("Session")
    check(
        isinstance(session, str) and 20 <= len(session) <= 2048,
        f"{what}: challenge Session missing or not 20..2048 chars",
    )
    return response


def expect_mfa_view_absent(response: dict, what: str) -> None:
    for key in ("UserMFASettingList", "PreferredMfaSetting"):
        if key in response:
            raise RowFailure(f"{what}: {key} present ({response[key]!r}), expected absent")


def expect_mfa_view_enabled(response: dict, what: str) -> None:
    check(
        response.get("UserMFASettingList") == [SOFTWARE_TOKEN_MFA],
        f"{what}: UserMFASettingList {response.get('UserMFASettingList')!r}, "
        f"expected ['{SOFTWARE_TOKEN_MFA}']",
    )
    check(
        response.get("PreferredMfaSetting") == SOFTWARE_TOKEN_MFA,
        f"{what}: PreferredMfaSetting {response.get('PreferredMfaSetting')!r}, "
        f"expected '{SOFTWARE_TOKEN_MFA}'",
    )


# ---------------------------------------------------------------------------------------------
# TOTP and time


def code_at(secret: str, when: float) -> str:
    """The code pyotp computes for `secret` (SHA-1, 6 digits, 30 s) at Unix time `when`."""
    return pyotp.TOTP(secret).at(int(when))


def wrong_code(secret: str, when: float) -> str:
    """A well-formed code that matches none of the steps from T-3 to T+3."""
    near = {code_at(secret, when + k * STEP) for k in range(-3, 4)}
    while True:
        candidate = f"{secrets.randbelow(10**6):06d}"
        if candidate not in near:
            return candidate


class Clock:
    """Waits, when needed, until the current 30 s step has room for a row."""

    def __init__(self) -> None:
        self.waited = 0.0

    def fresh(self, latest: float = 25.0) -> float:
        """A time whose step phase (`time % 30`) lies in [2, latest]: the row that follows
        stays inside one step as long as it takes less than `30 - latest` seconds."""
        while True:
            now = time.time()
            phase = now % STEP
            if 2.0 <= phase <= latest:
                return now
            pause = (2.0 - phase) if phase < 2.0 else (STEP - phase + 2.0)
            pause = max(pause, 0.05)
            self.waited += pause
            time.sleep(pause)

    def sleep(self, seconds: float) -> None:
        self.waited += seconds
        time.sleep(seconds)


# ---------------------------------------------------------------------------------------------
# The suite


class Pool:
    def __init__(self, label: str, pool_id: str, client_id: str, validity: Optional[int]):
        self.label = label
        self.id = pool_id
        self.client_id = client_id
        self.validity = validity


class Scenario:
    """Rows that share state. After a failed setup step or a failed critical row, the rest of
    the scenario's rows are reported as failed without running (their premise is gone)."""

    def __init__(self, suite: "Suite", title: str):
        self.suite = suite
        self.title = title
        self.broken: Optional[str] = None
        self.state: dict = {}

    def step(self, fn: Callable[[], Any]) -> Any:
        if self.broken:
            return None
        try:
            return fn()
        except Exception as error:  # noqa: BLE001 - reported, never swallowed
            self.broken = f"{self.title} setup failed: {describe(error)}"
            return None

    def row(self, name: str, fn: Callable[[], Any], critical: bool = True) -> Any:
        if self.broken:
            self.suite.record(name, False, f"not run: {self.broken}")
            return None
        started = time.time()
        try:
            value = fn()
        except Exception as error:  # noqa: BLE001 - reported as the row's failure
            self.suite.record(name, False, describe(error), time.time() - started)
            if critical:
                self.broken = f"an earlier row of {self.title} failed"
            return None
        self.suite.record(name, True, None, time.time() - started)
        return value


def describe(error: BaseException) -> str:
    if isinstance(error, RowFailure):
        return str(error)
    if isinstance(error, ClientError):
        err = error.response.get("Error", {})
        return f"unexpected {err.get('Code')}: {clip(repr(err.get('Message')))}"
    return clip(f"{type(error).__name__}: {error}")


class Suite:
    def __init__(self, session: boto3.Session, endpoint_url: Optional[str], region: str):
        common = dict(
            connect_timeout=5,
            read_timeout=30,
            retries={"total_max_attempts": 1, "mode": "standard"},
        )
        kwargs: dict = {"region_name": region}
        if endpoint_url:
            kwargs["endpoint_url"] = endpoint_url
        # The modelled client validates members as boto3 users get them.
        self.idp = session.client("cognito-idp", config=Config(**common), **kwargs)
        # The raw client sends what botocore's own validation would refuse (a 5-digit
        # UserCode, a 19-character Session, AuthSessionValidity 2), to reach the server's checks.
        self.raw = session.client(
            "cognito-idp", config=Config(parameter_validation=False, **common), **kwargs
        )
        self._session, self._common, self._kwargs = session, common, kwargs
        self.run_id = secrets.token_hex(3)
        self.clock = Clock()
        self.results: list[tuple[str, bool, Optional[str]]] = []
        self.user_count = 0

    def new_client(self) -> Any:
        """Another client, for a thread of its own."""
        return self._session.client("cognito-idp", config=Config(**self._common), **self._kwargs)

    # -- reporting ------------------------------------------------------------------------

    def record(self, name: str, ok: bool, reason: Optional[str], seconds: float = 0.0) -> None:
        self.results.append((name, ok, reason))
        line = f"{'PASS' if ok else 'FAIL'}  {name}"
        if not ok and reason:
            line += f"\n      -> {reason}"
        print(line, flush=True)

    def scenario(self, title: str) -> Scenario:
        print(f"\n== {title}", flush=True)
        return Scenario(self, title)

    # -- fixtures ---------------------------------------------------------------------------

    def make_pool(self, label: str, software_tokens: bool, mode: str, validity: int = 3) -> Pool:
        pool_id = self.idp.create_user_pool(PoolName=f"conformance-{self.run_id}-{label}")[
            "UserPool"
        ]["Id"]
        if software_tokens or mode != "OFF":
            self.idp.set_user_pool_mfa_config(
                UserPoolId=pool_id,
                SoftwareTokenMfaConfiguration={"Enabled": software_tokens},
                MfaConfiguration=mode,
            )
        client = self.idp.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName=f"conformance-{label}",
            ExplicitAuthFlows=AUTH_FLOWS,
            AuthSessionValidity=validity,
        )["UserPoolClient"]
        return Pool(label, pool_id, client["ClientId"], client.get("AuthSessionValidity"))

    def new_user(self, pool: Pool, tag: str) -> str:
        self.user_count += 1
        username = f"{tag}-{self.run_id}-{self.user_count}"
        self.idp.admin_create_user(UserPoolId=pool.id, Username=username, MessageAction="SUPPRESS")
        self.idp.admin_set_user_password(
            UserPoolId=pool.id, Username=username, Password=PASSWORD, Permanent=True
        )
        return username

    def sign_in(self, pool: Pool, username: str) -> dict:
        return self.idp.initiate_auth(
            AuthFlow="USER_PASSWORD_AUTH",
            ClientId=pool.client_id,
            AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD},
        )

    def access_token(self, pool: Pool, username: str) -> str:
        response = self.sign_in(pool, username)
        return expect_authentication_result(response, "InitiateAuth")["AccessToken"]

    def answer_code(self, pool: Pool, username: str, session: str, code: str) -> dict:
        return self.idp.respond_to_auth_challenge(
            ClientId=pool.client_id,
            ChallengeName=SOFTWARE_TOKEN_MFA,
            Session=session,
            ChallengeResponses={"USERNAME": username, "SOFTWARE_TOKEN_MFA_CODE": code},
        )

    def answer_setup(self, pool: Pool, username: str, session: str) -> dict:
        return self.idp.respond_to_auth_challenge(
            ClientId=pool.client_id,
            ChallengeName="MFA_SETUP",
            Session=session,
            ChallengeResponses={"USERNAME": username},
        )

    def enroll_with_token(
        self, pool: Pool, username: str, when: float, enable: bool = True
    ) -> tuple[str, str]:
        """Sign in (the pool must not challenge), associate with the access token, verify with
        the code of step T-1 (so steps T and T+1 stay fresh for sign-in), optionally enable and
        prefer. Returns (secret, access token)."""
        access = self.access_token(pool, username)
        secret = expect_secret_code(self.idp.associate_software_token(AccessToken=access))
        verified = self.idp.verify_software_token(
            AccessToken=access, UserCode=code_at(secret, when - STEP), FriendlyDeviceName=DEVICE
        )
        check(verified.get("Status") == "SUCCESS", f"Verify: {summarize(verified)}")
        if enable:
            self.idp.set_user_mfa_preference(
                AccessToken=access,
                SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True},
            )
        return secret, access

    def enroll_via_setup(self, pool: Pool, username: str, when: float) -> tuple[str, str]:
        """The MFA_SETUP chain of an ON pool, verifying with the code of step T-1. Returns
        (secret, access token)."""
        first = expect_challenge(self.sign_in(pool, username), "MFA_SETUP", "InitiateAuth")
        associated = self.idp.associate_software_token(Session=first["Session"])
        secret = expect_secret_code(associated)
        verified = self.idp.verify_software_token(
            Session=associated["Session"],
            UserCode=code_at(secret, when - STEP),
            FriendlyDeviceName=DEVICE,
        )
        check(verified.get("Status") == "SUCCESS", f"Verify: {summarize(verified)}")
        done = self.answer_setup(pool, username, verified["Session"])
        return secret, expect_authentication_result(done, "MFA_SETUP answer")["AccessToken"]


# ---------------------------------------------------------------------------------------------
# Scenarios


def scenario_pools(suite: Suite) -> Optional[dict]:
    sc = suite.scenario("setup: pools and app clients")
    pools: dict = {}

    def create() -> None:
        pools["disabled"] = suite.make_pool("disabled", False, "OFF")
        pools["on"] = suite.make_pool("on", True, "ON", validity=3)
        pools["optional"] = suite.make_pool("optional", True, "OPTIONAL", validity=15)
        pools["off"] = suite.make_pool("off", True, "OFF")
        pools["switch"] = suite.make_pool("switch", True, "OPTIONAL")

    sc.row("setup: create five user pools with app clients (USER_PASSWORD_AUTH)", create)

    def new_pool_defaults() -> None:
        config = suite.idp.get_user_pool_mfa_config(UserPoolId=pools["disabled"].id)
        check(
            config.get("MfaConfiguration") == "OFF",
            f"MfaConfiguration {config.get('MfaConfiguration')!r}, expected 'OFF'",
        )
        software = config.get("SoftwareTokenMfaConfiguration") or {}
        check(
            not software.get("Enabled", False),
            f"SoftwareTokenMfaConfiguration {software!r}, expected disabled",
        )

    sc.row(
        "pool: a new pool starts with software tokens disabled and MFA OFF",
        new_pool_defaults,
        critical=False,
    )

    def configs_echoed() -> None:
        for label, mode in (("on", "ON"), ("optional", "OPTIONAL"), ("off", "OFF")):
            config = suite.idp.get_user_pool_mfa_config(UserPoolId=pools[label].id)
            check(
                config.get("MfaConfiguration") == mode
                and (config.get("SoftwareTokenMfaConfiguration") or {}).get("Enabled") is True,
                f"{label} pool: {summarize(config)}",
            )

    sc.row(
        "pool: SetUserPoolMfaConfig with software tokens enabled and ON / OPTIONAL / OFF is "
        "reported back by GetUserPoolMfaConfig",
        configs_echoed,
    )

    def on_without_tokens() -> None:
        extra = suite.idp.create_user_pool(PoolName=f"conformance-{suite.run_id}-on-refused")[
            "UserPool"
        ]["Id"]
        expect_error(
            lambda: suite.idp.set_user_pool_mfa_config(
                UserPoolId=extra,
                SoftwareTokenMfaConfiguration={"Enabled": False},
                MfaConfiguration="ON",
            ),
            IPE,
        )
        config = suite.idp.get_user_pool_mfa_config(UserPoolId=extra)
        check(config.get("MfaConfiguration") == "OFF", f"config changed: {summarize(config)}")

    sc.row(
        "pool: MFA ON with software tokens disabled -> InvalidParameterException, config unchanged",
        on_without_tokens,
        critical=False,
    )

    def validity_bounds_accepted() -> None:
        check(pools["on"].validity == 3, f"AuthSessionValidity 3 echoed as {pools['on'].validity!r}")
        check(
            pools["optional"].validity == 15,
            f"AuthSessionValidity 15 echoed as {pools['optional'].validity!r}",
        )

    sc.row(
        "app client: AuthSessionValidity 3 and 15 accepted",
        validity_bounds_accepted,
        critical=False,
    )

    def validity_bounds_refused() -> None:
        for minutes in (2, 16):
            expect_error(
                lambda: suite.raw.create_user_pool_client(
                    UserPoolId=pools["disabled"].id,
                    ClientName=f"conformance-validity-{minutes}",
                    ExplicitAuthFlows=AUTH_FLOWS,
                    AuthSessionValidity=minutes,
                ),
                IPE,
            )

    sc.row(
        "app client: AuthSessionValidity 2 and 16 -> InvalidParameterException",
        validity_bounds_refused,
        critical=False,
    )
    return None if sc.broken else pools


def scenario_exclusivity(suite: Suite, pools: dict) -> None:
    sc = suite.scenario("AccessToken / Session exclusivity and Session length")
    st = sc.state
    opt, on = pools["optional"], pools["on"]

    def setup() -> None:
        st["user"] = suite.new_user(opt, "excl")
        st["access"] = suite.access_token(opt, st["user"])
        st["setup_user"] = suite.new_user(on, "excl-on")

    sc.step(setup)

    def s1() -> str:
        response = expect_challenge(suite.sign_in(on, st["setup_user"]), "MFA_SETUP")
        return response["Session"]

    def associate_both() -> None:
        session = s1()
        expect_error(
            lambda: suite.idp.associate_software_token(AccessToken=st["access"], Session=session),
            IPE,
        )
        # Nothing stored for the access token's user ...
        expect_error(
            lambda: suite.idp.verify_software_token(AccessToken=st["access"], UserCode="123456"),
            NOT_FOUND,
        )
        # ... and the session was not consumed.
        expect_secret_code(suite.idp.associate_software_token(Session=session))

    sc.row(
        "AssociateSoftwareToken: AccessToken and Session both -> InvalidParameterException "
        "(nothing stored, the session not consumed)",
        associate_both,
        critical=False,
    )
    sc.row(
        "AssociateSoftwareToken: neither AccessToken nor Session -> InvalidParameterException",
        lambda: expect_error(lambda: suite.idp.associate_software_token(), IPE),
        critical=False,
    )

    def verify_both() -> None:
        session = s1()
        expect_error(
            lambda: suite.idp.verify_software_token(
                AccessToken=st["access"], Session=session, UserCode="123456"
            ),
            IPE,
        )

    sc.row(
        "VerifySoftwareToken: AccessToken and Session both -> InvalidParameterException",
        verify_both,
        critical=False,
    )
    sc.row(
        "VerifySoftwareToken: neither AccessToken nor Session -> InvalidParameterException",
        lambda: expect_error(lambda: suite.idp.verify_software_token(UserCode="123456"), IPE),
        critical=False,
    )

    def short_session() -> None:
        expect_error(lambda: suite.raw.associate_software_token(Session="A" * 19), IPE)
        expect_error(
            lambda: suite.raw.verify_software_token(Session="A" * 19, UserCode="123456"), IPE
        )

    def respond_lengths() -> None:
        for session in ("A" * 19, "A" * 2049):
            expect_error(
                lambda: suite.raw.respond_to_auth_challenge(
                    ClientId=opt.client_id,
                    ChallengeName=SOFTWARE_TOKEN_MFA,
                    Session=session,
                    ChallengeResponses={"USERNAME": st["user"], "SOFTWARE_TOKEN_MFA_CODE": "123456"},
                ),
                IPE,
            )

    sc.row(
        "RespondToAuthChallenge: Session of 19 or 2049 characters -> InvalidParameterException",
        respond_lengths,
        critical=False,
    )
    sc.row(
        "Associate/Verify: Session of 19 characters -> InvalidParameterException",
        short_session,
        critical=False,
    )

    def long_session() -> None:
        expect_error(lambda: suite.idp.associate_software_token(Session="A" * 2049), IPE)
        expect_error(
            lambda: suite.idp.verify_software_token(Session="A" * 2049, UserCode="123456"), IPE
        )

    sc.row(
        "Associate/Verify: Session of 2049 characters -> InvalidParameterException",
        long_session,
        critical=False,
    )


def scenario_disabled_pool(suite: Suite, pools: dict) -> None:
    sc = suite.scenario("pool with software tokens disabled")
    st = sc.state
    pool = pools["disabled"]
    sc.step(lambda: st.update(user=suite.new_user(pool, "disabled")))

    def sign_in() -> None:
        st["access"] = expect_authentication_result(suite.sign_in(pool, st["user"]))[
            "AccessToken"
        ]

    sc.row(
        "InitiateAuth, pool OFF with software tokens disabled -> AuthenticationResult directly",
        sign_in,
    )
    sc.row(
        "AssociateSoftwareToken, software tokens disabled -> SoftwareTokenMFANotFoundException "
        f"{MSG_POOL_DISABLED!r}",
        lambda: expect_error(
            lambda: suite.idp.associate_software_token(AccessToken=st["access"]),
            NOT_FOUND,
            MSG_POOL_DISABLED,
        ),
        critical=False,
    )
    sc.row(
        "VerifySoftwareToken, software tokens disabled -> SoftwareTokenMFANotFoundException "
        f"{MSG_POOL_DISABLED!r}",
        lambda: expect_error(
            lambda: suite.idp.verify_software_token(AccessToken=st["access"], UserCode="123456"),
            NOT_FOUND,
            MSG_POOL_DISABLED,
        ),
        critical=False,
    )


def scenario_unknown_access_token(suite: Suite, pools: dict) -> None:
    sc = suite.scenario("unknown access token")
    bogus = "conformance" + secrets.token_hex(32)

    def associate_verify() -> None:
        expect_error(
            lambda: suite.idp.associate_software_token(AccessToken=bogus), NAE, MSG_BAD_ACCESS_TOKEN
        )
        expect_error(
            lambda: suite.idp.verify_software_token(AccessToken=bogus, UserCode="123456"),
            NAE,
            MSG_BAD_ACCESS_TOKEN,
        )

    sc.row(
        "Associate/VerifySoftwareToken: unknown access token -> NotAuthorizedException "
        f"{MSG_BAD_ACCESS_TOKEN!r}",
        associate_verify,
        critical=False,
    )

    def others() -> None:
        expect_error(lambda: suite.idp.get_user(AccessToken=bogus), NAE, MSG_BAD_ACCESS_TOKEN)
        expect_error(
            lambda: suite.idp.set_user_mfa_preference(
                AccessToken=bogus,
                SoftwareTokenMfaSettings={"Enabled": False, "PreferredMfa": False},
            ),
            NAE,
            MSG_BAD_ACCESS_TOKEN,
        )

    sc.row(
        "GetUser/SetUserMFAPreference: unknown access token -> NotAuthorizedException "
        f"{MSG_BAD_ACCESS_TOKEN!r}",
        others,
        critical=False,
    )


def scenario_token_path(suite: Suite, pools: dict) -> None:
    sc = suite.scenario("AccessToken path: Associate and Verify")
    st = sc.state
    pool = pools["optional"]

    def setup() -> None:
        st["user"] = suite.new_user(pool, "token")
        st["access"] = suite.access_token(pool, st["user"])

    sc.step(setup)

    sc.row(
        "VerifySoftwareToken with nothing pending -> SoftwareTokenMFANotFoundException",
        lambda: expect_error(
            lambda: suite.idp.verify_software_token(AccessToken=st["access"], UserCode="123456"),
            NOT_FOUND,
        ),
        critical=False,
    )

    def associate() -> None:
        response = suite.idp.associate_software_token(AccessToken=st["access"])
        st["secret"] = expect_secret_code(response)
        check("Session" not in response, f"a Session on the AccessToken path: {summarize(response)}")

    sc.row(
        "AssociateSoftwareToken (AccessToken): SecretCode is 52 chars [A-Z2-7], no Session",
        associate,
    )

    for code, label in MALFORMED_CODES:
        sc.row(
            f"VerifySoftwareToken: malformed UserCode ({label}) -> InvalidParameterException",
            lambda code=code: expect_error(
                lambda: suite.raw.verify_software_token(AccessToken=st["access"], UserCode=code),
                IPE,
            ),
            critical=False,
        )

    def wrong() -> None:
        when = suite.clock.fresh()
        expect_error(
            lambda: suite.idp.verify_software_token(
                AccessToken=st["access"], UserCode=wrong_code(st["secret"], when)
            ),
            "EnableSoftwareTokenMFAException",
            MSG_VERIFY_MISMATCH,
        )

    sc.row(
        "VerifySoftwareToken: wrong code -> EnableSoftwareTokenMFAException "
        f"{MSG_VERIFY_MISMATCH!r}",
        wrong,
    )

    def long_name() -> None:
        when = suite.clock.fresh()
        expect_error(
            lambda: suite.idp.verify_software_token(
                AccessToken=st["access"],
                UserCode=code_at(st["secret"], when),
                FriendlyDeviceName="d" * 131073,
            ),
            IPE,
        )

    sc.row(
        "VerifySoftwareToken: FriendlyDeviceName of 131073 characters -> "
        "InvalidParameterException",
        long_name,
        critical=False,
    )

    def right() -> None:
        when = suite.clock.fresh()
        response = suite.idp.verify_software_token(
            AccessToken=st["access"],
            UserCode=code_at(st["secret"], when),
            FriendlyDeviceName="d" * 131072,
        )
        check(response.get("Status") == "SUCCESS", f"Status: {summarize(response)}")
        check("Session" not in response, f"a Session on the AccessToken path: {summarize(response)}")

    sc.row(
        "VerifySoftwareToken: after 7 malformed codes and 1 wrong one the pending secret stays "
        "and no lock (malformed codes do not count): the right code (131072-char "
        "FriendlyDeviceName) -> Status SUCCESS, no Session",
        right,
    )


def scenario_replace_pending(suite: Suite, pools: dict) -> None:
    sc = suite.scenario("associate again before verify")
    pool = pools["optional"]

    def replace() -> None:
        user = suite.new_user(pool, "replace")
        access = suite.access_token(pool, user)
        first = expect_secret_code(suite.idp.associate_software_token(AccessToken=access))
        second = expect_secret_code(suite.idp.associate_software_token(AccessToken=access))
        check(first != second, "the second AssociateSoftwareToken returned the same secret")
        when = suite.clock.fresh()
        expect_error(
            lambda: suite.idp.verify_software_token(
                AccessToken=access, UserCode=code_at(first, when)
            ),
            "EnableSoftwareTokenMFAException",
            MSG_VERIFY_MISMATCH,
        )
        response = suite.idp.verify_software_token(
            AccessToken=access, UserCode=code_at(second, when)
        )
        check(response.get("Status") == "SUCCESS", f"Status: {summarize(response)}")

    sc.row(
        "AssociateSoftwareToken twice: the new secret replaces the pending one (old secret's "
        "code refused, new one's -> SUCCESS)",
        replace,
        critical=False,
    )


def scenario_verify_window(suite: Suite, pools: dict) -> None:
    sc = suite.scenario("VerifySoftwareToken window (T-1, T, T+1 accepted; T+-2 refused)")
    st = sc.state
    pool = pools["optional"]

    def pending(tag: str) -> tuple[str, str]:
        user = suite.new_user(pool, tag)
        access = suite.access_token(pool, user)
        return access, expect_secret_code(suite.idp.associate_software_token(AccessToken=access))

    def setup() -> None:
        st["minus"] = pending("win-minus")
        st["plus"] = pending("win-plus")
        st["far"] = pending("win-far")

    sc.step(setup)

    def accepted(key: str, offset: int, device: Optional[str] = None) -> None:
        access, secret = st[key]
        when = suite.clock.fresh()
        extra = {} if device is None else {"FriendlyDeviceName": device}
        response = suite.idp.verify_software_token(
            AccessToken=access, UserCode=code_at(secret, when + offset), **extra
        )
        check(response.get("Status") == "SUCCESS", f"Status: {summarize(response)}")

    sc.row(
        "VerifySoftwareToken: the code for now-30 (step T-1, empty FriendlyDeviceName) -> "
        "SUCCESS",
        lambda: accepted("minus", -STEP, ""),
        critical=False,
    )
    sc.row(
        "VerifySoftwareToken: the code for now+30 (step T+1) -> SUCCESS",
        lambda: accepted("plus", STEP),
        critical=False,
    )

    def refused() -> None:
        access, secret = st["far"]
        when = suite.clock.fresh()
        for offset in (-2 * STEP, 2 * STEP):
            expect_error(
                lambda: suite.idp.verify_software_token(
                    AccessToken=access, UserCode=code_at(secret, when + offset)
                ),
                "EnableSoftwareTokenMFAException",
                MSG_VERIFY_MISMATCH,
            )

    sc.row(
        "VerifySoftwareToken: the codes for now-60 and now+60 (T-2, T+2) -> "
        "EnableSoftwareTokenMFAException",
        refused,
        critical=False,
    )


def scenario_mfa_setup(suite: Suite, pools: dict) -> None:
    sc = suite.scenario("MFA_SETUP chain and its sessions (pool ON)")
    st = sc.state
    pool = pools["on"]

    def setup() -> None:
        st["user"] = suite.new_user(pool, "setup")
        st["other"] = suite.new_user(pool, "setup-other")

    sc.step(setup)

    def initiate() -> None:
        response = expect_challenge(suite.sign_in(pool, st["user"]), "MFA_SETUP")
        parameters = response.get("ChallengeParameters", {})
        check(
            parameters.get("MFAS_CAN_SETUP") == '["SOFTWARE_TOKEN_MFA"]',
            f"MFAS_CAN_SETUP {parameters.get('MFAS_CAN_SETUP')!r}, "
            "expected the JSON-encoded string '[\"SOFTWARE_TOKEN_MFA\"]'",
        )
        st["s1"] = response["Session"]

    sc.row(
        "InitiateAuth, pool ON + no token -> MFA_SETUP, ChallengeParameters MFAS_CAN_SETUP == "
        "'[\"SOFTWARE_TOKEN_MFA\"]'",
        initiate,
    )

    def associate() -> None:
        response = suite.idp.associate_software_token(Session=st["s1"])
        st["secret"] = expect_secret_code(response)
        s2 = response.get("Session")
        check(isinstance(s2, str) and 20 <= len(s2) <= 2048, f"no new Session: {summarize(response)}")
        check(s2 != st["s1"], "the Session returned is the one sent")
        st["s2"] = s2

    sc.row(
        "AssociateSoftwareToken (Session S1): SecretCode 52 chars [A-Z2-7] and a new Session "
        "S2 != S1",
        associate,
    )
    sc.row(
        "single use: S1 again on AssociateSoftwareToken after it succeeded -> "
        f"NotAuthorizedException {MSG_SESSION_REUSED!r}",
        lambda: expect_error(
            lambda: suite.idp.associate_software_token(Session=st["s1"]), NAE, MSG_SESSION_REUSED
        ),
        critical=False,
    )

    def another_s1() -> str:
        return expect_challenge(suite.sign_in(pool, st["user"]), "MFA_SETUP")["Session"]

    def s1_on_verify() -> None:
        fresh_s1 = another_s1()
        when = suite.clock.fresh()
        expect_error(
            lambda: suite.idp.verify_software_token(
                Session=fresh_s1, UserCode=code_at(st["secret"], when)
            ),
            NAE,
            MSG_INVALID_SESSION,
        )

    sc.row(
        "wrong purpose: an MFA_SETUP session S1 on VerifySoftwareToken -> NotAuthorizedException "
        f"{MSG_INVALID_SESSION!r}",
        s1_on_verify,
        critical=False,
    )
    sc.row(
        "wrong purpose: S1 on RespondToAuthChallenge(MFA_SETUP) before Verify -> "
        f"NotAuthorizedException {MSG_INVALID_SESSION!r}",
        lambda: expect_error(
            lambda: suite.answer_setup(pool, st["user"], another_s1()), NAE, MSG_INVALID_SESSION
        ),
        critical=False,
    )
    sc.row(
        f"unknown (well-formed) session -> NotAuthorizedException {MSG_INVALID_SESSION!r}",
        lambda: expect_error(
            lambda: suite.idp.associate_software_token(
                Session="CONFORMANCE" + secrets.token_hex(32).upper()
            ),
            NAE,
            MSG_INVALID_SESSION,
        ),
        critical=False,
    )

    def verify_wrong() -> None:
        when = suite.clock.fresh()
        expect_error(
            lambda: suite.idp.verify_software_token(
                Session=st["s2"], UserCode=wrong_code(st["secret"], when)
            ),
            "EnableSoftwareTokenMFAException",
            MSG_VERIFY_MISMATCH,
        )

    sc.row(
        "VerifySoftwareToken (Session S2): wrong code -> EnableSoftwareTokenMFAException "
        "(S2 is not consumed)",
        verify_wrong,
    )

    def verify_right() -> None:
        # The rest of this scenario runs inside the step of this Verify.
        when = suite.clock.fresh(latest=22)
        st["when"] = when
        st["verify_code"] = code_at(st["secret"], when)
        response = suite.idp.verify_software_token(
            Session=st["s2"], UserCode=st["verify_code"], FriendlyDeviceName=DEVICE
        )
        check(response.get("Status") == "SUCCESS", f"Status: {summarize(response)}")
        s3 = response.get("Session")
        check(isinstance(s3, str) and 20 <= len(s3) <= 2048, f"no new Session: {summarize(response)}")
        check(s3 != st["s2"], "the Session returned is the one sent")
        st["s3"] = s3

    sc.row(
        "VerifySoftwareToken (Session S2, same session after the wrong code): right code -> "
        "Status SUCCESS and a new Session S3 != S2",
        verify_right,
    )
    sc.row(
        "single use: S2 again on VerifySoftwareToken after it succeeded -> "
        f"NotAuthorizedException {MSG_SESSION_REUSED!r}",
        lambda: expect_error(
            lambda: suite.idp.verify_software_token(Session=st["s2"], UserCode=st["verify_code"]),
            NAE,
            MSG_SESSION_REUSED,
        ),
        critical=False,
    )

    def respond() -> None:
        response = suite.answer_setup(pool, st["user"], st["s3"])
        result = expect_authentication_result(response, "RespondToAuthChallenge(MFA_SETUP)")
        me = suite.idp.get_user(AccessToken=result["AccessToken"])
        check(me.get("Username") == st["user"], f"GetUser with the new AccessToken: {summarize(me)}")

    sc.row(
        "RespondToAuthChallenge(MFA_SETUP, S3, USERNAME) -> AuthenticationResult with "
        "AccessToken, IdToken, RefreshToken, TokenType Bearer, ExpiresIn (AccessToken works)",
        respond,
    )
    sc.row(
        "single use: S3 again on RespondToAuthChallenge(MFA_SETUP) after it succeeded -> "
        f"NotAuthorizedException {MSG_SESSION_REUSED!r}",
        lambda: expect_error(
            lambda: suite.answer_setup(pool, st["user"], st["s3"]), NAE, MSG_SESSION_REUSED
        ),
        critical=False,
    )

    def challenged() -> None:
        response = expect_challenge(suite.sign_in(pool, st["user"]), SOFTWARE_TOKEN_MFA)
        name = response.get("ChallengeParameters", {}).get("FRIENDLY_DEVICE_NAME")
        check(name == DEVICE, f"FRIENDLY_DEVICE_NAME {name!r}, expected {DEVICE!r}")
        st["sw"] = response["Session"]

    sc.row(
        "InitiateAuth, pool ON + verified token (no preference set) -> SOFTWARE_TOKEN_MFA with "
        "ChallengeParameters FRIENDLY_DEVICE_NAME",
        challenged,
    )
    sc.row(
        "wrong purpose: a SOFTWARE_TOKEN_MFA session on AssociateSoftwareToken -> "
        f"NotAuthorizedException {MSG_INVALID_SESSION!r}",
        lambda: expect_error(
            lambda: suite.idp.associate_software_token(Session=st["sw"]), NAE, MSG_INVALID_SESSION
        ),
        critical=False,
    )
    sc.row(
        "a session is bound to its user: answered with another USERNAME -> "
        f"NotAuthorizedException {MSG_INVALID_SESSION!r}",
        lambda: expect_error(
            lambda: suite.answer_code(
                pool, st["other"], st["sw"], wrong_code(st["secret"], st["when"])
            ),
            NAE,
            MSG_INVALID_SESSION,
        ),
        critical=False,
    )

    def next_step() -> None:
        response = suite.answer_code(
            pool, st["user"], st["sw"], code_at(st["secret"], st["when"] + STEP)
        )
        expect_authentication_result(response, "RespondToAuthChallenge(SOFTWARE_TOKEN_MFA)")

    sc.row(
        "RespondToAuthChallenge(SOFTWARE_TOKEN_MFA), pool ON: the next step's code -> "
        "AuthenticationResult (the session survived the refusals above)",
        next_step,
    )
    sc.row(
        "single use: the SOFTWARE_TOKEN_MFA session again after it succeeded -> "
        f"NotAuthorizedException {MSG_SESSION_REUSED!r}",
        lambda: expect_error(
            lambda: suite.answer_code(
                pool, st["user"], st["sw"], code_at(st["secret"], st["when"] + STEP)
            ),
            NAE,
            MSG_SESSION_REUSED,
        ),
        critical=False,
    )


def scenario_sign_in_codes(suite: Suite, pools: dict) -> None:
    sc = suite.scenario("sign-in codes: mismatch, window, replay (pool OPTIONAL)")
    st = sc.state
    pool = pools["optional"]

    def setup() -> None:
        st["user"] = suite.new_user(pool, "codes")
        st["access"] = suite.access_token(pool, st["user"])
        st["secret"] = expect_secret_code(
            suite.idp.associate_software_token(AccessToken=st["access"])
        )
        # Everything below runs inside the step of this Verify (step T).
        st["when"] = when = suite.clock.fresh(latest=22)
        st["verify_code"] = code_at(st["secret"], when)
        verified = suite.idp.verify_software_token(
            AccessToken=st["access"], UserCode=st["verify_code"], FriendlyDeviceName=DEVICE
        )
        check(verified.get("Status") == "SUCCESS", f"Verify: {summarize(verified)}")
        suite.idp.set_user_mfa_preference(
            AccessToken=st["access"],
            SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True},
        )

    sc.step(setup)

    def challenged() -> None:
        response = expect_challenge(suite.sign_in(pool, st["user"]), SOFTWARE_TOKEN_MFA)
        name = response.get("ChallengeParameters", {}).get("FRIENDLY_DEVICE_NAME")
        check(name == DEVICE, f"FRIENDLY_DEVICE_NAME {name!r}, expected {DEVICE!r}")
        st["sw"] = response["Session"]

    sc.row(
        "InitiateAuth, pool OPTIONAL + enabled token -> SOFTWARE_TOKEN_MFA with "
        "FRIENDLY_DEVICE_NAME",
        challenged,
    )

    def answer(offset: int) -> Callable[[], dict]:
        return lambda: suite.answer_code(
            pool, st["user"], st["sw"], code_at(st["secret"], st["when"] + offset)
        )

    sc.row(
        f"RespondToAuthChallenge: wrong code -> CodeMismatchException {MSG_CODE_MISMATCH!r}",
        lambda: expect_error(
            lambda: suite.answer_code(
                pool, st["user"], st["sw"], wrong_code(st["secret"], st["when"])
            ),
            "CodeMismatchException",
            MSG_CODE_MISMATCH,
        ),
        critical=False,
    )

    def far() -> None:
        expect_error(answer(-2 * STEP), "CodeMismatchException", MSG_CODE_MISMATCH)
        expect_error(answer(2 * STEP), "CodeMismatchException", MSG_CODE_MISMATCH)

    sc.row(
        "RespondToAuthChallenge: the codes for now-60 and now+60 (T-2, T+2) -> "
        "CodeMismatchException",
        far,
        critical=False,
    )
    sc.row(
        "RespondToAuthChallenge: the code VerifySoftwareToken used -> ExpiredCodeException "
        f"{MSG_REPLAYED!r}",
        lambda: expect_error(answer(0), "ExpiredCodeException", MSG_REPLAYED),
        critical=False,
    )
    sc.row(
        "RespondToAuthChallenge: a later step's code (now+30, step T+1) -> AuthenticationResult, "
        "on the same session after the refusals above",
        lambda: expect_authentication_result(answer(STEP)()),
    )
    sc.row(
        "single use: that SOFTWARE_TOKEN_MFA session again -> NotAuthorizedException "
        f"{MSG_SESSION_REUSED!r}",
        lambda: expect_error(answer(STEP), NAE, MSG_SESSION_REUSED),
        critical=False,
    )

    def replay_sign_in() -> None:
        session = expect_challenge(suite.sign_in(pool, st["user"]), SOFTWARE_TOKEN_MFA)["Session"]
        for offset in (STEP, 0):
            expect_error(
                lambda: suite.answer_code(
                    pool, st["user"], session, code_at(st["secret"], st["when"] + offset)
                ),
                "ExpiredCodeException",
                MSG_REPLAYED,
            )

    sc.row(
        "next sign-in: the code that signed in (T+1) and an older one (T) -> "
        "ExpiredCodeException",
        replay_sign_in,
        critical=False,
    )


def scenario_decisions(suite: Suite, pools: dict) -> None:
    sc = suite.scenario("sign-in decision (OPTIONAL, OFF)")
    st = sc.state
    opt, off = pools["optional"], pools["off"]

    def no_mfa() -> None:
        user = suite.new_user(opt, "dec-none")
        expect_authentication_result(suite.sign_in(opt, user))

    sc.row(
        "InitiateAuth, pool OPTIONAL + no MFA -> AuthenticationResult directly",
        no_mfa,
        critical=False,
    )

    def verified_not_enabled() -> None:
        st["user"] = suite.new_user(opt, "dec-optional")
        st["secret"], st["access"] = suite.enroll_with_token(
            opt, st["user"], suite.clock.fresh(), enable=False
        )
        expect_authentication_result(suite.sign_in(opt, st["user"]))

    sc.row(
        "InitiateAuth, pool OPTIONAL + verified token, not enabled -> AuthenticationResult "
        "directly (Verify alone does not enable)",
        verified_not_enabled,
    )

    def enabled() -> None:
        suite.idp.set_user_mfa_preference(
            AccessToken=st["access"],
            SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True},
        )
        response = expect_challenge(suite.sign_in(opt, st["user"]), SOFTWARE_TOKEN_MFA)
        name = response.get("ChallengeParameters", {}).get("FRIENDLY_DEVICE_NAME")
        check(name == DEVICE, f"FRIENDLY_DEVICE_NAME {name!r}, expected {DEVICE!r}")

    sc.row(
        "InitiateAuth, pool OPTIONAL + enabled (SetUserMFAPreference) -> SOFTWARE_TOKEN_MFA",
        enabled,
    )

    def off_pool() -> None:
        user = suite.new_user(off, "dec-off")
        suite.enroll_with_token(off, user, suite.clock.fresh(), enable=True)
        expect_authentication_result(suite.sign_in(off, user))

    sc.row(
        "InitiateAuth, pool OFF (software tokens enabled) + verified, enabled token -> "
        "AuthenticationResult directly",
        off_pool,
        critical=False,
    )


def scenario_switch_off(suite: Suite, pools: dict) -> None:
    sc = suite.scenario("pool switches software tokens off later")
    st = sc.state
    pool = pools["switch"]

    def setup() -> None:
        st["user"] = suite.new_user(pool, "switch")
        st["when"] = suite.clock.fresh(latest=22)
        st["secret"], st["access"] = suite.enroll_with_token(pool, st["user"], st["when"])

    sc.step(setup)

    def switch_off() -> None:
        suite.idp.set_user_pool_mfa_config(
            UserPoolId=pool.id,
            SoftwareTokenMfaConfiguration={"Enabled": False},
            MfaConfiguration="OPTIONAL",
        )
        config = suite.idp.get_user_pool_mfa_config(UserPoolId=pool.id)
        check(
            not (config.get("SoftwareTokenMfaConfiguration") or {}).get("Enabled", False),
            f"still enabled: {summarize(config)}",
        )

    sc.row(
        "SetUserPoolMfaConfig: software tokens switched off in an OPTIONAL pool -> accepted",
        switch_off,
    )

    def still_challenged() -> None:
        session = expect_challenge(suite.sign_in(pool, st["user"]), SOFTWARE_TOKEN_MFA)["Session"]
        response = suite.answer_code(pool, st["user"], session, code_at(st["secret"], st["when"]))
        expect_authentication_result(response)

    sc.row(
        "after the switch-off a user who verified a token is still challenged "
        "(SOFTWARE_TOKEN_MFA) and signs in with a fresh code",
        still_challenged,
        critical=False,
    )
    sc.row(
        "after the switch-off AssociateSoftwareToken -> SoftwareTokenMFANotFoundException "
        f"{MSG_POOL_DISABLED!r}",
        lambda: expect_error(
            lambda: suite.idp.associate_software_token(AccessToken=st["access"]),
            NOT_FOUND,
            MSG_POOL_DISABLED,
        ),
        critical=False,
    )


def scenario_preferences(suite: Suite, pools: dict) -> None:
    sc = suite.scenario("MFA preference and the MFA view of (Admin)GetUser")
    st = sc.state
    pool = pools["optional"]
    enable = {"Enabled": True, "PreferredMfa": True}
    disable = {"Enabled": False, "PreferredMfa": False}

    def setup() -> None:
        st["user"] = suite.new_user(pool, "pref")
        st["access"] = suite.access_token(pool, st["user"])

    sc.step(setup)

    def user_pref(settings: dict) -> dict:
        return suite.idp.set_user_mfa_preference(
            AccessToken=st["access"], SoftwareTokenMfaSettings=settings
        )

    def admin_pref(settings: dict) -> dict:
        return suite.idp.admin_set_user_mfa_preference(
            UserPoolId=pool.id, Username=st["user"], SoftwareTokenMfaSettings=settings
        )

    def views() -> tuple[dict, dict]:
        return (
            suite.idp.get_user(AccessToken=st["access"]),
            suite.idp.admin_get_user(UserPoolId=pool.id, Username=st["user"]),
        )

    sc.row(
        f"SetUserMFAPreference Enabled=true, nothing associated -> InvalidParameterException "
        f"{MSG_NOT_SET_UP!r}",
        lambda: expect_error(lambda: user_pref(enable), IPE, MSG_NOT_SET_UP),
        critical=False,
    )
    sc.row(
        "AdminSetUserMFAPreference Enabled=true, nothing associated -> "
        f"InvalidParameterException {MSG_ADMIN_NOT_SET_UP!r}",
        lambda: expect_error(lambda: admin_pref(enable), IPE, MSG_ADMIN_NOT_SET_UP),
        critical=False,
    )
    sc.row(
        "SetUserMFAPreference Enabled=false, PreferredMfa=false, never set up -> success, {}",
        lambda: expect_empty(user_pref(disable), "SetUserMFAPreference"),
        critical=False,
    )
    sc.row(
        "AdminSetUserMFAPreference Enabled=false, PreferredMfa=false, never set up -> success, {}",
        lambda: expect_empty(admin_pref(disable), "AdminSetUserMFAPreference"),
        critical=False,
    )

    def absent(what: str) -> Callable[[], None]:
        def run() -> None:
            user, admin = views()
            expect_mfa_view_absent(user, f"GetUser ({what})")
            expect_mfa_view_absent(admin, f"AdminGetUser ({what})")

        return run

    sc.row(
        "GetUser/AdminGetUser, no MFA: UserMFASettingList and PreferredMfaSetting absent "
        "(not empty)",
        absent("no MFA"),
        critical=False,
    )

    def associate() -> None:
        st["secret"] = expect_secret_code(
            suite.idp.associate_software_token(AccessToken=st["access"])
        )

    sc.step(associate)
    sc.row(
        "SetUserMFAPreference Enabled=true, associated but not verified -> "
        f"InvalidParameterException {MSG_NOT_VERIFIED!r}",
        lambda: expect_error(lambda: user_pref(enable), IPE, MSG_NOT_VERIFIED),
        critical=False,
    )
    sc.row(
        "AdminSetUserMFAPreference Enabled=true, associated but not verified -> "
        f"InvalidParameterException {MSG_NOT_VERIFIED!r}",
        lambda: expect_error(lambda: admin_pref(enable), IPE, MSG_NOT_VERIFIED),
        critical=False,
    )

    def verify() -> None:
        when = suite.clock.fresh()
        response = suite.idp.verify_software_token(
            AccessToken=st["access"], UserCode=code_at(st["secret"], when), FriendlyDeviceName=DEVICE
        )
        check(response.get("Status") == "SUCCESS", f"Verify: {summarize(response)}")

    sc.step(verify)
    sc.row(
        "GetUser/AdminGetUser, verified but not enabled: both keys still absent",
        absent("verified, not enabled"),
        critical=False,
    )

    def admin_enable() -> None:
        expect_empty(admin_pref(enable), "AdminSetUserMFAPreference")
        user, admin = views()
        expect_mfa_view_enabled(user, "GetUser")
        expect_mfa_view_enabled(admin, "AdminGetUser")

    sc.row(
        "AdminSetUserMFAPreference Enabled=true, PreferredMfa=true on a verified token -> "
        "GetUser/AdminGetUser show UserMFASettingList ['SOFTWARE_TOKEN_MFA'], "
        "PreferredMfaSetting 'SOFTWARE_TOKEN_MFA'",
        admin_enable,
    )

    def user_disable() -> None:
        expect_empty(user_pref(disable), "SetUserMFAPreference")
        absent("disabled again")()

    sc.row(
        "SetUserMFAPreference Enabled=false afterwards -> both keys absent again",
        user_disable,
        critical=False,
    )


def scenario_reassociation(suite: Suite, pools: dict) -> None:
    sc = suite.scenario("re-association (KeepUntilVerified, pool ON)")
    st = sc.state
    pool = pools["on"]

    def setup() -> None:
        st["user"] = suite.new_user(pool, "reassoc")
        # Enrolled on step T-1; everything below runs inside step T.
        st["when"] = suite.clock.fresh(latest=21)
        st["old"], st["access"] = suite.enroll_via_setup(pool, st["user"], st["when"])

    sc.step(setup)

    def old_still_works() -> None:
        st["new"] = expect_secret_code(
            suite.idp.associate_software_token(AccessToken=st["access"])
        )
        check(st["new"] != st["old"], "the new secret equals the old one")
        session = expect_challenge(suite.sign_in(pool, st["user"]), SOFTWARE_TOKEN_MFA)["Session"]
        response = suite.answer_code(pool, st["user"], session, code_at(st["old"], st["when"]))
        expect_authentication_result(response)

    sc.row(
        "a new AssociateSoftwareToken leaves the verified token in place: the old secret's "
        "code still signs in",
        old_still_works,
    )

    def new_replaces_old() -> None:
        verified = suite.idp.verify_software_token(
            AccessToken=st["access"], UserCode=code_at(st["new"], st["when"]), FriendlyDeviceName="new"
        )
        check(verified.get("Status") == "SUCCESS", f"Verify of the new secret: {summarize(verified)}")
        session = expect_challenge(suite.sign_in(pool, st["user"]), SOFTWARE_TOKEN_MFA)["Session"]
        expect_error(
            lambda: suite.answer_code(
                pool, st["user"], session, code_at(st["old"], st["when"] + STEP)
            ),
            "CodeMismatchException",
            MSG_CODE_MISMATCH,
        )
        response = suite.answer_code(
            pool, st["user"], session, code_at(st["new"], st["when"] + STEP)
        )
        expect_authentication_result(response)

    sc.row(
        "once the new secret verifies the old secret's code -> CodeMismatchException and the "
        "new one's -> AuthenticationResult",
        new_replaces_old,
        critical=False,
    )


def scenario_lockout(suite: Suite, pools: dict) -> None:
    sc = suite.scenario("lockout (5 free failures, then 1 s doubling)")
    st = sc.state
    pool = pools["optional"]

    def setup() -> None:
        st["user"] = suite.new_user(pool, "lock")
        st["when"] = suite.clock.fresh(latest=20)
        st["secret"], _ = suite.enroll_with_token(pool, st["user"], st["when"])
        st["sw"] = expect_challenge(suite.sign_in(pool, st["user"]), SOFTWARE_TOKEN_MFA)[
            "Session"
        ]

    sc.step(setup)

    def wrong() -> dict:
        return suite.answer_code(pool, st["user"], st["sw"], wrong_code(st["secret"], st["when"]))

    def five() -> None:
        for attempt in range(1, 6):
            try:
                expect_error(wrong, "CodeMismatchException", MSG_CODE_MISMATCH)
            except RowFailure as failure:
                raise RowFailure(f"wrong code #{attempt}: {failure}") from None

    sc.row("5 wrong sign-in codes -> CodeMismatchException each", five)

    def sixth() -> None:
        # Locks are whole seconds on the server's clock: send the 6th wrong code early in a
        # second so the check that follows lands inside the lock.
        while time.time() % 1 > 0.4:
            time.sleep(0.05)
        st["locked_at"] = time.time()
        expect_error(wrong, "CodeMismatchException", MSG_CODE_MISMATCH)

    sc.row("the 6th wrong code -> CodeMismatchException (and it locks)", sixth)
    sc.row(
        f"while locked even the right code -> NotAuthorizedException {MSG_LOCKED!r}",
        lambda: expect_error(
            lambda: suite.answer_code(
                pool, st["user"], st["sw"], code_at(st["secret"], st["when"])
            ),
            NAE,
            MSG_LOCKED,
        ),
    )
    sc.row(
        "the lock does not block beginning a sign-in (InitiateAuth -> SOFTWARE_TOKEN_MFA)",
        lambda: expect_challenge(suite.sign_in(pool, st["user"]), SOFTWARE_TOKEN_MFA),
        critical=False,
    )

    def after_lock() -> None:
        remaining = st["locked_at"] + 1.6 - time.time()
        if remaining > 0:
            suite.clock.sleep(remaining)
        response = suite.answer_code(pool, st["user"], st["sw"], code_at(st["secret"], st["when"]))
        expect_authentication_result(response)

    sc.row(
        "after the 1 s lock the code is evaluated again: the right code -> AuthenticationResult",
        after_lock,
    )


def scenario_admin_delete(suite: Suite, pools: dict) -> None:
    sc = suite.scenario("AdminDeleteSoftwareToken (pool ON)")
    st = sc.state
    pool = pools["on"]

    def setup() -> None:
        st["user"] = suite.new_user(pool, "delete")
        st["when"] = suite.clock.fresh(latest=22)
        st["secret"], st["access"] = suite.enroll_via_setup(pool, st["user"], st["when"])
        suite.idp.set_user_mfa_preference(
            AccessToken=st["access"],
            SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True},
        )
        expect_mfa_view_enabled(
            suite.idp.admin_get_user(UserPoolId=pool.id, Username=st["user"]), "AdminGetUser"
        )
        st["sw"] = expect_challenge(suite.sign_in(pool, st["user"]), SOFTWARE_TOKEN_MFA)[
            "Session"
        ]

    sc.step(setup)

    def delete() -> None:
        expect_empty(
            suite.idp.admin_delete_software_token(UserPoolId=pool.id, Username=st["user"]),
            "AdminDeleteSoftwareToken",
        )
        expect_mfa_view_absent(
            suite.idp.admin_get_user(UserPoolId=pool.id, Username=st["user"]), "AdminGetUser"
        )
        expect_mfa_view_absent(suite.idp.get_user(AccessToken=st["access"]), "GetUser")

    sc.row(
        "AdminDeleteSoftwareToken -> {}; AdminGetUser/GetUser no longer show SOFTWARE_TOKEN_MFA "
        "(keys absent)",
        delete,
    )
    sc.row(
        "a SOFTWARE_TOKEN_MFA challenge answered after the delete -> "
        f"SoftwareTokenMFANotFoundException {MSG_NO_TOKEN!r}",
        lambda: expect_error(
            lambda: suite.answer_code(
                pool, st["user"], st["sw"], code_at(st["secret"], st["when"])
            ),
            NOT_FOUND,
            MSG_NO_TOKEN,
        ),
        critical=False,
    )
    sc.row(
        "after AdminDeleteSoftwareToken the next sign-in in the ON pool -> MFA_SETUP",
        lambda: expect_challenge(suite.sign_in(pool, st["user"]), "MFA_SETUP"),
        critical=False,
    )


def early_in_second() -> None:
    """Waits until early in a wall-clock second: the server's locks are whole seconds, so a
    check sent right after the locking failure then lands inside the lock."""
    while time.time() % 1 > 0.4:
        time.sleep(0.05)


def scenario_wire(suite: Suite, pools: dict) -> None:
    sc = suite.scenario("wire format")

    def request_ids() -> None:
        ok = suite.idp.get_user_pool_mfa_config(UserPoolId=pools["optional"].id)
        check(
            bool(ok.get("ResponseMetadata", {}).get("RequestId")),
            "a successful response has no x-amzn-RequestId header "
            f"(headers: {sorted(ok.get('ResponseMetadata', {}).get('HTTPHeaders', {}))})",
        )
        error = expect_error(
            lambda: suite.idp.get_user(AccessToken="conformance" + secrets.token_hex(16)),
            NAE,
            MSG_BAD_ACCESS_TOKEN,
        )
        check(
            bool(error.response.get("ResponseMetadata", {}).get("RequestId")),
            "an error response has no x-amzn-RequestId header",
        )

    sc.row(
        "every response, errors included, carries an x-amzn-RequestId header "
        "(ResponseMetadata.RequestId), as Cognito's do",
        request_ids,
        critical=False,
    )


def scenario_lockout_rules(suite: Suite, pools: dict) -> None:
    sc = suite.scenario("lockout: what counts (one counter for Verify and sign-in)")
    st = sc.state
    pool = pools["optional"]

    def setup() -> None:
        st["when"] = suite.clock.fresh(latest=20)
        st["user"] = suite.new_user(pool, "count")
        st["secret"], st["access"] = suite.enroll_with_token(pool, st["user"], st["when"])
        st["shared"] = suite.new_user(pool, "shared")
        st["shared_secret"], st["shared_access"] = suite.enroll_with_token(
            pool, st["shared"], st["when"]
        )

    sc.step(setup)

    def answer(user: str, session: str, code: str) -> Callable[[], dict]:
        return lambda: suite.answer_code(pool, user, session, code)

    def not_counted() -> None:
        user, secret, when = st["user"], st["secret"], st["when"]
        session = expect_challenge(suite.sign_in(pool, user), SOFTWARE_TOKEN_MFA)["Session"]
        for _ in range(5):
            expect_error(
                answer(user, session, wrong_code(secret, when)),
                "CodeMismatchException",
                MSG_CODE_MISMATCH,
            )
        early_in_second()
        for _ in range(2):
            expect_error(
                answer(user, session, code_at(secret, when - STEP)),
                "ExpiredCodeException",
                MSG_REPLAYED,
            )
        for malformed in ("12345", "12345a"):
            try:
                suite.raw.respond_to_auth_challenge(
                    ClientId=pool.client_id,
                    ChallengeName=SOFTWARE_TOKEN_MFA,
                    Session=session,
                    ChallengeResponses={"USERNAME": user, "SOFTWARE_TOKEN_MFA_CODE": malformed},
                )
            except ClientError as error:
                code = error.response["Error"]["Code"]
                check(
                    code in (IPE, "CodeMismatchException"),
                    f"malformed code {malformed!r}: {code}",
                )
            else:
                raise RowFailure(f"malformed code {malformed!r} was accepted")
        expect_authentication_result(answer(user, session, code_at(secret, when))())

    sc.row(
        "5 wrong codes, then replayed and malformed codes (refused, not counted): the right "
        "code still signs in",
        not_counted,
    )

    def success_resets() -> None:
        user, secret, when = st["user"], st["secret"], st["when"]
        session = expect_challenge(suite.sign_in(pool, user), SOFTWARE_TOKEN_MFA)["Session"]
        early_in_second()
        expect_error(
            answer(user, session, wrong_code(secret, when)),
            "CodeMismatchException",
            MSG_CODE_MISMATCH,
        )
        expect_authentication_result(answer(user, session, code_at(secret, when + STEP))())

    sc.row(
        "a success resets the count: one more wrong code does not lock, the next right code "
        "signs in",
        success_resets,
        critical=False,
    )

    def shared_counter() -> None:
        user, secret, when = st["shared"], st["shared_secret"], st["when"]
        pending = expect_secret_code(
            suite.idp.associate_software_token(AccessToken=st["shared_access"])
        )
        for _ in range(5):
            expect_error(
                lambda: suite.idp.verify_software_token(
                    AccessToken=st["shared_access"], UserCode=wrong_code(pending, when)
                ),
                "EnableSoftwareTokenMFAException",
                MSG_VERIFY_MISMATCH,
            )
        session = expect_challenge(suite.sign_in(pool, user), SOFTWARE_TOKEN_MFA)["Session"]
        early_in_second()
        expect_error(
            answer(user, session, wrong_code(secret, when)),
            "CodeMismatchException",
            MSG_CODE_MISMATCH,
        )
        expect_error(answer(user, session, code_at(secret, when)), NAE, MSG_LOCKED)
        expect_error(
            lambda: suite.idp.verify_software_token(
                AccessToken=st["shared_access"], UserCode=code_at(pending, when)
            ),
            NAE,
            MSG_LOCKED,
        )

    sc.row(
        "5 wrong Verify codes + 1 wrong sign-in code lock the user (one counter): the right "
        "sign-in code and the right Verify code -> NotAuthorizedException (locked)",
        shared_counter,
        critical=False,
    )


def scenario_concurrency(suite: Suite, pools: dict) -> None:
    sc = suite.scenario("concurrent double-submit")
    st = sc.state
    pool = pools["optional"]
    parallel = 6

    def setup() -> None:
        st["when"] = suite.clock.fresh(latest=20)
        st["user"] = suite.new_user(pool, "race")
        st["secret"], _ = suite.enroll_with_token(pool, st["user"], st["when"])
        st["clients"] = [suite.new_client() for _ in range(parallel)]

    sc.step(setup)

    def race(sessions: list[str], code: str) -> list[tuple[str, str]]:
        barrier = threading.Barrier(len(sessions))
        outcomes: list = [None] * len(sessions)

        def one(index: int) -> None:
            client = st["clients"][index]
            barrier.wait()
            try:
                response = client.respond_to_auth_challenge(
                    ClientId=pool.client_id,
                    ChallengeName=SOFTWARE_TOKEN_MFA,
                    Session=sessions[index],
                    ChallengeResponses={"USERNAME": st["user"], "SOFTWARE_TOKEN_MFA_CODE": code},
                )
                expect_authentication_result(response)
                outcomes[index] = ("success", "")
            except ClientError as error:
                err = error.response["Error"]
                outcomes[index] = (err.get("Code"), err.get("Message"))
            except Exception as error:  # noqa: BLE001 - reported below
                outcomes[index] = (type(error).__name__, str(error))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(sessions))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        return outcomes

    def separate_sessions() -> None:
        sessions = [
            expect_challenge(suite.sign_in(pool, st["user"]), SOFTWARE_TOKEN_MFA)["Session"]
            for _ in range(parallel)
        ]
        outcomes = race(sessions, code_at(st["secret"], st["when"]))
        successes = sum(1 for kind, _ in outcomes if kind == "success")
        others = [o for o in outcomes if o[0] != "success"]
        check(successes == 1, f"{successes} successes, expected exactly 1: {outcomes}")
        check(
            all(o == ("ExpiredCodeException", MSG_REPLAYED) for o in others),
            f"the losers: {others}",
        )

    sc.row(
        f"one code submitted on {parallel} sessions at once -> exactly one AuthenticationResult, "
        "the rest ExpiredCodeException",
        separate_sessions,
        critical=False,
    )

    def one_session() -> None:
        session = expect_challenge(suite.sign_in(pool, st["user"]), SOFTWARE_TOKEN_MFA)["Session"]
        outcomes = race([session] * parallel, code_at(st["secret"], st["when"] + STEP))
        successes = sum(1 for kind, _ in outcomes if kind == "success")
        others = [o for o in outcomes if o[0] != "success"]
        check(successes == 1, f"{successes} successes, expected exactly 1: {outcomes}")
        allowed = {("ExpiredCodeException", MSG_REPLAYED), (NAE, MSG_SESSION_REUSED)}
        check(all(o in allowed for o in others), f"the losers: {others}")

    sc.row(
        f"one code submitted {parallel} times at once on one session -> exactly one "
        "AuthenticationResult, the rest ExpiredCodeException or 'session can only be used once'",
        one_session,
        critical=False,
    )


def scenario_limits(suite: Suite, pools: dict) -> None:
    sc = suite.scenario("member length limits (one past each bound is refused, nothing stored)")
    st = sc.state
    pool = pools["optional"]

    def setup() -> None:
        st["user"] = suite.new_user(pool, "limits")
        st["access"] = suite.access_token(pool, st["user"])

    sc.step(setup)

    def long_username() -> None:
        username = "u" * 129
        expect_error(
            lambda: suite.raw.admin_create_user(UserPoolId=pool.id, Username=username), IPE
        )

    sc.row(
        "AdminCreateUser: Username of 129 characters -> InvalidParameterException",
        long_username,
        critical=False,
    )
    sc.row(
        "CreateUserPool: PoolName of 129 characters -> InvalidParameterException",
        lambda: expect_error(lambda: suite.raw.create_user_pool(PoolName="p" * 129), IPE),
        critical=False,
    )
    sc.row(
        "CreateUserPoolClient: ClientName of 129 characters -> InvalidParameterException",
        lambda: expect_error(
            lambda: suite.raw.create_user_pool_client(UserPoolId=pool.id, ClientName="c" * 129),
            IPE,
        ),
        critical=False,
    )

    def long_password() -> None:
        expect_error(
            lambda: suite.raw.admin_set_user_password(
                UserPoolId=pool.id, Username=st["user"], Password="P" * 257, Permanent=True
            ),
            IPE,
        )
        # Nothing stored: the old password still signs in.
        expect_authentication_result(suite.sign_in(pool, st["user"]), "InitiateAuth")

    sc.row(
        "AdminSetUserPassword: Password of 257 characters -> InvalidParameterException "
        "(the old password still signs in)",
        long_password,
        critical=False,
    )

    def long_device_name() -> None:
        secret = expect_secret_code(suite.idp.associate_software_token(AccessToken=st["access"]))
        when = suite.clock.fresh()
        code = code_at(secret, when)
        expect_error(
            lambda: suite.raw.verify_software_token(
                AccessToken=st["access"], UserCode=code, FriendlyDeviceName="d" * 131073
            ),
            IPE,
        )
        # Nothing stored: still pending, the step not burned.
        verified = suite.idp.verify_software_token(
            AccessToken=st["access"], UserCode=code, FriendlyDeviceName="d" * 131072
        )
        check(verified.get("Status") == "SUCCESS", f"Verify: {summarize(verified)}")

    sc.row(
        "VerifySoftwareToken: FriendlyDeviceName of 131073 characters -> "
        "InvalidParameterException (still pending; 131072 characters then verify)",
        long_device_name,
        critical=False,
    )


SCENARIOS = [
    scenario_wire,
    scenario_exclusivity,
    scenario_disabled_pool,
    scenario_unknown_access_token,
    scenario_token_path,
    scenario_replace_pending,
    scenario_verify_window,
    scenario_mfa_setup,
    scenario_sign_in_codes,
    scenario_decisions,
    scenario_switch_off,
    scenario_preferences,
    scenario_reassociation,
    scenario_lockout,
    scenario_lockout_rules,
    scenario_concurrency,
    scenario_admin_delete,
    scenario_limits,
]


# ---------------------------------------------------------------------------------------------
# Running


def _version(name: str) -> str:
    try:
        return _dist_version(name)
    except PackageNotFoundError:
        return "?"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """The reference server example, started on a free port."""

    def __init__(self, binary: Path):
        if not binary.is_file():
            raise SystemExit(
                f"{binary} not found: build it with "
                "`cargo build --release --example cognito_idp_server`"
            )
        port = free_port()
        self.process = subprocess.Popen(
            [str(binary), "--listen", f"127.0.0.1:{port}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: "queue.Queue[Optional[str]]" = queue.Queue()

        def drain() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=drain, daemon=True).start()
        deadline = time.time() + 30
        self.url = ""
        output = []
        while time.time() < deadline:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.time()))
            except queue.Empty:
                break
            if line is None:
                break
            output.append(line)
            match = re.search(r"listening on (http://\S+)", line)
            if match:
                self.url = match.group(1)
                return
        self.stop()
        raise SystemExit("the server did not report `listening on`:\n" + "".join(output))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def main(argv: Optional[list[str]] = None) -> int:
    repo = Path(__file__).resolve().parents[2]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint-url", help="the Cognito IdP endpoint, e.g. http://127.0.0.1:9229")
    parser.add_argument(
        "--start-server",
        action="store_true",
        help="start target/release/examples/cognito_idp_server on a free port (builds nothing)",
    )
    parser.add_argument(
        "--server-binary",
        type=Path,
        default=repo / "target" / "release" / "examples" / "cognito_idp_server",
        help="the server --start-server runs",
    )
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args(argv)
    if not args.endpoint_url and not args.start_server:
        parser.error("--endpoint-url is required unless --start-server is given")

    try:
        sys.stdout.reconfigure(encoding="utf-8", errors="backslashreplace")  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        pass

    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    session = boto3.Session(region_name=args.region)
    if session.get_credentials() is None:
        session = boto3.Session(
            aws_access_key_id="conformance",
            aws_secret_access_key="conformance",
            region_name=args.region,
        )

    server: Optional[Server] = None
    if args.start_server:
        server = Server(args.server_binary)
        endpoint = server.url
    else:
        endpoint = args.endpoint_url

    started = time.time()
    try:
        print(
            f"cognito conformance: endpoint {endpoint}, region {args.region}, "
            f"boto3 {boto3.__version__}, pyotp {_version('pyotp')}",
            flush=True,
        )
        suite = Suite(session, endpoint, args.region)
        pools = scenario_pools(suite)
        if pools is None:
            suite.record("all scenarios", False, "not run: pool setup failed")
        else:
            for scenario in SCENARIOS:
                scenario(suite, pools)
    finally:
        if server is not None:
            server.stop()

    passed = sum(1 for _, ok, _ in suite.results if ok)
    failed = len(suite.results) - passed
    print()
    if failed:
        print("failed rows:")
        for name, ok, reason in suite.results:
            if not ok:
                print(f"  FAIL  {name}\n        -> {reason}")
    print(
        f"run time {time.time() - started:.1f} s "
        f"(of which {suite.clock.waited:.1f} s waiting on the TOTP step or the lock)"
    )
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
