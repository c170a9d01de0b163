"""Who is using the app, and how sure we are. Every page calls `require_login` (through `setup_page`).

Sign-in modes, strongest first:
- OIDC (`st.login`) when an [auth] section is in secrets.toml: identities come from the provider.
- Per-user passwords when a [passwords] table is in secrets.toml (`ada = "pbkdf2_sha256$..."`, made by
  `python -m training hash-password`): a name signs in only with its own password.
- A shared password (secrets `password` or HEADSTART_PASSWORD): the name is a *label*, not an identity —
  anyone with the password can type any name and see that name's experiments. Fine for one trusted team.
- Otherwise the single local user.
Names are checked (letters, digits and ` ._@-`, at most 64; `gallery` and `local` are reserved), and
failed sign-ins are throttled for the whole server: after 5 failures within a minute no password is even
checked for 30 s.
"""
from __future__ import annotations

import hmac
import re
import threading
import time

import streamlit as st

from training.service.bundle import GALLERY_OWNER
from training.service.passwords import hash_password, verify_password
from training.settings import load_settings

RESERVED = {GALLERY_OWNER, "local"}
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}$")
MAX_FAILURES, WINDOW_S, LOCKOUT_S = 5, 60.0, 30.0
FAILURE_DELAY_S = 1.0
"""Each failed sign-in answers this much later (a brute-force attempt gets ~1 guess per second per session)."""
_FAILURES: list[float] = []  # process-wide: every session of this server shares the throttle
_LOCK = threading.Lock()


def _secret(key: str):
    try:
        return st.secrets.get(key)
    except Exception:  # noqa: BLE001 — no secrets.toml at all
        return None


def locked_for(now: float | None = None) -> float:
    """Seconds until sign-in is accepted again (0 when it is)."""
    now = now or time.time()
    with _LOCK:
        _FAILURES[:] = [t for t in _FAILURES if now - t < WINDOW_S + LOCKOUT_S]
        recent = [t for t in _FAILURES if now - t < WINDOW_S]
        if len(recent) < MAX_FAILURES:
            return 0.0
        return max(0.0, recent[-1] + LOCKOUT_S - now)


def _failed() -> None:
    with _LOCK:
        _FAILURES.append(time.time())
    time.sleep(FAILURE_DELAY_S)


def name_problem(name: str) -> str | None:
    """Why a typed name cannot be used, or None."""
    if not NAME.match(name):
        return "a name is 1–64 letters, digits, spaces or . _ @ - and starts with a letter or digit"
    if name.lower() in RESERVED:
        return f"{name!r} is reserved; choose another name"
    return None


def _check(name: str, given: str, password, passwords) -> str | None:
    """The error for a sign-in attempt, or None when it succeeds."""
    wait = locked_for()
    if wait:
        return f"Too many failed sign-ins: try again in {wait:.0f} s."
    problem = name_problem(name)
    if problem:
        return f"Cannot sign in: {problem}."
    if passwords:
        stored = passwords.get(name)
        if stored is None:
            hash_password(given)  # the same work as a real check, so timing does not tell which names exist
        ok = stored is not None and verify_password(given, stored)
    else:
        ok = hmac.compare_digest(given.encode(), str(password).encode())
    if not ok:
        _failed()
        return "Wrong name or password." if passwords else "Wrong password."
    return None


def require_login() -> str:
    """The signed-in user's name (stops the page with a sign-in form until there is one)."""
    if _secret("auth"):
        if not st.user.is_logged_in:
            st.title("Head Start")
            st.write("Sign in to run and see your experiments.")
            st.button("Sign in", on_click=st.login, type="primary")
            st.stop()
        user = st.user.get("email") or st.user.get("name") or "user"
    else:
        passwords = _secret("passwords")
        passwords = dict(passwords) if passwords else {}
        password = _secret("password") or load_settings().password
        if not password and not passwords:
            user = "local"
        elif st.session_state.get("user"):
            user = st.session_state["user"]
        else:
            st.title("Head Start")
            with st.form("login"):
                name = st.text_input("Your name", help="Your experiments are stored under it." if passwords else
                                     "A label your experiments are stored under. With this deployment's shared password, "
                                     "anyone who has it can use any name.")
                given = st.text_input("Password", type="password")
                ok = st.form_submit_button("Sign in", type="primary")
            if ok:
                error = _check(name.strip(), given, password, passwords)
                if error is None:
                    st.session_state["user"] = name.strip()
                    st.rerun()
                st.error(error)
            st.stop()
    st.session_state["user"] = user
    return user


def current_user() -> str:
    return st.session_state.get("user", "local")
