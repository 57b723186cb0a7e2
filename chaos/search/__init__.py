"""Search: hypothesis finds the smallest fault schedule that breaks an experiment's SLOs.

The one way in is ``engine.Search(space, judge, policy=..., budget=...).run()``; ``gameday
search`` (``cli.search_command``) drives it with ``judge.RunnerJudge`` (real game days), the
tests with pure functions. Modules, one concept each (pure cores first):

- ``schedule``: a schedule as the search sees it (link, kind, magnitude, start, duration)
- ``space``: where to search, derived from the experiment; ``strategies``: hypothesis
  strategies over it (``fault_schedules``, ``workload_variations``)
- ``vote``: repeat-and-vote over noisy runs; ``engine``: search, shrink, budgets, cache,
  confirmation and refutation
- ``candidate``: a schedule as a normal experiment file; ``report``: what a search writes
- ``judge``: one schedule, one ``gameday run``; ``cli``: ``gameday search``
"""
