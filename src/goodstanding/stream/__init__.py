"""Server-sent-event streams on their way back to the client.

Events are passed on as they arrive; nothing buffers a whole answer.

    sse.py        framing: whole events out of arbitrary reads, an event's data
    reading.py    what an event says: usage for the audit record, answer text
    holdback.py   windowed hold-back of answer text until the output checks passed it
    chat_scan.py  hold-back's fast path over whole reads of plain Chat events
    endings.py    a stream's terminal event, its content-filter cut, its error events
    guard.py      ``guard_stream``: the stream the pipeline hands the shell

The pipeline finishes the call (``Pipeline.run``); nothing here calls back into it.
"""
