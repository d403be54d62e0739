"""Writes a new installation: a commented starter config, the default mappings, the bridge key."""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from tracker_bridge.bridge_key import create_bridge_key, export_public_key
from tracker_bridge.domain.researcher import Language
from tracker_bridge.domain.severity import Severity
from tracker_bridge.errors import ConfigurationError
from tracker_bridge.files import make_private_dir, write_private_bytes
from tracker_bridge.mappings import ProgramFile, parse_span

if TYPE_CHECKING:
    from collections.abc import Mapping

PACKAGED_MAPPINGS = Path(__file__).parent / "default_mappings"


@dataclass(frozen=True)
class InitChoices:
    """What ``tracker-bridge init`` asks for."""

    organisation: str = "Example Organisation"
    contact: str = "security@example.org"
    tracker: str = "gitlab"
    project: str = "security/cvd"
    tracker_url: str = "https://gitlab.example.org"
    generate_key: bool = True
    acknowledge: str = "1 working day"
    assessment: str = "3 working days"
    fix: Mapping[Severity, str] = field(default_factory=lambda: dict(DEFAULT_FIX))
    progress_update: str = "14 days"
    disclosure: str = "90 days"
    languages: tuple[str, ...] = ("en", "nl")

    def problems(self) -> list[str]:
        """Every answer that cannot go into the config, each naming its flag."""
        found = []
        if not _ORGANISATION.match(self.organisation):
            found.append(f"--org {self.organisation!r}: give a name on one line")
        if not _ADDRESS.match(self.contact):
            found.append(f"--contact {self.contact!r}: not a mail address")
        spans = {
            "--ack": self.acknowledge,
            "--assessment": self.assessment,
            "--progress-update": self.progress_update,
            "--disclosure": self.disclosure,
            **{f"--fix-{severity.value}": span for severity, span in self.fix.items()},
        }
        for flag, span in spans.items():
            try:
                parse_span(span)
            except ValueError as err:
                found.append(f"{flag}: {err}")
        known = {language.value for language in Language}
        unknown = [language for language in self.languages if language not in known]
        if unknown or not self.languages:
            found.append(
                f"--languages {','.join(self.languages)!r}: choose from {', '.join(sorted(known))}"
            )
        return found


DEFAULT_FIX: dict[Severity, str] = {
    Severity.CRITICAL: "30 days",
    Severity.HIGH: "30 days",
    Severity.MEDIUM: "60 days",
    Severity.LOW: "90 days",
}
_ORGANISATION = re.compile(r"^[^\r\n\x00-\x1f]{1,200}$")
# The address ends up in TOML and mail headers: nothing that could break out of either.
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


TEST_MAPPINGS: tuple[str, ...] = ("fake.toml",)
"""Packaged mapping files that belong to the test kit; ``init`` does not copy them."""


def _toml_string(value: str) -> str:
    # JSON string escapes are valid TOML basic-string escapes.
    return json.dumps(value, ensure_ascii=False)


def _set_value(text: str, table: str, key: str, literal: str) -> str:
    """Replace ``key``'s value in ``[table]``, keeping its comment in the same column."""
    lines = text.splitlines(keepends=True)
    current = ""
    pattern = re.compile(
        rf'^(\s*{re.escape(key)}\s*=\s*)("(?:[^"\\]|\\.)*"|\[[^\]]*\]|[^\s#]+)(.*?)(\r?\n?)$'
    )
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("["):
            current = stripped[1:].split("]", 1)[0].strip()
            continue
        match = pattern.match(line) if current == table else None
        if match is None:
            continue
        rest = match[3]
        if rest.strip().startswith("#"):
            width = len(match[2]) + len(rest) - len(rest.lstrip())
            rest = " " * max(1, width - len(literal)) + rest.lstrip()
        lines[index] = f"{match[1]}{literal}{rest}{match[4]}"
        return "".join(lines)
    msg = f"program.toml: no key {key} in [{table}] to set"
    raise ConfigurationError(msg)


def program_toml(template: str, choices: InitChoices) -> str:
    """The packaged program.toml with the operator's answers, comments kept; validated."""
    text = template
    text = _set_value(text, "program", "name", _toml_string(choices.organisation))
    text = _set_value(text, "program", "contact", _toml_string(choices.contact))
    languages = ", ".join(_toml_string(language) for language in choices.languages)
    text = _set_value(text, "program", "languages", f"[{languages}]")
    for key, span in (
        ("acknowledge", choices.acknowledge),
        ("assessment", choices.assessment),
        ("progress_update", choices.progress_update),
        ("disclosure", choices.disclosure),
    ):
        text = _set_value(text, "deadlines", key, _toml_string(span))
    for severity, span in choices.fix.items():
        text = _set_value(text, "deadlines.fix", severity.value, _toml_string(span))
    try:
        ProgramFile.model_validate(tomllib.loads(text))
    except (tomllib.TOMLDecodeError, ValidationError) as err:
        msg = f"program.toml would not be valid: {err}"
        raise ConfigurationError(msg) from err
    return text


# Values `init` writes that only stand in for the operator's own; `check --online` flags them.
STARTER_PLACEHOLDERS = frozenset(
    {
        "Example Organisation",
        "security@example.org",
        "bridge@example.org",
        "https://gitlab.example.org",
        "https://example.atlassian.net",
        "imap.example.org",
    }
)

_TRACKER_SECTIONS = {
    "gitlab": """[tracker.gitlab]
url = "{url}"
project = "{project}"              # group/project path or numeric id
token_file = "secrets/gitlab-token" # an access token with api scope; or TRACKER_BRIDGE_TRACKER__GITLAB__TOKEN
""",
    "jira": """[tracker.jira]
url = "{url}"
project = "{project}"              # project key, e.g. SEC
security_level = "Security team"   # the issue security level that keeps reports confidential
email = "bridge@example.org"       # Cloud: the account the API token belongs to (omit on Data Center)
token_file = "secrets/jira-token"  # Cloud API token or Data Center personal access token
""",
}


def starter_config(choices: InitChoices) -> str:
    """The commented TOML a new installation starts from."""
    if choices.tracker not in _TRACKER_SECTIONS:
        known = ", ".join(sorted(_TRACKER_SECTIONS))
        msg = f"--tracker {choices.tracker!r}: unknown tracker (known: {known})"
        raise ConfigurationError(msg)
    tracker = _TRACKER_SECTIONS[choices.tracker].format(
        url=choices.tracker_url, project=choices.project
    )
    return f"""# tracker-bridge configuration for {choices.organisation}.
# Every key can be overridden from the environment: TRACKER_BRIDGE_<SECTION>__<KEY>,
# e.g. TRACKER_BRIDGE_STORE__URL. Secrets go in files (`*_file`) or the environment, never here.
# Relative paths are relative to this file. Validate with: tracker-bridge --config THIS check

[store]
url = "sqlite:///state/tracker-bridge.sqlite3"   # or postgresql://user@host/db for several workers

[openpgp]
home = "gnupg"                                  # the bridge's GNUPGHOME
passphrase_file = "secrets/openpgp-passphrase"

[intake]
# maildir = "/var/mail/security"                # a Maildir the MTA delivers to
# [intake.imap]
# host = "imap.example.org"
# user = "security@example.org"
# password_file = "secrets/imap-password"

[smtp]
host = "localhost"
security = "starttls"                           # tls, starttls or none
from_address = "{choices.contact}"
# user = "security@example.org"
# password_file = "secrets/smtp-password"

[tracker]
kind = "{choices.tracker}"

{tracker}
[mappings]
dir = "mappings"                                # deadlines, labels and mail templates
"""


def initialise(directory: Path, choices: InitChoices) -> list[str]:
    """Create the installation in ``directory``; return the next steps for the operator."""
    config_path = directory / "tracker-bridge.toml"
    if config_path.exists():
        msg = f"{config_path} exists already; init never overwrites a config"
        raise ConfigurationError(msg)
    problems = choices.problems()
    if problems:
        raise ConfigurationError("\n".join(problems))
    directory.mkdir(parents=True, exist_ok=True)
    # The store (decrypted reports) and the secrets live here: owner-only whatever the umask.
    make_private_dir(directory / "state")
    secrets_dir = directory / "secrets"
    make_private_dir(secrets_dir)
    config_path.write_text(starter_config(choices), encoding="utf-8")
    mappings = directory / "mappings"
    if not mappings.exists():
        # The fake tracker's mapping is for the test kit; an installation never uses it.
        shutil.copytree(PACKAGED_MAPPINGS, mappings, ignore=shutil.ignore_patterns(*TEST_MAPPINGS))
        program = mappings / "program.toml"
        program.write_text(
            program_toml(program.read_text(encoding="utf-8"), choices), encoding="utf-8"
        )
    steps: list[str] = []
    if choices.generate_key:
        uid = f"{choices.organisation} security team <{choices.contact}>"
        # A generated 256-bit passphrase: protected with gpg-agent's minimum work factor.
        made = create_bridge_key(directory / "gnupg", uid)
        fingerprint = made.fingerprint
        passphrase_file = secrets_dir / "openpgp-passphrase"
        write_private_bytes(passphrase_file, (made.passphrase + "\n").encode())
        (directory / "bridge-public-key.asc").write_text(
            export_public_key(directory / "gnupg", fingerprint), encoding="utf-8"
        )
        steps.append(
            f"Publish the bridge's public key {fingerprint} "
            f"({directory / 'bridge-public-key.asc'}) on your disclosure policy page."
        )
    token_name = "gitlab-token" if choices.tracker == "gitlab" else "jira-token"
    steps.append(f"Put the tracker token in {secrets_dir / token_name} (mode 600).")
    if choices.tracker == "gitlab":
        steps.append(
            "In GitLab, give the bridge's token the Reporter role or higher on the project (it must "
            "set issues confidential); GitLab creates the severity::*, cvd::* and sla::* labels from "
            "mappings/gitlab.toml the first time the bridge sets them."
        )
    else:
        steps.append(
            "In Jira, create the issue security level named in [tracker.jira] security_level and "
            "put the Security field on the create screen of the issue type."
        )
    steps.append(f"Check everything without network: tracker-bridge --config {config_path} check")
    steps.append(
        f"Publish what you promise: tracker-bridge --config {config_path} policy --lang en "
        "--format html, and security-txt --sign (set policy_url in mappings/program.toml first)."
    )
    steps.append(
        f"Schedule the job: tracker-bridge --config {config_path} run (cron, systemd timer, "
        "Kubernetes CronJob or GitLab CI schedule; see the README)."
    )
    return steps
