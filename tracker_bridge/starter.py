"""Writes a new installation: a commented starter config, the default mappings, the bridge key."""

from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from tracker_bridge.bridge_key import export_public_key, generate_key
from tracker_bridge.errors import ConfigurationError

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
        raise ConfigurationError(f"--tracker {choices.tracker!r}: unknown tracker (known: {known})")
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
        raise ConfigurationError(f"{config_path} exists already; init never overwrites a config")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "state").mkdir(exist_ok=True)
    secrets_dir = directory / "secrets"
    secrets_dir.mkdir(mode=0o700, exist_ok=True)
    config_path.write_text(starter_config(choices), encoding="utf-8")
    mappings = directory / "mappings"
    if not mappings.exists():
        shutil.copytree(PACKAGED_MAPPINGS, mappings)
        program = mappings / "program.toml"
        program.write_text(
            program.read_text(encoding="utf-8")
            .replace('name = "Example Organisation"', f'name = "{choices.organisation}"')
            .replace('contact = "security@example.org"', f'contact = "{choices.contact}"'),
            encoding="utf-8",
        )
    steps: list[str] = []
    if choices.generate_key:
        passphrase = secrets.token_urlsafe(32)
        passphrase_file = secrets_dir / "openpgp-passphrase"
        passphrase_file.write_text(passphrase + "\n", encoding="utf-8")
        passphrase_file.chmod(0o600)
        uid = f"{choices.organisation} security team <{choices.contact}>"
        fingerprint = generate_key(directory / "gnupg", uid, passphrase)
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
            "In GitLab, create the labels severity::*, cvd::* and sla::* from mappings/gitlab.toml "
            "(the bridge creates missing ones on first use if the token may)."
        )
    else:
        steps.append(
            "In Jira, create the issue security level named in [tracker.jira] security_level and "
            "put the Security field on the create screen of the issue type."
        )
    steps.append(f"Check everything without network: tracker-bridge --config {config_path} check")
    steps.append(
        f"Schedule the job: tracker-bridge --config {config_path} run (cron, systemd timer, "
        "Kubernetes CronJob or GitLab CI schedule; see the README)."
    )
    return steps
