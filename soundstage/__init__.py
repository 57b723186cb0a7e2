"""soundstage: the reference live-audio stack gameday breaks by default.

Instrumented with prometheus-client; a model of how to instrument your own stack.
"""
