"""Experiment and stack-spec models, YAML loading with located validation errors.

The one way in is ``loader.load_experiment(path)`` (or ``parse_experiment(text, source)``):
it returns a ``LoadedExperiment`` — the validated ``Experiment``, its ``StackSpec`` and a
``Timeline`` of named windows — or raises one ``errors.ExperimentError`` (exit code 2) holding
every problem as ``FILE:LINE:COL: field.path: message``.

Modules, one concept each:

- ``units``: human quantities (``200ms``, ``5%``, ``64kbps``, ``1000KB/s``, ``1.5MB``, ``1:500``)
- ``stack``: the stack spec (docs/stack-spec.md)
- ``workload``, ``faults``, ``slos``, ``experiment``: the experiment file's models
- ``timeline``: phase, fault and run windows by name
- ``checks``: cross-references against the stack spec and the timeline
- ``tagged``: unions chosen by which key a mapping sets
- ``yamldoc``, ``errors``: YAML 1.2 with positions; pydantic errors as located issues
- ``yamlfast``, ``yamlexact``, ``yamlspots``: the two YAML readers (libyaml's, read first;
  ruamel.yaml's, the reference) and the places they record
- ``loader``, ``validate``: loading, and ``gameday validate``
"""
