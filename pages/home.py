"""Home: what each page shows, and which pretrained weights this computer has."""

import pandas as pd
import streamlit as st

from explorer import weights
from explorer.models import zoo
from ui import present
from ui.upload_model import upload_model
from ui.shell import require_shell

require_shell()

st.title("CNN Explorer")
st.markdown(
    "Open the great image CNNs — VGG, GoogLeNet, ResNet, MobileNet, Inception — and watch them work on "
    "real photos. Everything runs on this computer, no internet needed once the weights are here."
)

PAGES = [
    ("Architectures", "pages/architectures.py",
     "Pick a famous network and browse it layer by layer: shapes, parameters, and the graph with its "
     "branches and skip connections. Large models collapse their repeated blocks so you can open one."),
    ("Inception block", "pages/inception_block.py",
     "Build one GoogLeNet Inception block, push a photo through its four parallel branches and see why "
     "1x1 convolutions save parameters. GoogLeNet's two auxiliary classifiers add to the loss."),
    ("Residual block", "pages/residual_block.py",
     "See F(x), x and F(x)+x inside a ResNet block on a photo, and watch gradients vanish in a deep plain "
     "network but not with skip connections. Global average pooling lets the same network take any size."),
    ("Feature maps", "pages/feature_maps.py",
     "Upload a photo and see what every layer extracts, channel by channel. Early layers find edges; deep "
     "layers find parts of objects."),
    ("Transfer learning", "pages/transfer_learning.py",
     "Bring a few images per class, train a classifier on top of a frozen pretrained network in seconds, "
     "then fine-tune and inspect its mistakes."),
    ("Ideal class image", "pages/ideal_image.py",
     "Start from noise and let gradient ascent paint what the network thinks a cat (or a zebra) looks like. "
     "Regularisers turn noise into something recognisable."),
    ("Adversarial example", "pages/adversarial.py",
     "Change a photo by one or two pixel levels, invisibly, until the network is sure it shows a cat. "
     "Then check whether a second network is fooled too."),
]

# The page links are the cards' titles: larger than the body text under them, in both modes (they were
# smaller than it, issue 23).
_TITLE_SIZE = f"{round(present.BODY_PX * 1.2)}px" if present.is_on() else "1.2rem"
present.style(f"[data-testid='stMain'] [data-testid='stPageLink'] p {{ font-size: {_TITLE_SIZE} !important; }}",
              "page-links")
cols = st.columns(2)
for i, (title, path, text) in enumerate(PAGES):
    with cols[i % 2].container(border=True):
        st.page_link(path, label=f"**{title}**")
        st.write(text)

st.header("Pretrained weights on this computer")
rows = weights.status()
present_rows = [r for r in rows if r["present"]]
ready = [v.title + (f" ({weights.BUNDLED_NOTE})" if v.weights_bundled(include_top=True) else "")
         for v in zoo.VARIANTS.values() if v.weights_available(include_top=True)]
st.markdown(
    f"**{len(present_rows)} of {len(rows)}** known files are here"
    + (f". Ready with their ImageNet weights: {', '.join(ready)}." if ready else ".")
    + " Models whose weights are missing still work with random weights (clearly labelled)."
    + (" CNN Explorer ships one model, MobileNetV2, used when the Keras cache has none: it works offline "
       "on a fresh computer." if any(v.weights_bundled(True) for v in zoo.VARIANTS.values()) else "")
)
damaged = [r for r in rows if r["state"] not in ("present", "missing")]
if damaged:
    st.warning("These files are damaged and will be ignored until replaced: "
               + "; ".join(f"`{r['file']}` ({r['state']})" for r in damaged), icon=":material/warning:")
with present.details("Weight files and where they live"):
    st.markdown(
        f"Keras keeps weights in `{weights.cache_dir()}`. To get the missing ones, run "
        "`python -m explorer.weights prefetch --all` on a computer with internet and copy the folder here with "
        "`python -m explorer.weights install FOLDER` (see the README, *Offline classrooms*)."
    )
    table = pd.DataFrame(rows)[["model", "present", "size_mb", "state", "file"]].rename(
        columns={"model": "Model", "present": "Here", "state": "Status", "size_mb": "MB", "file": "File"})
    table["Here"] = ["yes" if here else "no" for here in table["Here"]]
    table["MB"] = [f"{mb:.1f}" if pd.notna(mb) else "not here" for mb in table["MB"]]  # a missing file has no size, not nan
    st.table(table.set_index("Model"))  # a plain table wraps long file names instead of cutting them off

st.header("Your own classifier")
st.markdown(
    "Trained an image classifier elsewhere? Upload it as a `.keras` file and the pages that take your models "
    "can use it. It is checked first: Keras *safe mode*, no Lambda layers or custom code, one colour image "
    "in and one score per class out."
)
with st.expander("Upload a .keras model", icon=":material/upload_file:"):
    upload_model("home_upload")
