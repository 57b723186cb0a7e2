"""soundstage: the reference live-audio stack gameday breaks by default.

Processes (each ``python -m soundstage.NAME``): ``api`` (rooms, joins, admission), ``origin``
(jitter buffers, mixer, fan-out), ``edge`` (listener streams), ``speaker`` (voice, echo path).
Sans-IO cores they share: ``frames`` (wire format, docs/audio-format.md), ``mulaw`` and
``codec`` (payloads), ``jitter``, ``mixer``, ``voice``, ``echo``, ``admission``, ``httpwire``;
``listener`` is the client side, ``service`` the process plumbing. Instrumented with
prometheus-client; a model of how to instrument your own stack. gameday never imports it.
"""
