"""Transfer learning: bring images per class, train a head on a frozen backbone, fine-tune, evaluate, keep."""

from __future__ import annotations

from dataclasses import dataclass

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

import explorer
from explorer.data import datasets
from explorer import transfer
from explorer.transfer import shared as transfer_shared
from explorer.data.images import SUPPORTED_TYPES
from explorer.data.samples import SAMPLES
from ui import links, present
from ui.capture import class_capture
from ui.models import GEOMETRY_NOTE, model_select, title_of, user_models
from ui.phone_export import model_downloads
from ui.photo import photo_input, sample_param, wrap_choices
from ui.runs import watch
from ui.shell import require_shell

require_shell()

UPLOAD, WEBCAM, ZIP, FOLDER, DEMO = "Upload per class", "Webcam, class by class", "Zip file", "Local folder", "Demo set"
SOURCES = (UPLOAD, WEBCAM, ZIP, FOLDER, DEMO)
HELD_OUT, OTHER = "A held-out photo", "Sample, upload or camera"
BATCHES = [4, 8, 16, 32, 64]
RATES = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]
FT_RATES = [1e-6, 3e-6, 1e-5, 3e-5, 1e-4]
UNITS = [0, 32, 64, 128, 256]
DROPOUTS = [round(0.05 * i, 2) for i in range(17)]
VAL_SHARES = [round(0.05 * i, 2) for i in range(11)]
STATE = st.session_state

#: Every control of the page, mirrored into its URL (a teacher's lesson link).
PARAMS = [
    links.choice("tl_source", "data", SOURCES),
    links.choice("tl_backbone", "backbone", list(transfer.BACKBONES)),
    links.number("tl_epochs", "epochs", 1, 50, cast=int),
    links.flag("tl_fine_tune", "fine_tune"),
    links.number("tl_batch", "batch", 4, 64, cast=int, options=BATCHES),
    links.number("tl_lr", "rate", 1e-4, 1e-2, options=RATES),
    links.number("tl_units", "head_units", 0, 256, cast=int, options=UNITS),
    links.number("tl_dropout", "dropout", 0, 0.8, options=DROPOUTS),
    links.number("tl_copies", "views", 0, 4, cast=int),
    links.number("tl_val", "validation", 0, 0.5, options=VAL_SHARES),
    links.number("tl_ft_layers", "ft_layers", 1, 1000, cast=int),
    links.number("tl_ft_epochs", "ft_epochs", 1, 10, cast=int),
    links.number("tl_ft_lr", "ft_rate", 1e-6, 1e-4, options=FT_RATES),
    links.choice("tl_try_from", "try", (HELD_OUT, OTHER)),
    sample_param("tl_try", "photo"),
]
DEFAULTS = {"tl_source": UPLOAD, "tl_epochs": 10, "tl_fine_tune": False, "tl_batch": 16, "tl_lr": 1e-3,
            "tl_units": 0, "tl_dropout": 0.2, "tl_copies": 0, "tl_val": 0.2, "tl_ft_epochs": 3, "tl_ft_lr": 1e-5,
            "tl_try_from": HELD_OUT}


def plain_rate(value: float) -> str:
    """A learning rate as a plain decimal ("0.00001"), never "1e-05"."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _intro() -> None:
    st.title("Transfer learning")
    st.markdown(
        "A network trained on ImageNet already knows edges, textures and object parts. Keep it **frozen**, run it "
        "**once** per image, and train only a small **head** on its output (the image's *embedding*): a new "
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
    """A name and a multi-file uploader per class, two classes per row; classes can be added and removed."""
    ids = STATE.setdefault("tl_class_ids", [0, 1])
    data, skipped, columns = {}, [], st.columns(2)
    for position, cid in enumerate(list(ids)):
        with columns[position % 2].container(border=True):
            name = st.text_input("Class name", value=f"Class {position + 1}", key=f"tl_name_{cid}").strip()
            files = st.file_uploader(f"Images of {name or 'this class'}", type=list(SUPPORTED_TYPES),
                                     accept_multiple_files=True, key=f"tl_files_{cid}")
            if st.button("Remove class", key=f"tl_remove_{cid}", disabled=len(ids) <= 2, icon=":material/delete:"):
                ids.remove(cid)
                st.rerun()
        if not name:
            st.error(f"Class {position + 1} needs a name.")
            return None, skipped
        if name in data:
            st.error(f"Two classes are called '{name}'. Give each class its own name.")
            return None, skipped
        images = []
        for upload in files or []:
            decoded = _decoded(upload)
            # A statement, not a bare expression: Streamlit "magic" printed its value, None, per upload.
            if isinstance(decoded, str):
                skipped.append(decoded)
            else:
                images.append(decoded)
        data[name] = images
    if st.button("Add a class", icon=":material/add:"):
        ids.append(max(ids) + 1)
        st.rerun()
    return data, skipped


def _webcam():
    data, error = class_capture("tl_cam")
    if error:
        st.error(error)
    return data


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
    """(source, images per class or None, files skipped) from the chosen source."""
    links.default("tl_source", DEFAULTS["tl_source"])
    wrap_choices("tl_source")
    source = st.segmented_control("Where are the images?", SOURCES, key="tl_source") or UPLOAD
    skipped: list[str] = []
    if source == UPLOAD:
        data, skipped = _per_class_uploads()
    elif source == WEBCAM:
        data = _webcam()
    elif source == ZIP:
        data = _zip_upload()
    elif source == FOLDER:
        data = _local_folder()
    else:
        st.caption("Each class is one sample photo seen many ways (random crops, flips, colours): a quick way to "
                   "see every step. Real classes need real, varied photos.")
        data = _demo_set()
    if data is not None and hasattr(data, "skipped"):
        skipped = skipped + data.skipped
    return source, data, skipped


def _show_data(data, skipped) -> bool:
    """Counts, thumbnails and warnings; True when the data can train a classifier."""
    ready = bool(data) and len(data) >= 2 and all(len(v) > 0 for v in data.values())
    if data and any(data.values()):
        counts = {name: len(images) for name, images in data.items()}
        chart_col, thumbs_col = st.columns([1, 2])
        chart = go.Figure(go.Bar(x=list(counts), y=list(counts.values()), text=list(counts.values())))
        chart.update_layout(margin=dict(l=10, r=10, t=40, b=10), title="Images per class")
        with chart_col:
            present.plotly_chart(chart, height=240, width="stretch")
        with thumbs_col:
            for name, images in data.items():
                if images:
                    st.caption(f"**{name}**: {len(images)} image(s)" + (", the first 8:" if len(images) > 8 else ""))
                    st.image(images[:8], width=present.px(56))
        for warning in datasets.dataset_warnings(data):
            st.warning(warning, icon=":material/warning:")
    if skipped:
        with st.expander(f"{len(skipped)} file(s) skipped: not readable as images"):
            st.write("\n".join(f"- {s}" for s in skipped))
    if not ready:
        st.info("Give at least two classes, each with at least one image (a few dozen train well).")
    return ready


# ---------------------------------------------------------------- 2. Train: controls beside the live curves
@dataclass
class Slots:
    """Where a run draws: progress and Stop under the Train button, curves in the right-hand column."""

    progress: object
    stop: object
    chart: object


def _fine_tune_settings(backbone) -> dict:
    """The fine-tuning knobs (none when the toggle is off)."""
    off = {"fine_tune_layers": 0, "fine_tune_epochs": 0, "fine_tune_learning_rate": 1e-5}
    if not STATE.get("tl_fine_tune") or backbone is None:
        return off
    most = len(backbone.layers) - 1
    links.default("tl_ft_layers", min(20, most))
    STATE["tl_ft_layers"] = min(STATE["tl_ft_layers"], most)  # a link may ask for more layers than this backbone has
    layers = st.slider("Fine-tune: layers to unfreeze (from the end)", 1, most, key="tl_ft_layers")
    epochs = st.slider("Fine-tune: epochs", 1, 10, key="tl_ft_epochs")
    rate = st.select_slider("Fine-tune: learning rate", FT_RATES, format_func=plain_rate, key="tl_ft_lr")
    st.caption(
        "Why so gentle: the head starts from what it just learned, but the unfrozen layers hold ImageNet knowledge. "
        "A large learning rate would wreck it in a few steps (and overfit a small set); a rate 10 to 100 times "
        "lower nudges those layers towards your classes. Fine-tuning runs the backbone on every image in every "
        "epoch, so it is much slower than training the head. BatchNorm layers stay frozen."
    )
    return {"fine_tune_layers": layers, "fine_tune_epochs": epochs, "fine_tune_learning_rate": rate}


def _more_settings(backbone, data, backbone_title: str) -> tuple[dict, str]:
    """Everything but the backbone and epochs, folded away: (train_classifier keyword arguments, model name)."""
    with st.expander("More settings", icon=":material/tune:"):
        settings = dict(
            batch_size=st.select_slider("Batch size", BATCHES, key="tl_batch"),
            learning_rate=st.select_slider("Learning rate", RATES, format_func=plain_rate, key="tl_lr"),
            dense_units=st.select_slider("Head: hidden dense units (0 = none)", UNITS, key="tl_units"),
            dropout=st.select_slider("Head: dropout", DROPOUTS, key="tl_dropout"),
            augment_copies=st.slider(
                "Augmentation: extra views per training image", 0, 4, key="tl_copies",
                help="Each training image also goes through the backbone this many times flipped, rotated "
                     "(up to 10 degrees) and zoomed; their embeddings are cached too. More views: more robust, "
                     "slower embedding, same fast head training."),
            validation_split=st.select_slider("Validation share (held out, never trained on)", VAL_SHARES,
                                              format_func=lambda v: f"{v:.0%}", key="tl_val"))
        settings.update(_fine_tune_settings(backbone))
        name = _model_name(data, backbone_title)
    return settings, name


def _model_name(data, backbone_title: str) -> str:
    name_default = " vs ".join(list(data)[:4]) if data else "My classifier"
    name_default = f"{name_default} ({backbone_title.split(' (')[0]})"
    return st.text_input("Name for the trained model", placeholder=name_default,
                         key="tl_model_name").strip() or name_default


def _train_controls(data, ready: bool):
    """The control column: backbone, epochs, fine-tune, the Train button high up, then the folded settings.
    Returns (clicked, backbone, settings, model name, slots, the share link's place); the curves column is
    the slots' chart."""
    controls, chart_col = st.columns([5, 6])  # wide enough for the backbone's full name when presenting
    with controls:
        choice, backbone = model_select("Backbone (pretrained, frozen)", "tl_backbone", "mobilenet_v2",
                                        variants=transfer.BACKBONES, include_top=False)
        epochs = st.slider("Epochs (passes over the training images)", 1, 50, key="tl_epochs")
        st.toggle("Then fine-tune the backbone", key="tl_fine_tune",
                  help="After the head, also train the backbone's last layers, gently (see More settings).")
        clicked = st.button("Train", type="primary", icon=":material/model_training:",
                            disabled=not ready or backbone is None, width="stretch")
        slots = Slots(progress=st.empty(), stop=st.container(), chart=chart_col.empty())
        settings, name = _more_settings(backbone, data, title_of(choice))
        share = st.empty()  # filled at the end of the run, when every control has its value
    settings["epochs"] = epochs
    return clicked, backbone, settings, name, slots, share


def curves(history: dict, fine_tune_start: int | None) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Loss (lower is better)", "Accuracy"))
    for col, metric in ((1, "loss"), (2, "accuracy")):
        for prefix, name, dash in (("", "training images", "solid"), ("val_", "held-out images", "dot")):
            values = history.get(prefix + metric, [])
            fig.add_trace(go.Scatter(x=list(range(1, len(values) + 1)), y=values, name=name, mode="lines+markers",
                                     line=dict(dash=dash, color="#1f77b4" if prefix == "" else "#ff7f0e"),
                                     showlegend=col == 1), row=1, col=col)
        if fine_tune_start is not None:
            fig.add_vline(x=fine_tune_start + 0.5, line_dash="dash", line_color="gray", row=1, col=col)
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", row=1, col=2)
    fig.update_xaxes(title_text="epoch", rangemode="tozero")
    fig.update_layout(margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.3))
    return present.style_figure(fig, height=380)


def _train(data, backbone, settings: dict, model_name: str, source: str, slots: Slots) -> None:
    """Train with live curves beside the button (computed once for the class: joined or replayed when
    someone trained on the same images with the same settings); the result is kept in the session and
    offered to the other pages. The result is shared: its model is only used, never trained further."""
    embedding = "Running the frozen backbone once per image..."
    slots.progress.progress(0.0, text=embedding)
    def draw(snap):
        latest, live = transfer_shared.progress(snap)
        stage, step, total = latest.get("stage"), latest.get("step", 0), max(latest.get("total", 1), 1)
        if stage is None:
            slots.progress.progress(0.0, text=embedding)
        elif stage == "embeddings":
            slots.progress.progress(step / total, text=f"Running the backbone: {step} of {total} images")
        else:
            label = "Fine-tuning" if stage == "fine_tune" else "Training the head"
            slots.progress.progress(step / total, text=f"{label}: epoch {step} of {total}")
        points = len(live.get("loss", []))
        if points:  # a student who joins gets every epoch so far at once
            start = settings["epochs"] if points > settings["epochs"] else None
            slots.chart.plotly_chart(curves(live, start), width="stretch", key=f"tl_live_{snap.step}")

    try:
        subscription = transfer_shared.train(data, backbone, seed=0, **settings)
    except (explorer.DatasetError, explorer.ImageError, ValueError, TypeError) as exc:
        slots.progress.error(f"Training stopped: {exc}", icon=":material/error:")
        return
    [done] = watch(subscription, draw, key="tl_outcome", place=slots.stop)
    if done.error is not None:
        slots.progress.error(f"Training stopped: {done.error}", icon=":material/error:")
        return
    slots.progress.empty()
    STATE["tl_result"] = done.result
    STATE["tl_result_name"] = model_name
    STATE["tl_result_source"] = source
    STATE["tl_result_shared"] = done.note
    user_models()[model_name] = done.result.model  # shared by every session that trained the same: never changed


def _show_training(result) -> None:
    seconds = result.seconds
    st.plotly_chart(curves(result.history, result.fine_tune_start), width="stretch", key="tl_curves")
    shared = STATE.get("tl_result_shared")
    st.caption(f"{result.train_count} training images, {len(result.val_labels)} held-out images. "
               + ("The dashed line marks where fine-tuning began. " if result.fine_tune_start is not None else "")
               + f"Backbone (embeddings) {seconds['embeddings']:.1f} s, head {seconds['head']:.1f} s"
               + (f", fine-tuning {seconds['fine_tune']:.1f} s" if result.fine_tune_start is not None else "")
               + (" (when it was computed). " + shared if shared else "."))


def _curves_placeholder() -> None:
    st.plotly_chart(curves({}, None), width="stretch", key="tl_curves_empty")
    st.caption("Press **Train**: the loss and accuracy curves grow here, one point per epoch.")


# ---------------------------------------------------------------- 3. Evaluate
def _accuracy_charts(result) -> None:
    names = result.class_names
    cols = st.columns(3)
    cols[0].metric("Validation accuracy", f"{result.val_accuracy:.0%}",
                   help="On the held-out images: photos the model never trained on.")
    if len(names) >= 4:
        k = min(5, len(names) - 1)
        cols[1].metric(f"Top-{k} accuracy", f"{result.top_k_accuracy(k):.0%}",
                       help=f"The true class is among the model's {k} best guesses.")
    cols[2].metric("Chance level", f"{1 / len(names):.0%}")
    left, right = st.columns(2)
    shown = {n: v for n, v in result.per_class_accuracy().items() if v is not None}
    bars = go.Figure(go.Bar(x=list(shown), y=list(shown.values()), text=[f"{v:.0%}" for v in shown.values()]))
    bars.update_layout(title="Accuracy per class", yaxis=dict(range=[0, 1.05], tickformat=".0%"),
                       margin=dict(l=10, r=10, t=40, b=10))
    with left:
        present.plotly_chart(bars, height=360, width="stretch", key="tl_per_class")
    matrix = px.imshow(result.confusion_matrix(), x=names, y=names, text_auto=True, color_continuous_scale="Blues",
                       labels=dict(x="predicted", y="true", color="images"), title="Confusion matrix")
    matrix.update_layout(margin=dict(l=10, r=10, t=40, b=10), coloraxis_showscale=False)
    with right:
        present.plotly_chart(matrix, height=360, width="stretch", key="tl_confusion")


def _mistakes(result) -> None:
    wrong = result.misclassified()
    if not wrong:
        st.success("Every held-out image is classified correctly.")
        return
    st.subheader(f"Misclassified ({len(wrong)})")
    shown_wrong = wrong[:24]
    st.image([w["image"] for w in shown_wrong], width=present.px(120),
             caption=[f"{w['true']}, said {w['predicted']} ({w['confidence']:.0%})" for w in shown_wrong])


def _evaluate(result) -> None:
    if result.val_accuracy is None:
        st.info("No held-out images (validation share 0%): the model was not tested on images it did not train on.")
        return
    _accuracy_charts(result)
    _mistakes(result)


# ---------------------------------------------------------------- 4. Try a new photo
def _held_out_photo(result):
    """A held-out (validation) image the model never trained on: (image, caption, note)."""
    names = result.class_names
    labels = list(result.val_labels)
    index = st.selectbox("Held-out photo", range(len(labels)), key="tl_try_index",
                         format_func=lambda i: f"Photo {i + 1} of {len(labels)} (class: {names[labels[i]]})")
    note = "This photo was held out for validation: the model never trained on it."
    if STATE.get("tl_result_source") == DEMO:
        note += (" (The demo set makes each class from one sample photo, so it is a new view of a photo the model "
                 "has seen: for a real test, train on your own photos.)")
    return result.val_images[index], f"held out, class: {names[labels[index]]}", note


def _other_photo(result):
    photo, where = photo_input("tl_try", label="Photo to classify")
    demo_sample = STATE.get("tl_result_source") == DEMO and where.startswith("sample: ") \
        and where.removeprefix("sample: ") in SAMPLES
    note = ("The demo set was made from this sample photo, so the model trained on views of it." if demo_sample
            else "New to the model unless you put this very photo in its training images.")
    return photo, where, note


def _try_a_photo(result) -> None:
    """A new photo through the trained model: the app's one prediction (explorer.predict)."""
    st.header("4. Try a new photo")
    has_held_out = result.val_images is not None and len(result.val_images) > 0
    links.default("tl_try_from", HELD_OUT)
    options = (HELD_OUT, OTHER) if has_held_out else (OTHER,)
    if STATE["tl_try_from"] not in options:
        STATE["tl_try_from"] = OTHER
    left, right = st.columns([1, 2])
    with left:
        wrap_choices("tl_try_from")
        source = st.segmented_control("Photo", options, key="tl_try_from") or options[0]
        photo, where, note = (_held_out_photo if source == HELD_OUT else _other_photo)(result)
        st.image(photo, caption=where, width="stretch")
        st.caption(note)
        with present.details("How the photo is fed to the model"):
            st.caption(GEOMETRY_NOTE)
    ranked = transfer.classify(result.model, photo)
    guess = go.Figure(go.Bar(x=[p for _, p in ranked][::-1], y=[n for n, _ in ranked][::-1], orientation="h",
                             text=[f"{p:.0%}" for _, p in ranked][::-1]))
    guess.update_layout(xaxis=dict(range=[0, 1], tickformat=".0%"), margin=dict(l=10, r=10, t=40, b=10),
                        title="What the model says")
    guess.update_yaxes(automargin=True)
    with right:
        present.plotly_chart(guess, height=100 + 40 * len(ranked), width="stretch", key="tl_guess")


# ---------------------------------------------------------------- 5. Keep
def _keep(result, name: str) -> None:
    st.header("5. Keep")
    st.markdown(f"The model is kept for this session as **{name}**: the Feature maps page and the "
                "*What the network sees* pages can open it. It takes 0..255 pixels and outputs class probabilities.")
    file_name = "".join(c if c.isalnum() else "_" for c in name).strip("_")[:60] or "classifier"
    model_downloads(result.model, file_name, key="tl")
    with present.details("Loading it in Python"):
        st.caption("Reload it with `explorer.transfer.load_classifier(path)` (class names included) or "
                   "`keras.saving.load_model(path)` after `import explorer`.")


links.restore(PARAMS)
for widget_key, value in DEFAULTS.items():
    links.default(widget_key, value)
_intro()

st.header("1. Your classes")
source, data, skipped = _choose_data()
ready = _show_data(data, skipped)

st.header("2. Train")
clicked, backbone, settings, model_name, slots, share_slot = _train_controls(data, ready)
if clicked:
    _train(data, backbone, settings, model_name, source, slots)
result = STATE.get("tl_result")
if result is not None and STATE.get("tl_result_source") != source:
    # The last model was trained on another source's images: its evaluation ("every held-out image is
    # classified correctly") is not about the images now on the page (issue 23).
    st.caption(f"The last model was trained on the images from *{STATE.get('tl_result_source')}*. "
               "Press **Train** to train and evaluate on these.")
    result = None
with slots.chart.container():
    if result is not None:
        _show_training(result)
    else:
        _curves_placeholder()

if result is not None:
    st.header("3. Evaluate")
    _evaluate(result)
    _try_a_photo(result)
    _keep(result, STATE["tl_result_name"])
links.publish(PARAMS)
with share_slot.container():
    links.share(PARAMS, key="tl_share")
