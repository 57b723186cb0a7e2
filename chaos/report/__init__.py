"""Report: the run journal (history) and everything derived from it for people to look at.

``journal`` writes and reads the history; ``summary`` folds it into phases, faults, SLOs and the
verdict (``console`` prints that). ``model`` gathers what a report shows, ``timeseries`` turns
the recorded samples into plotted series (PromQL semantics), ``plots`` draws them with the fault
windows shaded, ``html`` and ``markdown`` render the two reports and ``files`` writes them.
``grafana`` pushes fault windows and the verdict to Grafana as annotations.
"""
