"""House style checks that walk the source tree with ``ast``."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.tooling.expected_first import out_of_order, python_files, swap_source

ROOT = Path(__file__).resolve().parents[2]
# The test trees, and the core package for the contract suite it ships to plugin authors.
WALKED = [ROOT / "tests", *sorted((ROOT / "adapters").glob("*/tests")), ROOT / "tracker_bridge"]


def test_every_assertion_puts_the_expected_value_first() -> None:
    """No ``assert actual == <literal>`` anywhere in the test trees; fix with ``python -m tests.tooling.expected_first``."""
    found = [
        f"{swap.path.relative_to(ROOT)}:{swap.line}"
        for path in python_files(str(root) for root in WALKED)
        for swap in out_of_order(ast.parse(path.read_text(encoding="utf-8"), str(path)), path)
    ]
    assert [] == found


def test_the_codemod_swaps_only_operands_that_are_out_of_order() -> None:
    """The codemod moves literals, constants and built values to the left and leaves the rest."""
    source = (
        "assert len(x) == 3  # zoë Å\n"
        "assert (a.b, c) != ('é', State.OPEN), 'why'\n"
        "assert due == ams(2026, 1, 2)\n"
        "assert got == uow.reports.get('r1')\n"
        "assert EXPECTED == got\n"
        "assert [\n    thing\n] == [\n    1,\n]\n"
    )
    swaps = list(out_of_order(ast.parse(source), Path("snippet.py")))
    expected = (
        "assert 3 == len(x)  # zoë Å\n"
        "assert ('é', State.OPEN) != (a.b, c), 'why'\n"
        "assert ams(2026, 1, 2) == due\n"
        "assert got == uow.reports.get('r1')\n"
        "assert EXPECTED == got\n"
        "assert [\n    1,\n] == [\n    thing\n]\n"
    )
    assert expected == swap_source(source, swaps)


def test_pass_counts_are_bumped_by_their_pass_counter_member() -> None:
    """No ``summary.bump("name")`` in the package: every count is named by a ``PassCounter`` member."""
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in python_files([str(ROOT / "tracker_bridge")])
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and "bump" == node.func.attr
        and node.args
        and isinstance(node.args[0], ast.Constant)
    ]
    assert [] == found
