"""Server-sent-event streams on their way back to the client.

Events are passed on as they arrive; nothing buffers a whole answer. What an endpoint's
events say and how its stream ends is the endpoint's (``endpoints/``, ``StreamShape``).

    sse.py        framing: whole events out of arbitrary reads, an event's data
    reading.py    what an event says: usage for the audit record, answer text
    holdback.py   windowed hold-back of answer text until the output checks passed it
    chat_scan.py  hold-back's fast path over whole reads of plain Chat events
    endings.py    errors told inside a stream, in the endpoint's own form
    guard.py      ``guard_stream``: the stream the pipeline hands the shell

The pipeline finishes the call (``Pipeline.run``); nothing here calls back into it.
"""
