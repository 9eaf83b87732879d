"""Not a page of its own: the legacy ``pages/`` folder's name for ``/class`` on a fresh server.

Until a session has run ``st.navigation``, Streamlit finds pages by file name, so a teacher link
(``/class?code=...``) as a restarted server's first request would find no ``class`` page and show
"Page not found". This file answers that one request: :func:`ui.shell.require_shell` switches the
process to navigation mode and reruns through ``streamlit_app.py``, which opens ``pages/class_mode.py``
(registered at url path ``class``), query parameters kept.
"""

from ui.shell import require_shell

require_shell()
