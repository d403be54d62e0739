"""Codemod and checker for the house style ``assert expected == actual``.

Run from the repository root; it rewrites files in place and prints one line per swap::

    python -m tests.tooling.expected_first tests adapters/*/tests tracker_bridge adapters

``--check`` rewrites nothing and exits 1 when any assertion would be swapped. Re-running
on an already-swapped tree changes nothing. Only ``==`` and ``!=`` in ``assert``
statements are considered; chained comparisons and ``is`` are left alone.

How "expected" is recognised: each side of the comparison gets a rank.

* rank 2 (a literal): a constant (``3``, ``"x"``, ``None``), an f-string, a list, tuple,
  set or dict of rank-2 parts, a unary or binary operation on rank-2 parts, an
  ``UPPER_CASE`` name or attribute (``MAPPINGS``, ``State.TRIAGED``), a name starting with
  ``expected`` or ``want``, or a subscript of a rank-2 value by a rank-2 key.
* rank 1 (a value built from literals): a call of a plain name, a ``CapWords`` attribute or
  a function of a value-building module (``pytest``, ``datetime``, ...) whose arguments
  are all rank 2 and at least one (``ams(2026, 11, 4)``, ``timedelta(days=5)``,
  ``pytest.approx(0.5)``), a call of ``set``/``frozenset``/``dict``/``list``/``tuple`` or of
  a ``CapWords`` class with no arguments, and containers or operations mixing rank-1
  and rank-2 parts.
* rank 0: everything else (names, attribute reads, calls on computed values).

An assertion is rewritten when the right side outranks the left side, or when the ranks
tie and only the right side holds a literal part inside its tuple, list, set, dict or
arithmetic (``(outcome.verdict, outcome.id) == (Verdict.REPLY, report_id)``). Swapping the
operands of ``==``/``!=`` keeps behaviour for every type whose equality is symmetric,
which Python's reflected-operand rule gives to all well-behaved ``__eq__`` methods.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

LITERAL = 2
BUILT_FROM_LITERALS = 1
COMPUTED = 0

_LINE_END = re.compile(r"\r\n|\r|\n")
_UPPER_CASE = re.compile(r"^_?[A-Z][A-Z0-9_]*$")
_CAP_WORDS = re.compile(r"^_?[A-Z][a-zA-Z0-9]*$")
_EXPECTED_NAME = re.compile(r"^(expected|want)(_|$|[A-Z])")
_EMPTY_CONSTRUCTORS = frozenset({"set", "frozenset", "dict", "list", "tuple"})
_VALUE_MODULES = frozenset({"pytest", "datetime", "dt", "decimal", "ipaddress", "pathlib", "uuid"})


@dataclass(frozen=True)
class Swap:
    """One assertion whose operands are out of house order.

    Attributes:
        path: the file, as given on the command line.
        line: 1-based line of the ``assert`` statement.
        compare: the comparison node; its operands are the ones to swap.
    """

    path: Path
    line: int
    compare: ast.Compare


def _is_dotted_name(node: ast.expr) -> bool:
    """True for ``name`` and ``a.b.c`` made of names only."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name)


def _names_a_value_builder(func: ast.expr) -> bool:
    """True for a callable that builds a value rather than reads one from an object.

    A plain name (``ams``, ``date``), a ``CapWords`` attribute (``models.Researcher``) or a
    name reached from a value-building module (``pytest.approx``, ``datetime.date``);
    ``uow.reports.get`` is a read from a computed object and does not qualify.
    """
    if isinstance(func, ast.Name):
        return True
    if not isinstance(func, ast.Attribute) or not _is_dotted_name(func):
        return False
    root = func
    while isinstance(root, ast.Attribute):
        root = root.value  # type: ignore[assignment]
    return bool(_CAP_WORDS.match(func.attr)) or (
        isinstance(root, ast.Name) and root.id in _VALUE_MODULES
    )


def rank(node: ast.expr) -> int:
    """How much ``node`` reads as an expected value: 2 literal, 1 built from literals, 0 computed."""
    result = COMPUTED
    if isinstance(node, ast.Constant | ast.JoinedStr):
        result = LITERAL
    elif isinstance(node, ast.Name):
        if _UPPER_CASE.match(node.id) or _EXPECTED_NAME.match(node.id):
            result = LITERAL
    elif isinstance(node, ast.Attribute):
        if _UPPER_CASE.match(node.attr) and _is_dotted_name(node.value):
            result = LITERAL
    elif isinstance(node, ast.List | ast.Tuple | ast.Set):
        result = _weakest(node.elts)
    elif isinstance(node, ast.Dict):
        if all(key is not None for key in node.keys):
            result = _weakest([*(k for k in node.keys if k is not None), *node.values])
    elif isinstance(node, ast.UnaryOp):
        result = rank(node.operand)
    elif isinstance(node, ast.BinOp):
        result = _weakest([node.left, node.right])
    elif isinstance(node, ast.Subscript):
        result = _weakest([node.value, node.slice])
    elif isinstance(node, ast.Call):
        result = _call_rank(node)
    return result


def _weakest(parts: Sequence[ast.expr]) -> int:
    """The lowest rank among ``parts``; an empty container is a literal."""
    return min((rank(part) for part in parts), default=LITERAL)


def _call_rank(node: ast.Call) -> int:
    """Rank of a call: built from literals when a named callable gets only literals."""
    if not _names_a_value_builder(node.func):
        return COMPUTED
    arguments = [*node.args, *(keyword.value for keyword in node.keywords)]
    if any(isinstance(argument, ast.Starred) for argument in node.args):
        return COMPUTED
    if not arguments:
        name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr  # type: ignore[attr-defined]
        known = name in _EMPTY_CONSTRUCTORS or bool(_CAP_WORDS.match(name))
        return BUILT_FROM_LITERALS if known else COMPUTED
    return BUILT_FROM_LITERALS if _weakest(arguments) >= BUILT_FROM_LITERALS else COMPUTED


def out_of_order(tree: ast.AST, path: Path) -> Iterator[Swap]:
    """Every ``assert a == b`` / ``assert a != b`` in ``tree`` whose right side outranks its left."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assert) or not isinstance(node.test, ast.Compare):
            continue
        compare = node.test
        if len(compare.ops) != 1 or not isinstance(compare.ops[0], ast.Eq | ast.NotEq):
            continue
        if outranks(compare.comparators[0], compare.left):
            yield Swap(path, node.lineno, compare)


def outranks(right: ast.expr, left: ast.expr) -> bool:
    """True when ``right`` reads more as the expected value than ``left`` does.

    Either its rank is higher, or the ranks tie, ``left`` holds no literal part and
    ``right`` does (``(outcome.verdict, outcome.id) == (Verdict.REPLY, report_id)``).
    """
    left_rank, right_rank = rank(left), rank(right)
    if right_rank != left_rank:
        return right_rank > left_rank
    return literal_parts(left) == 0 < literal_parts(right)


def literal_parts(node: ast.expr) -> int:
    """How many rank-2 parts ``node`` holds at the top, looking into containers and operators only."""
    if rank(node) == LITERAL:
        return 1
    parts: list[ast.expr] = []
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        parts = node.elts
    elif isinstance(node, ast.Dict):
        parts = [*(k for k in node.keys if k is not None), *node.values]
    elif isinstance(node, ast.BinOp):
        parts = [node.left, node.right]
    elif isinstance(node, ast.UnaryOp):
        parts = [node.operand]
    return sum(literal_parts(part) for part in parts)


def _offsets(source: str) -> list[int]:
    """Character offset of the start of each 1-based line (index 0 unused)."""
    starts = [0, 0]
    # Python's own line ends only: str.splitlines would also split on \x85 and \x1c, which
    # occur inside UTF-8 sequences once the bytes are read as latin-1.
    starts.extend(match.end() for match in _LINE_END.finditer(source))
    return starts


def _span(node: ast.expr, starts: list[int]) -> tuple[int, int]:
    """``(start, end)`` character offsets of ``node`` in the source, parentheses excluded."""
    if node.end_lineno is None or node.end_col_offset is None:
        message = f"node at line {node.lineno} has no end position"
        raise ValueError(message)
    return starts[node.lineno] + node.col_offset, starts[node.end_lineno] + node.end_col_offset


def swap_source(source: str, swaps: Iterable[Swap]) -> str:
    """``source`` with the two operands of every comparison in ``swaps`` exchanged.

    Column offsets from ``ast`` are UTF-8 byte offsets, so the work is done on bytes.

    Raises:
        ValueError: a comparison node carries no end position.
    """
    data = source.encode("utf-8")
    text = data.decode("latin-1")  # one character per byte, so byte offsets index it
    starts = _offsets(text)
    edits: list[tuple[int, int, str]] = []
    for swap in swaps:
        left_start, left_end = _span(swap.compare.left, starts)
        right_start, right_end = _span(swap.compare.comparators[0], starts)
        middle = text[left_end:right_start]
        edits.append(
            (
                left_start,
                right_end,
                text[right_start:right_end] + middle + text[left_start:left_end],
            )
        )
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text.encode("latin-1").decode("utf-8")


def python_files(roots: Iterable[str]) -> Iterator[Path]:
    """The ``.py`` files under each root (a root may be a file), skipping virtualenvs and caches."""
    for root in roots:
        base = Path(root)
        candidates = [base] if base.is_file() else sorted(base.rglob("*.py"))
        for path in candidates:
            if not {".venv", "__pycache__", "build"} & set(path.parts):
                yield path


def fix_file(path: Path, *, write: bool) -> list[Swap]:
    """Swap every out-of-order assertion in ``path``; repeat until none is left.

    Nested asserts are not a thing, but one pass may not reach a fixed point when an
    operand itself changed; a second parse confirms the file is settled.

    Raises:
        SyntaxError: ``path`` is not valid Python.
    """
    source = path.read_text(encoding="utf-8")
    swaps = list(out_of_order(ast.parse(source, filename=str(path)), path))
    if swaps and write:
        path.write_text(swap_source(source, swaps), encoding="utf-8")
    return swaps


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: rewrite (or with ``--check`` only list) out-of-order assertions.

    Returns:
        0 when nothing was out of order or everything was rewritten; 1 under ``--check``
        when something would be swapped.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("roots", nargs="+", help="files or directories to walk")
    parser.add_argument("--check", action="store_true", help="list, do not rewrite")
    options = parser.parse_args(argv)
    found = 0
    for path in python_files(options.roots):
        for swap in fix_file(path, write=not options.check):
            found += 1
            sys.stdout.write(f"{swap.path}:{swap.line}: expected value on the right of ==\n")
    return 1 if options.check and found else 0


if __name__ == "__main__":
    raise SystemExit(main())
