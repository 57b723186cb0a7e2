"""Replays: re-run a recorded run and compare, and turn a recorded incident into an experiment.

- ``recorded``: what a journal says a run did (its settings, fault decisions, SLO results)
- ``diff``: verdict diff (same / newly passing / newly failing) and fault-decision diff
- ``replay``: ``gameday replay JOURNAL``, the recorded run again with its seed and timeline
- ``series``, ``importer``: ``gameday import``, an incident's series → arrival curve and faults
"""
