"""Organization-level abuse signals and upstream discipline (issue 14).

Nothing in a single prompt shows these; they show in the organization's traffic as a whole:

- ``upstream_limits``: OpenAI's ``x-ratelimit-*`` headers read on every answer, so the gateway
  stops sending before OpenAI would answer 429 and never hammers it after one.
- ``fanout``: a virtual key connecting from many networks or countries (a leaked key);
  ``homes``: a key connecting from a country it never used.
- ``distillation``: end users and keys harvesting answers (templated prompts, read by
  ``sketch``; volume against the tier's norm; long answers to short prompts; machine-regular
  timing, ``timing``).
- ``ramp``: traffic spikes, and the governor capping the organization's growth.
- ``shared``: with Redis counters, the detectors' counts merged between processes once a
  second (no store round trip per request).

The checks that act on them are ``checks/key_fanout.py``, ``checks/distillation.py`` and
``checks/ramp.py``; ``upstream.py`` calls ``upstream_limits`` around every send.

Each signal is registered in the ops signals registry (``ops/signals.py``), so it feeds the
standing score and the alert rules like the built-in ones. Settings: the ``signals:`` section.
"""
