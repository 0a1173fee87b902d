#!/usr/bin/env python3
"""Prints one closing line for `make test`: every JUnit XML report under the given directory
(GoogleTest's and pytest's) summed as 'total: N passed, N failed, N skipped'. Exits 1 if any
test failed or no report was found."""

import pathlib
import sys
import xml.etree.ElementTree as ET


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "build/test-results")
    tests = failed = skipped = 0
    reports = sorted(root.glob("*.xml"))
    for report in reports:
        tree = ET.parse(report).getroot()
        suites = [tree] if tree.tag == "testsuite" else tree.findall("testsuite")
        for suite in suites:
            tests += int(suite.get("tests", 0))
            failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skipped += int(suite.get("skipped", 0)) + int(suite.get("disabled", 0))
    if not reports:
        print(f"test-summary: no reports in {root}", file=sys.stderr)
        return 1
    print(f"total: {tests - failed - skipped} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or tests == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
