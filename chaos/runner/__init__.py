"""Runner: `gameday run`, the game-day timeline end to end, with a rollback that always runs.

The one way in is ``run.GameDay(loaded, RunOptions(...), console).execute()`` (the CLI's
``cli.run_command``): it returns a ``RunOutcome`` (verdict, exit code, SLO results, run
directory) after rolling back, whatever ended the run.

Modules, one concept each (pure cores first):

- ``timeline``: the experiment as ordered steps from T0 (``--dry-run`` prints it)
- ``toxics``: a link fault as exact Toxiproxy toxics; faults a server cannot make
- ``guards``: abort conditions checked continuously; ``verdict``: verdict → exit code
- ``infrastructure``: harness-side failures (fault proxy, faults, metrics, load) → the
  ``infrastructure`` verdict, never the stack's fail
- ``junit``: one test case per SLO; ``view``: live panel or CI lines
- ``audience``: the workload pointed at the stack (the spec's ``audience``)
- ``metrics``: scraping into the store and the journal, name and health checks, Prometheus
- ``faults``: apply, remove and roll back faults, journalled with exact parameters
- ``interrupts``: SIGINT/SIGTERM stop the run, never its rollback
- ``proxy_process``: the embedded fault proxy as a child process
- ``run_tag``, ``rollback``: run tags on toxics; ``gameday rollback`` and start-up sweeps
- ``run``: the nine steps; ``cli``: ``gameday run``
"""
