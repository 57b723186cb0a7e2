"""Listener load on Locust's distributed engine (master + workers, many machines).

Two sides that never share a process. Locust patches the interpreter with gevent, so the
harness only starts it (``engine``) and reads it over HTTP; the Locust side runs the same
sans-IO probe core as the native swarm over gevent sockets.

Harness side (no gevent, no locust): ``shape`` (the arrival curve as user counts over time),
``job`` (what the harness tells every Locust process), ``exposition`` (worker metrics and
worker states read back into ``ListenerStats``), ``engine`` (start, watch, merge, stop).

Locust side: ``locustfile`` (what ``locust -f`` loads), ``user`` (one listener per Locust user),
``worker`` (a worker's totals, sweep and ``/metrics``), ``master`` (worker states on
``/metrics``).
"""
