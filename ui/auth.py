"""Who is using the app, and how sure we are. Every page calls `require_login` (through `setup_page`).

Sign-in modes, strongest first:
- OIDC (`st.login`) when an [auth] section is in secrets.toml: identities come from the provider.
- Per-user passwords when a [passwords] table is in secrets.toml (`ada = "pbkdf2_sha256$..."`, made by
  `python -m training hash-password`): a name signs in only with its own password.
- A shared password (secrets `password` or HEADSTART_PASSWORD): the name is a *label*, not an identity —
  anyone with the password can type any name and see that name's experiments. Fine for one trusted team.
- Otherwise the single local user.
Names are checked (letters, digits and ` ._@-`, at most 64; `gallery` and `local` are reserved), and
failed sign-ins are throttled per name and client (the browser's address): after 5 failures of one name from one
client within a minute, that name is not even checked from that client for 30 s; one client gets 20 failures a
minute over all names. Attempts still being checked count, so simultaneous guesses cannot all pass the limit; a
correct password from another client is never refused, and from the same client for at most 30 s.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
import sys
import threading
import time

import streamlit as st

from training.service.bundle import GALLERY_OWNER
from training.service.passwords import hash_password, verify_password
from training.settings import load_settings

RESERVED = {GALLERY_OWNER, "local"}
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}$")
MAX_FAILURES, WINDOW_S, LOCKOUT_S = 5, 60.0, 30.0
CLIENT_MAX_FAILURES = 20
"""Failures one client may make within WINDOW_S over every name (password spraying), before its LOCKOUT_S."""
FAILURE_DELAY_S = 1.0
"""Each failed sign-in answers this much later (a brute-force attempt gets ~1 guess per second per session)."""
CHECKING_WAIT_S = 1.0
"""What an attempt is told to wait when the attempts already being checked could use up its key's limit."""


class Throttle:
    """Failed sign-ins per key, with the attempts still being checked counted as failures-to-be: `begin` admits an
    attempt (0) or says how long to wait; `end` records how it went. Thread-safe; process-wide (every session of this
    server shares it)."""

    def __init__(self):
        self.failures: dict[tuple, list[float]] = {}
        self.checking: dict[tuple, int] = {}
        self.lock = threading.Lock()

    def begin(self, keys: list[tuple[tuple, int]], now: float | None = None) -> float:
        """keys: (key, its limit within WINDOW_S). 0 admits the attempt (counted as checking until `end`), else the
        seconds until this key accepts an attempt again."""
        now = now or time.time()
        with self.lock:
            wait = 0.0
            for key, limit in keys:
                recent = self.failures[key] = [t for t in self.failures.get(key, []) if now - t < WINDOW_S + LOCKOUT_S]
                in_window = [t for t in recent if now - t < WINDOW_S]
                if len(in_window) >= limit:
                    wait = max(wait, in_window[-1] + LOCKOUT_S - now)
                elif len(in_window) + self.checking.get(key, 0) >= limit:
                    wait = max(wait, CHECKING_WAIT_S)  # others are being checked now: their outcome decides
            if wait > 0:
                return wait
            for key, _ in keys:
                self.checking[key] = self.checking.get(key, 0) + 1
            return 0.0

    def end(self, keys: list[tuple[tuple, int]], ok: bool, now: float | None = None) -> None:
        now = now or time.time()
        with self.lock:
            for key, _ in keys:
                self.checking[key] = max(0, self.checking.get(key, 0) - 1)
                if not ok:
                    self.failures.setdefault(key, []).append(now)


THROTTLE = Throttle()


def _keys(name: str, client: str) -> list[tuple[tuple, int]]:
    return [(("name", name.lower(), client), MAX_FAILURES), (("client", client), CLIENT_MAX_FAILURES)]


SERVER_TRUSTS = tuple(h.strip() for h in os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1").split(","))
"""The peers whose X-Forwarded-For Streamlit's server (uvicorn) applies before the app sees the address: by default any
connection from this machine, so a local client could name any visitor (issue 39)."""


def _within(host: str, networks) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(n, strict=False) for n in networks if n != "*") or "*" in networks


def _forwarded_client(hosts: list[str], trusted) -> str:
    """The client a chain of forwarding hosts (X-Forwarded-For, then the peer) names: the last one not a trusted proxy."""
    for host in reversed(hosts):
        if not _within(host, trusted):
            return host
    return hosts[0]


def client_address(ip: str | None, forwarded_for: str | None, trusted: tuple[str, ...]) -> str:
    """The visitor's address, from what the server saw (`ip`: None for this machine) and the request's X-Forwarded-For:
    the TCP peer, unless the peer is one of the operator's `trusted` proxies (HEADSTART_TRUSTED_PROXIES), which alone may
    name the visitor. When the server already replaced a local peer by the header's host (see SERVER_TRUSTS), that is
    undone: the peer was this machine."""
    hosts = [h.strip() for h in (forwarded_for or "").split(",") if h.strip()]
    peer = ip or "127.0.0.1"
    named = bool(hosts) and ip is not None and ip == _forwarded_client(hosts, SERVER_TRUSTS)
    if named:
        peer = "127.0.0.1"  # the server may have taken the header's word for it: the connection came from this machine
    if hosts and _within(peer, trusted):
        return _forwarded_client(hosts + [peer], trusted)
    if named:
        # Either a client here named `ip`, or the visitor at `ip` named itself: from inside the app the two look the
        # same. Neither may become this machine's visitor nor the one at `ip` (who sends no header): a place of its own.
        return f"{ip} (as X-Forwarded-For names it)"
    return "unknown" if _within(peer, ("127.0.0.1", "::1")) else peer


def _client() -> str:
    """The browser's address: the connection's own (this machine's is "unknown"), or the one a trusted reverse proxy
    names (`client_address`)."""
    try:
        ip = st.context.ip_address
        forwarded = st.context.headers.get("X-Forwarded-For")
    except Exception:  # noqa: BLE001 — outside a browser session
        return "unknown"
    if not (ip is None or isinstance(ip, str)):  # AppTest hands out a stand-in object per session
        return "unknown"
    return client_address(ip or None, forwarded if isinstance(forwarded, str) else None,
                          load_settings().trusted_proxies)


def _secret(key: str):
    try:
        return st.secrets.get(key)
    except Exception:  # noqa: BLE001 — no secrets.toml at all
        return None


def name_problem(name: str) -> str | None:
    """Why a typed name cannot be used, or None."""
    if not NAME.match(name):
        return "a name is 1–64 letters, digits, spaces or . _ @ - and starts with a letter or digit"
    if name.lower() in RESERVED:
        return f"{name!r} is reserved; choose another name"
    return None


def _check(name: str, given: str, password, passwords, client: str = "unknown") -> str | None:
    """The error for a sign-in attempt from `client`, or None when it succeeds."""
    problem = name_problem(name)
    if problem:
        return f"Cannot sign in: {problem}."
    keys = _keys(name, client)
    wait = THROTTLE.begin(keys)
    if wait:
        return f"Too many failed sign-ins: try again in {max(1, round(wait))} s."
    ok = False
    try:
        if passwords:
            stored = passwords.get(name)
            if stored is None:
                hash_password(given)  # the same work as a real check, so timing does not tell which names exist
            ok = stored is not None and verify_password(given, stored)
        else:
            ok = hmac.compare_digest(given.encode(), str(password).encode())
    finally:
        THROTTLE.end(keys, ok)
    if not ok:
        time.sleep(FAILURE_DELAY_S)
        return "Wrong name or password." if passwords else "Wrong password."
    return None


NO_SIGN_IN = ("This demo has no sign-in configured: visitors are told apart only by their network address (behind a "
              "proxy, not at all), so they may see and share each other's experiments and quota. Set HEADSTART_PASSWORD, "
              "or [passwords] or [auth] in .streamlit/secrets.toml.")
_warned = False


def anonymous_visitor() -> str:
    """Demo mode without any sign-in: a visitor is "visitor-" and a digest of their network address (stable across
    reloads), never the all-seeing "local" user; the deployment is warned once on the console and on every page."""
    global _warned
    if not _warned:
        _warned = True
        print(f"WARNING: {NO_SIGN_IN}", file=sys.stderr, flush=True)
    st.sidebar.warning(NO_SIGN_IN, icon=":material/warning:")
    return "visitor-" + hashlib.sha256(_client().encode()).hexdigest()[:10]


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
        if not password and not passwords and load_settings().mode == "demo":
            user = anonymous_visitor()
        elif not password and not passwords:
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
                error = _check(name.strip(), given, password, passwords, _client())
                if error is None:
                    st.session_state["user"] = name.strip()
                    st.rerun()
                st.error(error)
            st.stop()
    st.session_state["user"] = user
    return user


def current_user() -> str:
    return st.session_state.get("user", "local")
