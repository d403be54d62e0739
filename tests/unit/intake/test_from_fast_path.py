"""A plain From value is read without email.headerregistry, with headerregistry's answer."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tracker_bridge.intake.headers import Mailbox, registry_mailbox, simple_mailbox

# Letters and digits, atext specials, and characters that end or change a mailbox's syntax.
_PIECE = st.text(alphabet="aZ9'-_+.\"()<>@,;:\\ \t=?é", min_size=0, max_size=5)
_NAME = st.text(alphabet="aZ9'-", min_size=1, max_size=5)
_LOCAL = st.text(alphabet="aZ9_+-", min_size=1, max_size=5)
_DOMAIN = st.text(alphabet="aZ9-", min_size=1, max_size=5)


@st.composite
def _from_values(draw: st.DrawFn) -> str:
    """From values of the plain shape (about half), or with characters that may break it."""
    plain = draw(st.booleans())
    name, local_part, label = (
        (_NAME, _LOCAL, _DOMAIN)
        if plain
        else (st.one_of(kind, _PIECE) for kind in (_NAME, _LOCAL, _DOMAIN))
    )
    words = draw(st.sampled_from([" "] if plain else [" ", "  ", "", "."])).join(
        draw(st.lists(name, max_size=3))
    )
    local = ".".join(draw(st.lists(local_part, min_size=1, max_size=3)))
    domain = ".".join(draw(st.lists(label, min_size=1, max_size=3)))
    shapes = ["{n} <{l}@{d}>", "<{l}@{d}>", "{l}@{d}"]
    shape = draw(st.sampled_from(shapes if plain else [*shapes, "{n}<{l}@{d}>"]))
    return shape.format(n=words, l=local, d=domain)


@settings(max_examples=3000, deadline=None)
@given(_from_values())
@example("Bench researcher <rita@bench.example>")
@example("O'Brien <o.brien+cvd@lab-1.example>")
@example("a..b@lab.example")
@example("Jan <.jan@lab.example>")
def test_the_fast_path_answers_only_as_headerregistry_does(value: str) -> None:
    """Wherever simple_mailbox answers, its mailbox is registry_mailbox's."""
    fast = simple_mailbox(value)
    assert fast is None or registry_mailbox(value) == fast


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "Bench researcher <rita@bench.example>",
            Mailbox("Bench researcher", "rita", "bench.example", "rita@bench.example"),
        ),
        ("<rita@bench.example>", Mailbox("", "rita", "bench.example", "rita@bench.example")),
        ("rita@bench.example", Mailbox("", "rita", "bench.example", "rita@bench.example")),
    ],
)
def test_the_plain_shapes_take_the_fast_path(value: str, expected: Mailbox) -> None:
    """Name <addr>, <addr> and a bare addr-spec are read by simple_mailbox."""
    assert expected == simple_mailbox(value)


@pytest.mark.parametrize(
    "value",
    [
        '"de Vries, Jan" <jan@lab.example>',
        "=?utf-8?q?Jan?= <jan@lab.example>",
        "J. Smith <js@lab.example>",
        "jan@lab.example (Jan)",
        "a@lab.example, b@lab.example",
        "Jan <jan@lab.example>\r\n Mal <mal@evil.example>",
        "Zoë <zoë@lab.example>",
    ],
)
def test_anything_else_goes_to_headerregistry(value: str) -> None:
    """Quotes, encoded words, dots in names, comments, lists, folding and UTF-8 are not fast."""
    assert simple_mailbox(value) is None
