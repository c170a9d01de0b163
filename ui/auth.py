"""Who is using the app. `st.login` (OIDC) when an [auth] section is in secrets.toml; otherwise a shared
password (secrets `password` or HEADSTART_PASSWORD) checked with hmac.compare_digest; otherwise the
single local user. app.py calls `require_login` before routing, so every page is behind it."""
from __future__ import annotations

import hmac
import os

import streamlit as st


def _secret(key: str):
    try:
        return st.secrets.get(key)
    except Exception:  # noqa: BLE001 — no secrets.toml at all
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
        password = _secret("password") or os.environ.get("HEADSTART_PASSWORD")
        if not password:
            user = "local"
        elif st.session_state.get("user"):
            user = st.session_state["user"]
        else:
            st.title("Head Start")
            with st.form("login"):
                name = st.text_input("Your name", help="Your experiments are stored under it.")
                given = st.text_input("Password", type="password")
                ok = st.form_submit_button("Sign in", type="primary")
            if ok and name.strip() and hmac.compare_digest(given.encode(), str(password).encode()):
                st.session_state["user"] = name.strip()
                st.rerun()
            if ok:
                st.error("Wrong password (or no name).")
            st.stop()
    st.session_state["user"] = user
    return user


def current_user() -> str:
    return st.session_state.get("user", "local")
