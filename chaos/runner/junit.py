"""JUnit XML for CI: one test case per SLO, so a launch gate shows up as failed tests.

CI systems (GitHub Actions, GitLab, Jenkins) render JUnit natively; each failure message says
the measured value against the threshold and the window it was judged in, which is what a
person needs to decide whether to hold the launch. A run that could not be judged at all (an
abort, an unhealthy baseline) gets a test case of its own, so the gate never shows green.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.etree import ElementTree

from chaos.slo.evaluate import SloResult, Status


def failure_message(result: SloResult, t0: float) -> str:
    """`0.82 (must be above 0.995) in run [-10.0s, 75.0s]`: value vs threshold and window."""
    window = result.evidence.window
    span = f"[{window.start - t0:+.1f}s, {window.end - t0:+.1f}s]"
    value = "no data" if result.value is None else f"{result.value:g}"
    return (
        f"{value} (must be {result.threshold.describe()}) in window {span} from T0; {result.detail}"
    )


def junit_xml(
    suite: str,
    results: Sequence[SloResult],
    t0: float,
    *,
    duration: float,
    problem: str | None = None,
) -> bytes:
    """The JUnit document; ``problem`` (abort, infrastructure) adds one failed case."""
    cases = ElementTree.Element("testsuite", name=suite)
    failures = 0
    for result in results:
        case = ElementTree.SubElement(cases, "testcase", classname=suite, name=result.name)
        if result.status is not Status.PASS:
            failures += 1
            kind = "no-data" if result.status is Status.NO_DATA else "slo-violated"
            node = ElementTree.SubElement(
                case, "failure", message=failure_message(result, t0), type=kind
            )
            node.text = result.detail
    if problem is not None:
        failures += 1
        case = ElementTree.SubElement(cases, "testcase", classname=suite, name="run")
        ElementTree.SubElement(case, "failure", message=problem, type="run")
    tests = len(results) + (problem is not None)
    cases.set("tests", str(tests))
    cases.set("failures", str(failures))
    cases.set("errors", "0")
    cases.set("time", f"{duration:.3f}")
    root = ElementTree.Element("testsuites", name="gameday")
    root.append(cases)
    ElementTree.indent(root)
    document: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"
