"""Class mode's sections (pages/class.py stays a thin list of calls).

Who is who comes from the link, so a restart or another browser reopens the same view:
``?join=CODE`` (the QR code: a student types a name), ``?code=CODE&student=TOKEN`` (that student) and
``?code=CODE&teacher=TOKEN`` (the teacher: private). Nicknames, labels and titles are untrusted text
from children's phones: they are shown only through ``st.text`` or :func:`plain` (Markdown escaped),
never inside HTML.
"""

from __future__ import annotations

import html
import io
import re

import plotly.express as px
import plotly.graph_objects as go
import segno
import streamlit as st
from plotly.subplots import make_subplots

import explorer
from explorer import serving
from explorer.classroom import ClassStore, LimitReached, StoreBusy, normalise_code
from explorer.classroom import training as class_training
from explorer.data.images import SUPPORTED_TYPES
from explorer.transfer import classify
from ui import links, present
from ui.models import user_models
from ui.phone_export import model_downloads
from ui.runs import watch

WALL_SIZE = 48  # newest photos on the projector's wall
REFRESH_S = 2
STATE = st.session_state
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def plain(text) -> str:
    """Untrusted text made safe for Markdown: every Markdown character escaped (no links, no images)."""
    return _MARKDOWN.sub(r"\\\1", str(text))


@st.cache_resource(show_spinner=False)
def class_store() -> ClassStore:
    """The server's one class store (SQLite file or PostgreSQL, see :func:`explorer.classroom.configured_url`)."""
    return ClassStore()


def base_url() -> str:
    """This app's address for students' phones (the join link in the QR code): as the browser sees it, with
    the server's network address when the teacher opened it as ``localhost`` (:func:`ui.links.shareable`)."""
    url, _ = links.shareable(st.context.url or "")
    match = re.match(r"^(https?://[^/?#]+)(/[^?#]*)?", url)
    if not match:
        return ""
    path = (match.group(2) or "/").rstrip("/")
    path = path[: -len("/class")] if path.endswith("/class") else path
    return match.group(1) + path


def qr_png(text: str) -> bytes:
    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="png", scale=10, border=2)
    return out.getvalue()


IDENTITY = "class_identity"


def role() -> tuple[str, str | None, str | None]:
    """("teacher" | "student" | "join" | "start", code, token) from the link. The identity is also kept
    for the session, so coming back from another page (whose link drops these parameters) reopens it."""
    params = st.query_params
    if not any(params.get(name) for name in ("join", "code")) and STATE.get(IDENTITY):
        params.from_dict({**STATE[IDENTITY], **({"present": params["present"]} if params.get("present") else {})})
    if params.get("code") and (params.get("teacher") or params.get("student")):
        STATE[IDENTITY] = {name: params[name] for name in ("code", "teacher", "student") if params.get(name)}
    if params.get("join"):
        return "join", normalise_code(params["join"]), None
    code = params.get("code")
    if code and params.get("teacher"):
        return "teacher", normalise_code(code), params["teacher"]
    if code and params.get("student"):
        return "student", normalise_code(code), params["student"]
    return "start", None, None


def _friendly(action):
    """Run ``action()``; store errors become a message on the page (None then)."""
    try:
        return action()
    except LimitReached as exc:
        st.warning(str(exc), icon=":material/block:")
    except PermissionError as exc:
        st.error(str(exc), icon=":material/lock:")
    except LookupError as exc:
        st.error(str(exc), icon=":material/search_off:")
    except StoreBusy as exc:
        st.warning(str(exc), icon=":material/hourglass_top:")
    except ValueError as exc:
        st.error(str(exc), icon=":material/error:")
    return None


# ---------------------------------------------------------------- start / join
def start_or_join() -> None:
    st.title("Class mode")
    st.markdown("The whole class builds **one dataset** from their phones; the teacher trains one network on it, "
                "live. Photos are kept on this server for the class only, and deleted when the class ends.")
    left, right = st.columns(2)
    with left.container(border=True):
        st.subheader("Start a class (teacher)")
        labels = st.text_input("Labels, separated by commas", value="cat, dog", key="class_labels")
        title = st.text_input("Title (optional)", key="class_title")
        if st.button("Start a class", type="primary", icon=":material/school:"):
            created = _friendly(lambda: class_store().create_class([p.strip() for p in labels.split(",")], title))
            if created is not None:
                st.query_params.from_dict({"code": created.code, "teacher": created.teacher_token})
                st.rerun()
    with right.container(border=True):
        st.subheader("Join a class (student)")
        code = st.text_input("Class code", max_chars=8, key="class_code_typed", placeholder="e.g. KDHRTA")
        if st.button("Join", icon=":material/login:"):
            if _friendly(lambda: class_store().class_info(code)) is not None:
                st.query_params.from_dict({"join": normalise_code(code)})
                st.rerun()


def join(code: str) -> None:
    info = _friendly(lambda: class_store().class_info(code))
    if info is None:
        return
    st.title(f"Join class {code}")
    if info.title:
        st.text(info.title)
    name = st.text_input("Your name", max_chars=30, placeholder="a nickname is fine", key="class_nickname")
    st.caption("No account and no email: just a name your teacher will recognise.")
    if st.button("Join the class", type="primary", icon=":material/login:"):
        token = _friendly(lambda: class_store().join(code, name))
        if token is not None:
            st.query_params.from_dict({"code": code, "student": token})  # the link is the student's identity
            st.rerun()


def leave_button() -> None:
    st.divider()
    if st.button("Leave (start or join another class)", icon=":material/logout:", key="class_leave"):
        STATE.pop(IDENTITY, None)
        st.query_params.clear()
        st.rerun()


# ---------------------------------------------------------------- teacher
def teacher(code: str, token: str) -> bool:
    """The teacher's projector view; False when the link is wrong."""
    store = class_store()
    if not _friendly(lambda: store.check_teacher(code, token) or True):
        return False
    info = store.class_info(code)
    st.title(f"Class {code}" + (f": {plain(info.title)}" if info.title else ""))
    st.warning("This page's link is the teacher's key to the class: keep it private (do not project the address "
               "bar). Bookmark it to reopen the class after a restart, on any browser.", icon=":material/key:")
    projector(code)
    wall(code, token)
    return True


def projector(code: str) -> None:
    link = f"{base_url()}/class?join={code}"
    qr, text = st.columns([1, 2])
    qr.image(qr_png(link), width=present.px(260), caption="Scan to join")
    with text:
        st.markdown(f"## Join code: `{code}`")
        st.markdown(f"Open **{plain(link)}** on your phone, or scan the QR code, and type your name.")
        if not links.shareable(st.context.url or "")[1]:
            st.caption("This address names this computer only (localhost), and the server has no address on the "
                       "classroom network: phones cannot open it. Start the server on the network and open "
                       "this page by its network address.")
        st.caption("On plain HTTP, phones cannot open the live camera: use the upload button's **take photo**. "
                   "See deploy/README.md for HTTPS.")


@st.fragment(run_every=REFRESH_S)
def wall(code: str, token: str) -> None:
    """Counts per label and the newest photos, refreshed every few seconds without a page reload."""
    store = class_store()
    try:
        counts = store.counts(code)
        records = store.photos(code, newest_first=True)
    except LookupError:
        st.info("This class has ended.")
        return
    columns = st.columns(len(counts) + 1)
    for column, (label, count) in zip(columns, counts.items()):
        column.metric(plain(label), count)
    columns[-1].metric("All photos", len(records))
    st.caption("Photos appear here within seconds. **Hide** takes a photo out of the dataset (it can be shown again).")
    shown = records[:WALL_SIZE]
    per_row = 8
    for start in range(0, len(shown), per_row):
        cells = st.columns(per_row)
        for cell, record in zip(cells, shown[start:start + per_row]):
            with cell:
                st.image(store.thumbnail(code, record.id), width="stretch")
                st.text(f"{record.nickname} · {record.label}" + (" (hidden)" if record.hidden else ""))
                st.button("Show" if record.hidden else "Hide", key=f"class_hide_{record.id}",
                          icon=":material/visibility:" if record.hidden else ":material/visibility_off:",
                          on_click=_hide, args=(code, token, record.id, not record.hidden))
    if len(records) > WALL_SIZE:
        st.caption(f"The newest {WALL_SIZE} of {len(records)} photos.")


def _hide(code: str, token: str, photo_id: int, hidden: bool) -> None:
    """Button callback: runs before the rerun, so the wall already shows the change."""
    _friendly(lambda: class_store().hide_photo(code, token, photo_id, hidden=hidden))


def _remove(code: str, token: str, photo_id: int) -> None:
    _friendly(lambda: class_store().remove_photo(code, token, photo_id))


def curves(history: dict) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Loss (lower is better)", "Accuracy"))
    for col, metric in ((1, "loss"), (2, "accuracy")):
        for prefix, name, color in (("", "training photos", "#1f77b4"), ("val_", "held-out photos", "#ff7f0e")):
            values = history.get(prefix + metric, [])
            fig.add_trace(go.Scatter(x=list(range(1, len(values) + 1)), y=values, name=name, mode="lines+markers",
                                     line=dict(color=color, dash="solid" if not prefix else "dot"),
                                     showlegend=col == 1), row=1, col=col)
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", row=1, col=2)
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.3))
    return present.style_figure(fig, height=340)


def train_section(code: str, token: str) -> None:
    st.header("Train the class model")
    store = class_store()
    counts = store.counts(code)
    ready = all(n >= class_training.MIN_PER_LABEL for n in counts.values())
    st.caption("Trains on every visible photo. Each photo's embedding was computed when it arrived, so training "
               "is one fit of the small head: seconds.")
    if not ready:
        st.info(f"Every label needs at least {class_training.MIN_PER_LABEL} photos first.")
    stop, progress = st.empty(), st.empty()
    if st.button("Train the class model", type="primary", disabled=not ready, icon=":material/model_training:"):
        def work(publish, cancel):
            steps = iter(range(1, 10**6))
            return class_training.train_class(store, code, token, callback=lambda stage, step, total, metrics: publish(
                next(steps), None, {"stage": stage, "step": step, "total": total}))

        def draw(snap):
            metrics = snap.metrics or {}
            if metrics.get("total"):
                progress.progress(min(1.0, metrics["step"] / metrics["total"]),
                                  text=f"Training the head: epoch {metrics['step']} of {metrics['total']}")

        subscription = serving.submit(None, work, persist=False)
        [done] = watch(subscription, draw, key="class_train_outcome", place=stop)
        progress.empty()
        if done.error is not None:
            st.error(f"Training stopped: {done.error}", icon=":material/error:")
        else:
            STATE[f"class_result_{code}"] = done.result
    results(code)


def results(code: str) -> None:
    stored = class_store().latest_model(code)
    if stored is None:
        return
    report = stored.report
    model = class_training.open_model(code, stored)
    user_models()[f"Class {code} v{stored.version}"] = model  # Feature maps and Adversarial can open it
    accuracy = report.get("val_accuracy")
    st.subheader(f"Class model, version {stored.version}")
    cols = st.columns(3)
    cols[0].metric("Validation accuracy", "n/a" if accuracy is None else f"{accuracy:.0%}")
    cols[1].metric("Photos", report.get("photos", 0))
    cols[2].metric("Head training", f"{report.get('seconds', {}).get('head', 0):.1f} s")
    st.plotly_chart(curves(report.get("history", {})), width="stretch", key="class_curves")
    names = report["class_names"]
    shown = [html.escape(name) for name in names]  # plotly reads tags (<a>, <b>) in axis labels
    matrix = px.imshow(report["confusion"], x=shown, y=shown, text_auto=True, color_continuous_scale="Blues",
                       labels=dict(x="predicted", y="true", color="photos"), title="Confusion matrix")
    matrix.update_layout(margin=dict(l=10, r=10, t=40, b=10), coloraxis_showscale=False)
    present.plotly_chart(matrix, height=340, width="stretch", key="class_confusion")
    fresh = STATE.get(f"class_result_{code}")
    if fresh is not None and fresh.result.class_names == names:
        wrong = fresh.result.misclassified()[:24]
        if wrong:
            st.subheader(f"Misclassified ({len(wrong)})")
            st.image([w["image"] for w in wrong], width=present.px(120),
                     caption=[f"{w['true']}, said {w['predicted']} ({w['confidence']:.0%})" for w in wrong])
    st.caption(f"Open it on *Feature maps* or *Adversarial example* as \u201cYours: Class {code} v{stored.version}\u201d.")
    model_downloads(model, f"class_{code}_v{stored.version}", key="class")


def end_section(code: str, token: str) -> None:
    st.header("Keep or end")
    store = class_store()
    st.download_button("Download the class dataset (zip)", data=lambda: store.export_zip(code, token),
                       file_name=f"class-{code}.zip", mime="application/zip", on_click="ignore",
                       icon=":material/download:")
    sure = st.checkbox("Yes, delete every photo of this class now", key="class_end_sure")
    if st.button("End the class and delete its photos", disabled=not sure, icon=":material/delete_forever:"):
        if _friendly(lambda: store.delete_class(code, token) or True):
            STATE.pop(IDENTITY, None)
            st.query_params.clear()
            st.success("The class has ended: its photos, names and models are deleted.")


# ---------------------------------------------------------------- student
def student(code: str, token: str) -> None:
    store = class_store()
    nickname = _friendly(lambda: store.nickname(code, token))
    if nickname is None:
        return
    info = store.class_info(code)
    st.title(f"Class {code}")
    st.text(f"You are {nickname}")
    add_photo(code, token, info.labels)
    my_photos(code, token)
    try_model(code)


def add_photo(code: str, token: str, labels) -> None:
    label = st.radio("What is in your photo?", list(labels), horizontal=True, format_func=plain, key="class_label")
    round_ = STATE.setdefault("class_upload_round", 0)
    upload = st.file_uploader("Take or choose a photo", type=list(SUPPORTED_TYPES), key=f"class_upload_{round_}",
                              help="On a phone this offers the camera (\u201ctake photo\u201d).")
    with st.expander("Live camera (needs HTTPS)"):
        camera = st.camera_input("Camera", key=f"class_camera_{round_}", label_visibility="collapsed")
    chosen = upload or camera
    if st.button("Add photo", type="primary", disabled=chosen is None, icon=":material/add_a_photo:"):
        photo_id = _friendly(lambda: class_store().add_photo(code, token, label, chosen.getvalue()))
        if photo_id is not None:
            STATE["class_upload_round"] = round_ + 1  # a fresh uploader for the next photo
            STATE["class_added"] = label
            st.rerun()
    if STATE.get("class_added"):
        st.success(f"Added ({plain(STATE.pop('class_added'))}).", icon=":material/check_circle:")


def my_photos(code: str, token: str) -> None:
    store = class_store()
    mine = store.photos(code, token=token, newest_first=True)
    st.subheader(f"Your photos: {len(mine)}")
    per_row = 3
    for start in range(0, len(mine), per_row):
        cells = st.columns(per_row)
        for cell, record in zip(cells, mine[start:start + per_row]):
            with cell:
                st.image(store.thumbnail(code, record.id), width=present.px(110))  # small on a phone too
                st.text(record.label + (" (hidden by teacher)" if record.hidden else ""))
                st.button("Remove", key=f"class_remove_{record.id}", icon=":material/delete:",
                          on_click=_remove, args=(code, token, record.id))


def try_model(code: str) -> None:
    stored = class_store().latest_model(code)
    if stored is None:
        st.caption("When your teacher has trained the class model, you can try it here.")
        return
    st.subheader("Try the class model")
    photo = st.file_uploader("A new photo", type=list(SUPPORTED_TYPES), key="class_try")
    if photo is None:
        return
    try:
        image = explorer.load_image(photo.getvalue())
    except explorer.ImageError as exc:
        st.error(str(exc))
        return
    model = class_training.open_model(code, stored)
    user_models()[f"Class {code} v{stored.version}"] = model  # Feature maps and Adversarial can open it
    ranked = classify(model, image)
    best, p = ranked[0]
    st.image(image, width=present.px(240))
    st.markdown(f"### The class model says: **{plain(best)}** ({p:.0%})")
