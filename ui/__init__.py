"""The Gradio app (`insight serve`): Chat, Customer, Segments, Marketing and Models views.

`ui.app.build_app` lays the views out over an `AppContext` (workspace, LLM backend, retrieval);
`ui.app.launch` starts it with the queue, the login and the file-serving rules from settings.
Gradio's usage analytics are switched off before Gradio is imported (the app runs offline).
"""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("MPLBACKEND", "Agg")
