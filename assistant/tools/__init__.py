"""The assistant's tools: plain functions with typed results, shared by the CLI and the UI.

* `ask(question, con, backend)` — operator questions → validated plan → SQL → grounded answer.
* `user_summary(user_id, source, con=, backend=)` — cited customer briefing.
* `persona(user_id | segment, con=, backend=)` — structured persona with evidence + prose.
* `explain(user_id, item_id, con=, backend=)` — why an item is recommended, cited.
* `marketing_copy(item_id, con=, backend=, user_id= | segment=, channel=, tone=, n_variants=)`.
* `chat(history, message, con=, backend=)` — routes to a tool, yields streamed `ChatEvent`s.
* `name_segments(workspace, backend)` — names the predictors' segments (`segment_names`).

Every result carries a `ToolRun` (prompt refs, model, latency, time to first token, trace).
"""

from assistant.tools.ask import AskResult, ask
from assistant.tools.chat import ChatEvent, chat
from assistant.tools.explain import ExplainResult, explain
from assistant.tools.marketing import CopyResult, marketing_copy
from assistant.tools.persona import PersonaResult, persona
from assistant.tools.segments import SegmentNamesResult, name_segments
from assistant.tools.summary import SummaryResult, user_summary
from assistant.tools.trace import ToolRun, TraceStep

__all__ = [
    "AskResult", "ChatEvent", "CopyResult", "ExplainResult", "PersonaResult",
    "SegmentNamesResult", "SummaryResult", "ToolRun", "TraceStep", "ask", "chat", "explain",
    "marketing_copy", "name_segments", "persona", "user_summary",
]
