"""Hostile report text: each payload would act in a tracker if a plugin let it through.

Every payload is rendered inert by a correct plugin: the sandboxes execute quick actions,
notify mentions and fetch images, so a leak shows up as a side effect the contract suite sees.
"""

from __future__ import annotations

CANARY = "CANARY-7b1f-researcher-words"
"""A harmless marker placed in report text so tests can see the words arrived."""

BIDI_CONTROLS: frozenset[str] = frozenset(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
)
"""Unicode bidirectional controls (UAX #9) that reorder displayed text ("Trojan Source")."""

BIDI_TITLE = "Invoice \u202eexe.fdp\u202c and \u2067admin\u2069 \u200f\u061c"
"""A subject whose display order lies: it reads as "Invoice pdf.exe" unless revealed."""

BIDI_FILENAME = "report\u202egnp.exe"
"""An attachment name that displays as "reportexe.png" (right-to-left override)."""

INJECTION_PAYLOADS: tuple[str, ...] = (
    # GitLab quick actions at the start of a line
    "/close",
    "/reopen",
    "/confidential false",
    "/label ~public ~disclosed",
    "/unlabel ~confidential",
    "/assign @attacker",
    "/due 2020-01-01",
    "/move evil/public-project",
    "/clone evil/public-project",
    "/add_email attacker@evil.example",
    "/cc @attacker",
    "/title Nothing to see",
    "/spend 1h",
    "   /close",
    "text first\n/close\nmore text",
    "```\n/close\n```",
    "```\ncode\n```\n/close",
    "````\n```\n/close\n````",
    "~~~\n/close\n~~~\n/reopen",
    "> quoted\n/close",
    "<!-- hidden -->\n/close",
    "\u200b/close",
    "\r\n/close\r\n",
    # mentions and references
    "@all please look",
    "ping @root and @attacker",
    "see #1 and !1 and ~public and %v1.0 and $1",
    "security/cvd#1 and evil/project!2",
    # images, links, HTML that load or render from outside
    "![x](https://evil.example/track.png)",
    '<img src="https://evil.example/pixel.gif">',
    '<a href="https://evil.example">click</a>',
    "<script>alert(1)</script>",
    "[link](javascript:alert(1))",
    # Jira wiki markup
    "[~admin] and [~accountid:5b10a2844c20165700ede21g]",
    "!https://evil.example/jira.png!",
    "{noformat}\nescape{noformat} [~admin] {noformat}",
    "{code}x{code}!https://evil.example/code.png!",
    "{color:red}[~admin]{color}",
    "[click|https://evil.example]",
    "{panel}@all{panel}",
)
