"""Class mode: the whole class adds photos from their phones to one dataset; the teacher trains it live.

The file is named like its url path (``/class``), as every page is: until a session has run
``st.navigation``, Streamlit finds pages by file name, and a teacher link as a restarted server's first
request must find this one (otherwise a blocking "Page not found" dialog covers the page).
"""

from __future__ import annotations

import streamlit as st

from ui import classroom
from ui.shell import require_shell

require_shell()

who, code, token = classroom.role()
if who == "teacher":
    if classroom.teacher(code, token):
        classroom.train_section(code, token)
        classroom.end_section(code, token)
elif who == "student":
    classroom.student(code, token)
elif who == "join":
    classroom.join(code)
else:
    classroom.start_or_join()
if who != "start":
    classroom.leave_button()
