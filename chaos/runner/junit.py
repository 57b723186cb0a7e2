"""JUnit XML for CI: one test case per SLO, so a launch gate shows up as failed tests.

CI systems (GitHub Actions, GitLab, Jenkins) render JUnit natively; each failure message says
the measured value against the threshold and the window it was judged in, which is what a
person needs to decide whether to hold the launch. A run stopped by a guard gets a failed test
case of its own, so the gate never shows green; a harness-side failure (the fault proxy gone,
a fault not removed, an unhealthy baseline) is an ``<error>``, not a ``<failure>``: CI then
says "the test could not run", not "the stack failed".
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.etree import ElementTree

from chaos.report.failures import FailureRow, detail_text
from chaos.slo.evaluate import SloResult, Status


def measured(result: SloResult) -> str:
    """`0.82 (must be above 0.995)`: the value against the threshold."""
    return f"{result.shown} (must be {result.threshold.describe()})"


def failure_message(result: SloResult, t0: float) -> str:
    """`0.82 (must be above 0.995) in run [-10.0s, 75.0s]`: value vs threshold and window."""
    window = result.evidence.window
    span = f"[{window.start - t0:+.1f}s, {window.end - t0:+.1f}s]"
    return f"{measured(result)} in window {span} from T0; {result.detail}"


def junit_xml(
    suite: str,
    results: Sequence[SloResult],
    t0: float,
    *,
    duration: float,
    problem: str | None = None,
    infrastructure: Sequence[str] = (),
    listener_failures: Sequence[FailureRow] = (),
) -> bytes:
    """The JUnit document. ``problem`` (an abort) adds one failed case; ``infrastructure`` (the
    harness-side failures of a run) adds one *error* case per failure, and the SLOs that did not
    pass are then skipped, not failed: they measured our parts, not the stack. Each SLO that did
    not pass carries why listeners failed (``listener_failures``) as its ``system-out``."""
    cases = ElementTree.Element("testsuite", name=suite)
    failures = errors = skipped = 0
    unpassed: list[ElementTree.Element] = []
    for result in results:
        case = ElementTree.SubElement(cases, "testcase", classname=suite, name=result.name)
        if result.status is Status.PASS:
            continue
        unpassed.append(case)
        if infrastructure:
            skipped += 1
            ElementTree.SubElement(
                case,
                "skipped",
                message="not judged: the run had a harness-side failure; "
                + failure_message(result, t0),
            )
            continue
        failures += 1
        kind = {Status.NO_DATA: "no-data", Status.INCONCLUSIVE: "inconclusive"}.get(
            result.status, "slo-violated"
        )
        node = ElementTree.SubElement(
            case, "failure", message=failure_message(result, t0), type=kind
        )
        node.text = result.detail
    why = detail_text(listener_failures)
    for case in unpassed if why else ():
        ElementTree.SubElement(case, "system-out").text = why  # after the verdict, as JUnit has it
    if problem is not None:
        failures += 1
        case = ElementTree.SubElement(cases, "testcase", classname=suite, name="run")
        ElementTree.SubElement(case, "failure", message=problem, type="run")
    for n, what in enumerate(infrastructure, start=1):
        errors += 1
        name = "infrastructure" if len(infrastructure) == 1 else f"infrastructure #{n}"
        case = ElementTree.SubElement(cases, "testcase", classname=suite, name=name)
        node = ElementTree.SubElement(case, "error", message=what, type="infrastructure")
        node.text = what
    tests = len(results) + (problem is not None) + len(infrastructure)
    cases.set("tests", str(tests))
    cases.set("failures", str(failures))
    cases.set("errors", str(errors))
    cases.set("skipped", str(skipped))
    cases.set("time", f"{duration:.3f}")
    root = ElementTree.Element("testsuites", name="gameday")
    root.append(cases)
    ElementTree.indent(root)
    document: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"
