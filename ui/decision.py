"""The decision record on Compare: a team writes its question and constraints, sees what satisfies them (computed
from the runs, with intervals), comments, and signs off; a link opens the same view for a teammate."""
from __future__ import annotations

import streamlit as st

from training.analysis.forecast import has_pretrained
from training.analysis.record import constraint_lines
from training.analysis.units import human_time, plain, shown_source
from training.errors import HeadStartError
from training.service.records import check_constraints
from training.settings import load_settings
from ui.auth import current_user
from ui.common import get_store


def share_link(exp_id: str) -> str:
    """This page's address with `?exp=ID`: a signed-in teammate who opens it sees this experiment here."""
    base = (st.context.url or "").split("?", 1)[0]
    return f"{base}?exp={exp_id}"


def decision_record(a, exp_id: str, price: float) -> None:
    d = a.decision
    user = current_user()
    if d is None:
        st.caption("A decision record turns this experiment into a decision a review can sign: the question, the "
                   "constraints your team sets (a minimum metric, a time or cost budget, "
                   + ("how much forgetting is acceptable, " if has_pretrained(a.config) else "")
                   + "how much labelled data you have), what satisfies them — computed from these runs, with "
                   "intervals — comments, and a sign-off. It goes into the report and the bundle.")
    else:
        st.markdown(f"**Question:** {plain(d.question)}")
        lines = constraint_lines(d.constraints, a.metric, a.higher_is_better)
        st.markdown("**Constraints:** " + ("; ".join(lines) if lines else "none set"))
        answer = a.decision_answer["sentence"] if a.decision_answer else "No finished runs to decide from yet."
        st.markdown(f"**What satisfies them (computed from the runs):** {answer}")
        for c in d.comments:
            st.markdown(f"> {plain(c.body)}\n>\n> — *{plain(c.author)}, {human_time(c.at)}*")
        if d.signoff_by:
            st.success(f"Signed off by **{plain(d.signoff_by)}** on {human_time(d.signoff_at)}, approving: "
                       # what was signed is stored text (a bundle brings its own): shown inert
                       f"{plain((d.signed or {}).get('sentence', answer))}", icon=":material/verified:")
        else:
            st.info("Not signed off yet.", icon=":material/pending:")
    owner = a.exp.owner
    if user != owner and load_settings().mode != "local":  # a teammate from a shared link reads, comments, signs off
        st.caption(f"The question and constraints are {plain(owner)}'s to set; comment or sign off below.")
    else:
        _record_form(a, exp_id, price, d, user)
    if d is not None:
        _discussion(a, exp_id, d, user)


def _record_form(a, exp_id: str, price: float, d, user: str) -> None:
    """Start or edit the record's question and constraints (the experiment's owner only)."""
    with st.expander("Edit the question and constraints" if d else "Start a decision record", expanded=False):
        with st.form(f"decision_form_{exp_id}"):
            cfg = a.config
            pretrained = has_pretrained(cfg)
            source = shown_source(cfg["data"]["source"])
            question = st.text_area("Question", value=d.question if d else (
                f"Should we fine-tune {cfg['model']['base']} or train our own model on {source}?" if pretrained else
                f"Is a neural network worth it over gradient-boosted trees on {source}?"))
            c = d.constraints if d else {}
            c1, c2, c3, c4, c5 = st.columns(5)
            values = {
                "min_metric": c1.number_input(f"{'Minimum' if a.higher_is_better else 'Maximum'} {a.metric}",
                                              value=c.get("min_metric"), format="%.3f"),
                "max_minutes": c2.number_input("Max training minutes per run", min_value=0.0, value=c.get("max_minutes")),
                "max_cost": c3.number_input(f"Max cost per run ($, at ${price:.2f}/h)", min_value=0.0,
                                            value=c.get("max_cost")),
                # nothing pretrained, nothing to forget: no such constraint to set
                "max_forgetting": c4.number_input("Max forgetting", min_value=0.0, value=c.get("max_forgetting"),
                                                  format="%.3f") if pretrained else None,
                "n_available": c5.number_input("Labelled examples you have", min_value=0, step=100,
                                               value=c.get("n_available")),
            }
            if d and d.signoff_by:
                st.caption("Saving a changed question or constraints withdraws the sign-off: what was signed would no "
                           "longer match what is asked.")
            if st.form_submit_button("Save decision record", type="primary"):
                if not question.strip():
                    st.error("Write the question the team is deciding (the Question box is empty).")
                else:
                    try:
                        get_store().save_decision(exp_id, question.strip(), check_constraints(values), user)
                    except HeadStartError as e:
                        st.error(str(e))
                    else:
                        st.rerun()


def _discussion(a, exp_id: str, d, user: str) -> None:
    """Comments and the sign-off (anyone who can see the record)."""
    c1, c2 = st.columns([3, 2])
    with c2:  # drawn first: the comment form below signs with this name too
        local = load_settings().mode == "local"
        name = st.text_input("Your name", value=user if user != "local" else "", disabled=not local,
                             key=f"decision_signer_{exp_id}",
                             help="Local mode has no accounts: write your name. Signed-in users comment and sign as "
                                  "themselves.").strip()
        answer = a.decision_answer["sentence"] if a.decision_answer else None
        if st.button("Sign off", key=f"decision_signoff_{exp_id}", disabled=not (name and answer),
                     help="Write your name first." if not name else None if answer else
                     "Nothing to sign yet: no finished runs satisfy or fail the constraints."):
            try:
                get_store().sign_off_decision(exp_id, name, {"sentence": answer, "recommendation":
                                                       a.recommendation.sentences if a.recommendation else []})
            except HeadStartError as e:  # e.g. a name holding a NUL character
                st.error(f"Not signed off: {plain(str(e))}")
            else:
                st.rerun()
        st.caption("Share this view with a signed-in teammate:")
        st.code(share_link(exp_id), language=None, wrap_lines=True)
    with c1.form(f"decision_comment_{exp_id}", clear_on_submit=True):
        body = st.text_area("Comment", placeholder="A reviewer's question, a caveat, what the team agreed…")
        nameless = not name and load_settings().mode == "local"  # local mode has no accounts: nobody to sign as
        if nameless:
            st.caption("Write your name under Your name first: a comment is signed with it.")
        if st.form_submit_button("Add comment", disabled=nameless) and body.strip():
            try:
                get_store().add_decision_comment(exp_id, name or user, body.strip())
            except HeadStartError as e:
                st.error(f"The comment was not added: {plain(str(e))}")
            else:
                st.rerun()
