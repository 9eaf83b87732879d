"""Transfer learning: bring images per class, train a head on a frozen backbone, fine-tune, evaluate, keep."""

from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

import explorer
from explorer import datasets, transfer
from explorer.images import SUPPORTED_TYPES
from ui.models import GEOMETRY_NOTE, model_select, title_of, user_models
from ui.photo import photo_input
from ui.runs import queued_run, stop_button
from ui.shell import require_shell

require_shell()

SOURCES = ("Upload per class", "Zip file", "Local folder", "Demo set")
STATE = st.session_state

st.title("Transfer learning")
st.markdown(
    "A network trained on ImageNet already knows edges, textures and object parts. Keep it **frozen**, "
    "run it **once** per image, and train only a small **head** on its output (the image's *embedding*): a new "
    "classifier in seconds, from a few dozen images per class. Then, optionally, **fine-tune** its last layers."
)


# ---------------------------------------------------------------- 1. Data
@st.cache_data(show_spinner="Making the demo set from the sample photos...")
def _demo_set():
    return datasets.demo_dataset(per_class=12)


def _decoded(upload):
    """Decode an upload once per session (keyed by its file id): an image, or the error text."""
    cache = STATE.setdefault("tl_decoded", {})
    key = getattr(upload, "file_id", None) or (upload.name, upload.size)
    if key not in cache:
        try:
            cache[key] = datasets.shrink(explorer.load_image(upload.getvalue()))
        except explorer.ImageError as exc:
            cache[key] = f"{upload.name}: {exc}"
    return cache[key]


def _per_class_uploads():
    """A name and a multi-file uploader per class; classes can be added and removed."""
    ids = STATE.setdefault("tl_class_ids", [0, 1])
    data, skipped = {}, []
    for position, cid in enumerate(list(ids)):
        with st.container(border=True):
            left, right = st.columns([4, 1], vertical_alignment="bottom")
            name = left.text_input("Class name", value=f"Class {position + 1}", key=f"tl_name_{cid}").strip()
            if right.button("Remove", key=f"tl_remove_{cid}", disabled=len(ids) <= 2, icon=":material/delete:"):
                ids.remove(cid)
                st.rerun()
            files = st.file_uploader(f"Images of {name or 'this class'}", type=list(SUPPORTED_TYPES),
                                     accept_multiple_files=True, key=f"tl_files_{cid}")
        if not name:
            st.error(f"Class {position + 1} needs a name.")
            return None, skipped
        if name in data:
            st.error(f"Two classes are called '{name}'. Give each class its own name.")
            return None, skipped
        images = []
        for upload in files or []:
            decoded = _decoded(upload)
            (skipped.append(decoded) if isinstance(decoded, str) else images.append(decoded))
        data[name] = images
    if st.button("Add a class", icon=":material/add:"):
        ids.append(max(ids) + 1)
        st.rerun()
    return data, skipped


def _zip_upload():
    upload = st.file_uploader("A zip whose top-level folders are the classes (cats/, dogs/...)", type=["zip"],
                              key="tl_zip")
    if upload is None:
        return None
    key = getattr(upload, "file_id", None) or (upload.name, upload.size)
    if STATE.get("tl_zip_key") != key:
        with st.spinner("Reading the zip..."):
            try:
                STATE["tl_zip_data"] = explorer.load_dataset(upload.getvalue())
            except explorer.DatasetError as exc:
                st.error(f"**{upload.name}**: {exc}", icon=":material/folder_off:")
                if STATE.get("tl_zip_data") is not None:
                    st.caption("Still using the images of the previous zip.")
                return STATE.get("tl_zip_data")
        STATE["tl_zip_key"] = key
    return STATE["tl_zip_data"]


def _local_folder():
    left, right = st.columns([4, 1], vertical_alignment="bottom")
    path = left.text_input("Folder on this computer, with one sub-folder per class",
                           placeholder="/home/me/pets (holding cats/ and dogs/)", key="tl_folder")
    if right.button("Load folder", disabled=not path.strip()):
        with st.spinner("Reading the images..."):
            try:
                STATE["tl_folder_data"] = explorer.load_dataset(path.strip())
            except explorer.DatasetError as exc:
                st.error(str(exc), icon=":material/folder_off:")
    return STATE.get("tl_folder_data")


def _choose_data():
    """(images per class or None, files skipped) from the chosen source."""
    source = st.segmented_control("Where are the images?", SOURCES, default=SOURCES[0], key="tl_source") or SOURCES[0]
    skipped: list[str] = []
    if source == "Upload per class":
        data, skipped = _per_class_uploads()
    elif source == "Zip file":
        data = _zip_upload()
    elif source == "Local folder":
        data = _local_folder()
    else:
        st.caption("Each class is one sample photo seen many ways (random crops, flips, colours): a quick way to "
                   "see every step. Real classes need real, varied photos.")
        data = _demo_set()
    if data is not None and hasattr(data, "skipped"):
        skipped = skipped + data.skipped
    return data, skipped


def _show_data(data, skipped) -> bool:
    """Counts, thumbnails and warnings; True when the data can train a classifier."""
    ready = bool(data) and len(data) >= 2 and all(len(v) > 0 for v in data.values())
    if data and any(data.values()):
        counts = {name: len(images) for name, images in data.items()}
        chart = go.Figure(go.Bar(x=list(counts), y=list(counts.values()), text=list(counts.values())))
        chart.update_layout(height=220, margin=dict(l=10, r=10, t=30, b=10), title="Images per class")
        st.plotly_chart(chart, width="stretch")
        for name, images in data.items():
            if images:
                st.caption(f"**{name}**: {len(images)} image(s)" + (", the first 8:" if len(images) > 8 else ""))
                st.image(images[:8], width=84)
        for warning in datasets.dataset_warnings(data):
            st.warning(warning, icon=":material/warning:")
    if skipped:
        with st.expander(f"{len(skipped)} file(s) skipped: not readable as images"):
            st.write("\n".join(f"- {s}" for s in skipped))
    if not ready:
        st.info("Give at least two classes, each with at least one image (a few dozen train well).")
    return ready


# ---------------------------------------------------------------- 2. Model
def _fine_tune_settings(backbone) -> dict:
    """The fine-tuning knobs (none when the toggle is off)."""
    off = {"fine_tune_layers": 0, "fine_tune_epochs": 0, "fine_tune_learning_rate": 1e-5}
    if not st.toggle("Then fine-tune the last layers of the backbone", key="tl_fine_tune") or backbone is None:
        return off
    a, b, c = st.columns(3)
    layers = a.slider("Layers to unfreeze (from the end)", 1, len(backbone.layers) - 1,
                      min(20, len(backbone.layers) - 1), key="tl_ft_layers")
    epochs = b.slider("Fine-tuning epochs", 1, 10, 3, key="tl_ft_epochs")
    rate = c.select_slider("Fine-tuning learning rate", [1e-6, 3e-6, 1e-5, 3e-5, 1e-4], value=1e-5,
                           format_func=lambda v: f"{v:g}", key="tl_ft_lr")
    st.caption(
        "Why so gentle: the head starts from what it just learned, but the unfrozen layers hold ImageNet knowledge. "
        "A large learning rate would wreck it in a few steps (and overfit a small set); a rate 10-100x lower "
        "nudges those layers towards your classes. Fine-tuning runs the backbone on every image in every epoch, "
        "so it is much slower than training the head. BatchNorm layers stay frozen."
    )
    return {"fine_tune_layers": layers, "fine_tune_epochs": epochs, "fine_tune_learning_rate": rate}


def _model_settings():
    """(backbone title, backbone or None, the keyword arguments of train_classifier)."""
    left, right = st.columns(2)
    with left:
        choice, backbone = model_select("Backbone (pretrained, frozen)", "tl_backbone", "mobilenet_v2",
                                        variants=transfer.BACKBONES, include_top=False)
        settings = dict(
            epochs=st.slider("Epochs", 1, 50, 10, key="tl_epochs"),
            batch_size=st.select_slider("Batch size", [4, 8, 16, 32, 64], value=16, key="tl_batch"),
            learning_rate=st.select_slider("Learning rate", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2], value=1e-3,
                                           format_func=lambda v: f"{v:g}", key="tl_lr"))
    with right:
        settings.update(
            dense_units=st.select_slider("Head: hidden dense units (0 = none)", [0, 32, 64, 128, 256], value=0,
                                         key="tl_units"),
            dropout=st.slider("Head: dropout", 0.0, 0.8, 0.2, 0.05, key="tl_dropout"),
            augment_copies=st.slider(
                "Augmentation: extra views per training image", 0, 4, 0, key="tl_copies",
                help="Each training image also goes through the backbone this many times flipped, rotated "
                     "(up to 10 degrees) and zoomed; their embeddings are cached too. More views: more robust, "
                     "slower embedding, same fast head training."),
            validation_split=st.slider("Validation share (held out, never trained on)", 0.0, 0.5, 0.2, 0.05,
                                       key="tl_val"))
    settings.update(_fine_tune_settings(backbone))
    return title_of(choice), backbone, settings


# ---------------------------------------------------------------- 3. Train
def curves(history: dict, fine_tune_start: int | None) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Loss", "Accuracy"))
    for col, metric in ((1, "loss"), (2, "accuracy")):
        for prefix, name, dash in (("", "train", "solid"), ("val_", "validation", "dot")):
            values = history.get(prefix + metric, [])
            fig.add_trace(go.Scatter(x=list(range(1, len(values) + 1)), y=values, name=name, mode="lines+markers",
                                     line=dict(dash=dash, color="#1f77b4" if prefix == "" else "#ff7f0e"),
                                     showlegend=col == 1), row=1, col=col)
        if fine_tune_start is not None:
            fig.add_vline(x=fine_tune_start + 0.5, line_dash="dash", line_color="gray", row=1, col=col)
    fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.25))
    return fig


def _model_name(data, backbone_title: str) -> str:
    name_default = " vs ".join(list(data)[:4]) if data else "My classifier"
    name_default = f"{name_default} ({backbone_title.split(' (')[0]})"
    return st.text_input("Name for the trained model", placeholder=name_default,
                         key="tl_model_name").strip() or name_default


def _train(data, backbone, settings: dict, model_name: str) -> None:
    """Train with live curves; the result is kept in the session and offered to the other pages."""
    progress = st.progress(0.0, text="Running the frozen backbone once per image...")
    chart_slot = st.empty()
    live: dict[str, list[float]] = {}

    def report(stage, step, total, metrics):
        if stage == "embeddings":
            progress.progress(step / max(total, 1), text=f"Running the backbone: {step} of {total} images")
            return
        for k, v in metrics.items():
            live.setdefault(k, []).append(v)
        label = "Fine-tuning" if stage == "fine_tune" else "Training the head"
        progress.progress(step / max(total, 1), text=f"{label}: epoch {step} of {total}")
        start = settings["epochs"] if stage == "fine_tune" else None
        chart_slot.plotly_chart(curves(live, start), width="stretch")

    stop = stop_button("tl_stop")
    try:
        with queued_run():
            result = transfer.train_classifier(data, backbone=backbone, seed=0, callback=report, **settings)
    except (explorer.DatasetError, explorer.ImageError, explorer.Cancelled, ValueError) as exc:
        stop.empty()
        progress.empty()
        st.error(f"Training stopped: {exc}", icon=":material/error:")
    else:
        stop.empty()
        progress.empty()
        chart_slot.empty()
        STATE["tl_result"] = result
        STATE["tl_result_name"] = model_name
        user_models()[model_name] = result.model


def _show_training(result) -> None:
    seconds = result.seconds
    st.plotly_chart(curves(result.history, result.fine_tune_start), width="stretch", key="tl_curves")
    st.caption(f"Backbone (embeddings) {seconds['embeddings']:.1f} s, head {seconds['head']:.1f} s"
               + (f", fine-tuning {seconds['fine_tune']:.1f} s" if result.fine_tune_start is not None else "")
               + f". {result.train_count} training images, {len(result.val_labels)} validation images."
               + (" The dashed line marks where fine-tuning began." if result.fine_tune_start is not None else ""))


# ---------------------------------------------------------------- 4. Evaluate
def _accuracy_charts(result) -> None:
    names = result.class_names
    cols = st.columns(3)
    cols[0].metric("Validation accuracy", f"{result.val_accuracy:.0%}")
    if len(names) >= 4:
        k = min(5, len(names) - 1)
        cols[1].metric(f"Top-{k} accuracy", f"{result.top_k_accuracy(k):.0%}",
                       help=f"The true class is among the model's {k} best guesses.")
    cols[2].metric("Chance level", f"{1 / len(names):.0%}")
    left, right = st.columns(2)
    shown = {n: v for n, v in result.per_class_accuracy().items() if v is not None}
    bars = go.Figure(go.Bar(x=list(shown), y=list(shown.values()), text=[f"{v:.0%}" for v in shown.values()]))
    bars.update_layout(title="Accuracy per class", yaxis=dict(range=[0, 1.05], tickformat=".0%"), height=360,
                       margin=dict(l=10, r=10, t=40, b=10))
    left.plotly_chart(bars, width="stretch", key="tl_per_class")
    matrix = px.imshow(result.confusion_matrix(), x=names, y=names, text_auto=True, color_continuous_scale="Blues",
                       labels=dict(x="predicted", y="true", color="images"), title="Confusion matrix")
    matrix.update_layout(height=360, margin=dict(l=10, r=10, t=40, b=10), coloraxis_showscale=False)
    right.plotly_chart(matrix, width="stretch", key="tl_confusion")


def _mistakes(result) -> None:
    wrong = result.misclassified()
    if not wrong:
        st.success("Every validation image is classified correctly.")
        return
    st.subheader(f"Misclassified ({len(wrong)})")
    shown_wrong = wrong[:24]
    st.image([w["image"] for w in shown_wrong], width=120,
             caption=[f"{w['true']} → said {w['predicted']} ({w['confidence']:.0%})" for w in shown_wrong])


def _evaluate(result) -> None:
    if result.val_accuracy is None:
        st.info("No validation images (validation share 0): the model was not tested on images it did not train on.")
        return
    _accuracy_charts(result)
    _mistakes(result)


def _try_a_photo(result) -> None:
    """A new photo through the trained model: the app's one prediction (explorer.predict)."""
    st.subheader("Try a new photo")
    photo, where = photo_input("tl_try", label="Photo to classify")
    left, right = st.columns([1, 2])
    left.image(photo, caption=where, width="stretch")
    left.caption(GEOMETRY_NOTE)
    ranked = transfer.classify(result.model, photo)
    guess = go.Figure(go.Bar(x=[p for _, p in ranked][::-1], y=[n for n, _ in ranked][::-1], orientation="h",
                             text=[f"{p:.0%}" for _, p in ranked][::-1]))
    guess.update_layout(xaxis=dict(range=[0, 1], tickformat=".0%"), height=80 + 30 * len(ranked),
                        margin=dict(l=10, r=10, t=30, b=10), title="What the model says")
    right.plotly_chart(guess, width="stretch", key="tl_guess")


# ---------------------------------------------------------------- 5. Keep
def _keep(result, name: str) -> None:
    st.markdown(f"The model is kept for this session as **{name}**: the Feature maps page and the "
                "*What the network sees* pages can open it. It takes 0..255 pixels and outputs class probabilities.")
    file_name = "".join(c if c.isalnum() else "_" for c in name).strip("_")[:60] or "classifier"
    st.download_button("Download as .keras", data=lambda: transfer.classifier_bytes(result.model),
                       file_name=f"{file_name}.keras", mime="application/octet-stream", on_click="ignore",
                       icon=":material/download:")
    st.caption("Reload it with `explorer.transfer.load_classifier(path)` (class names included) or "
               "`keras.saving.load_model(path)` after `import explorer`.")


st.header("1. Data")
data, skipped = _choose_data()
ready = _show_data(data, skipped)

st.header("2. Model")
backbone_title, backbone, settings = _model_settings()

st.header("3. Train")
model_name = _model_name(data, backbone_title)
if st.button("Train", type="primary", icon=":material/model_training:", disabled=not ready or backbone is None):
    _train(data, backbone, settings, model_name)
result = STATE.get("tl_result")
if result is None:
    st.caption("Nothing trained yet in this session.")
    st.stop()
_show_training(result)

st.header("4. Evaluate")
_evaluate(result)
_try_a_photo(result)

st.header("5. Keep")
_keep(result, STATE["tl_result_name"])
