"""Loads and validates mappings/ (operator-owned TOML and templates) into domain policy objects."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tracker_bridge.domain.deadlines import DeadlinePolicy, DeadlineStatus, Span, SpanUnit
from tracker_bridge.domain.labels import LabelScheme, StateRules
from tracker_bridge.domain.regulatory import Regime, RegulatoryPolicy
from tracker_bridge.domain.report import State
from tracker_bridge.domain.researcher import Language
from tracker_bridge.domain.severity import Severity
from tracker_bridge.errors import ConfigurationError

if TYPE_CHECKING:
    from pathlib import Path

M = TypeVar("M", bound=BaseModel)

_SPAN = re.compile(
    r"^\s*(?P<n>\d+)\s*(?P<unit>working\s+days?|business\s+days?|calendar\s+days?|days?)\s*$",
    re.IGNORECASE,
)


def parse_span(text: str) -> Span:
    """Read "3 working days" or "14 days"; ValueError explains the accepted forms."""
    match = _SPAN.match(text)
    if match is None:
        msg = f'{text!r} is not a span (write e.g. "3 working days" or "14 days")'
        raise ValueError(msg)
    unit = match["unit"].lower()
    working = unit.startswith(("working", "business"))
    return Span(int(match["n"]), SpanUnit.WORKING_DAYS if working else SpanUnit.CALENDAR_DAYS)


class _Table(BaseModel):
    """A TOML table that refuses unknown keys, so typos are reported."""

    model_config = ConfigDict(extra="forbid")


class ProgramTable(_Table):
    """The ``[program]`` table: who we are and how ids, time and language work."""

    name: str = "Example Organisation"
    id_prefix: str = Field(default="CVD", pattern=r"^[A-Z][A-Z0-9]{1,15}$")
    contact: str = "security@example.org"
    timezone: str = "Europe/Amsterdam"
    holidays_country: str = "NL"
    holidays_subdivision: str | None = None
    languages: list[Language] = Field(default_factory=lambda: [Language.EN, Language.NL])
    policy_url: str | None = None
    # Published-policy settings (policy, security-txt, credits); see mappings/program.toml.
    contact_url: str | None = Field(default=None, pattern=r"^https://")
    security_txt_url: str | None = Field(default=None, pattern=r"^https://")
    encryption_url: str | None = Field(default=None, pattern=r"^(https|dns|openpgp4fpr):")
    acknowledgments_url: str | None = Field(default=None, pattern=r"^https://")
    security_txt_days: int = Field(default=365, ge=1, le=365)
    security_txt_file: str | None = None


class DeadlinesTable(_Table):
    """The ``[deadlines]`` table: every promised span, as text such as "3 working days"."""

    acknowledge: str = "1 working day"
    assessment: str = "3 working days"
    progress_update: str = "14 days"
    disclosure: str = "90 days"
    due_soon: str = "1 working day"
    due_soon_fraction: float = Field(default=0.2, ge=0.0, le=1.0)
    fix: dict[Severity, str] = Field(
        default_factory=lambda: {
            Severity.CRITICAL: "30 days",
            Severity.HIGH: "30 days",
            Severity.MEDIUM: "60 days",
            Severity.LOW: "90 days",
        }
    )

    @field_validator("acknowledge", "assessment", "progress_update", "disclosure", "due_soon")
    @classmethod
    def _span(cls, value: str) -> str:
        parse_span(value)
        return value

    @field_validator("fix")
    @classmethod
    def _fix_spans(cls, value: dict[Severity, str]) -> dict[Severity, str]:
        for span in value.values():
            parse_span(span)
        return value


class ResearcherMailTable(_Table):
    """The ``[researcher_mail]`` table: how the team writes to researchers."""

    marker: str = "[to researcher]"
    without_key: Literal["key_request", "cleartext"] = "key_request"
    # Which mails may go out signed but unencrypted to a researcher without a usable key; the
    # rest waits until their key arrives. Unset: "all" when without_key = "cleartext", else "none".
    cleartext: Literal["none", "without-details", "all"] | None = None
    show_address_in_tracker: bool = False

    @property
    def cleartext_policy(self) -> Literal["none", "without-details", "all"]:
        """The effective ``cleartext`` setting (the older ``without_key`` read when unset)."""
        if self.cleartext is not None:
            return self.cleartext
        return "all" if self.without_key == "cleartext" else "none"


class RetentionTable(_Table):
    """The ``[retention]`` table: how long personal data and report content are kept."""

    content_days_after_close: int = Field(default=90, ge=0)
    contact_days_after_close: int = Field(default=90, ge=0)


class RegulatoryTable(_Table):
    """The ``[regulatory]`` table of program.toml: which legal clocks run, and the markers."""

    gdpr: bool = False
    nis2: bool = False
    cra: bool = False
    due_soon_hours: int = Field(default=6, ge=0, le=72)
    aware_marker: str = Field(default="[aware]", min_length=1)
    reported_marker: str = Field(default="[reported]", min_length=1)
    not_notifiable_marker: str = Field(default="[not notifiable]", min_length=1)
    measure_marker: str = Field(default="[measure available]", min_length=1)
    fact_marker: str = Field(default="[fact]", min_length=1)


class ProgramFile(_Table):
    """The whole of program.toml."""

    program: ProgramTable = Field(default_factory=ProgramTable)
    deadlines: DeadlinesTable = Field(default_factory=DeadlinesTable)
    researcher_mail: ResearcherMailTable = Field(default_factory=ResearcherMailTable)
    retention: RetentionTable = Field(default_factory=RetentionTable)
    regulatory: RegulatoryTable = Field(default_factory=RegulatoryTable)


class LabelsTable(_Table):
    """The ``[labels]`` table of a tracker mapping: label name templates."""

    severity: str = Field(pattern=r"\{severity\}")
    state: str = Field(pattern=r"\{state\}")
    deadline: str = Field(pattern=r"\{status\}")
    status_names: dict[DeadlineStatus, str]

    @field_validator("status_names")
    @classmethod
    def _all_statuses(cls, value: dict[DeadlineStatus, str]) -> dict[DeadlineStatus, str]:
        missing = sorted(s.value for s in DeadlineStatus if s not in value)
        if missing:
            msg = f"missing names for deadline status {', '.join(missing)}"
            raise ValueError(msg)
        return value


class StatesTable(_Table):
    """The ``[states]`` table of a tracker mapping: tracker status to lifecycle state."""

    closed: State = State.RESOLVED
    reopened: State = State.TRIAGING
    status: dict[str, State] = Field(default_factory=dict)
    category: dict[str, State] = Field(default_factory=dict)


class RegulatoryLabelsTable(_Table):
    """The ``[regulatory]`` table of a tracker mapping: the legal clocks' label names."""

    due: str = Field(default="reg-due::{due}", pattern=r"\{due\}")
    reported: str = Field(default="reg-reported::{step}", pattern=r"\{step\}")
    start: dict[Regime, str] = Field(
        default_factory=lambda: {
            Regime.GDPR: "reg::personal-data-breach",
            Regime.NIS2: "reg::significant-incident",
            Regime.CRA: "reg::actively-exploited",
        }
    )

    @field_validator("start")
    @classmethod
    def _every_regime(cls, value: dict[Regime, str]) -> dict[Regime, str]:
        missing = sorted(r.value for r in Regime if not value.get(r))
        if missing:
            msg = f"missing start labels for regime {', '.join(missing)}"
            raise ValueError(msg)
        if len(set(value.values())) != len(value):
            msg = "two regimes share one start label"
            raise ValueError(msg)
        return value


class TrackerMappingFile(_Table):
    """The whole of <tracker>.toml."""

    labels: LabelsTable
    states: StatesTable = Field(default_factory=StatesTable)
    regulatory: RegulatoryLabelsTable = Field(default_factory=RegulatoryLabelsTable)


@dataclass(frozen=True)
class Mappings:
    """Everything in mappings/ for one program and one tracker kind."""

    directory: Path
    program: ProgramTable
    policy: DeadlinePolicy
    researcher_mail: ResearcherMailTable
    retention: RetentionTable
    labels: LabelScheme
    states: StateRules
    templates_dir: Path
    regulatory: RegulatoryPolicy = field(default_factory=RegulatoryPolicy)


def _at_least_days(span: Span) -> int:
    """The fewest calendar days a span can take (five working days take at least seven)."""
    if span.unit is SpanUnit.CALENDAR_DAYS:
        return span.amount
    weeks, rest = divmod(span.amount, 5)
    return weeks * 7 + rest


def _at_most_days(span: Span) -> int:
    """The most calendar days a span takes without holidays (one working day up to three)."""
    if span.unit is SpanUnit.CALENDAR_DAYS:
        return span.amount
    weeks, rest = divmod(span.amount, 5)
    return weeks * 7 + (rest + 2 if rest else 0)


def policy_warnings(mappings: Mappings) -> list[str]:
    """Promises in program.toml that contradict each other (``check`` prints them as warnings).

    A fix target longer than the disclosure horizon would have the program publish a
    vulnerability before its promised fix: the horizon must be at least every fix target.
    """
    path = mappings.directory / "program.toml"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    line = _line_of(text, ("deadlines", "disclosure"))
    where = f"{path}:{line}" if line else str(path)
    horizon = mappings.policy.disclosure
    warnings = []
    for severity in Severity:
        fix = mappings.policy.fix_span(severity)
        if fix is not None and _at_most_days(fix) > _at_least_days(horizon):
            warnings.append(
                f"{where}: deadlines.disclosure: the disclosure horizon ({horizon}) is shorter "
                f"than the {severity.value} fix target ({fix}); publication could come before "
                f"the promised fix (make the horizon at least {fix})"
            )
    return warnings


def load_mappings(directory: Path, tracker_kind: str) -> Mappings:
    """Read program.toml and <tracker_kind>.toml from ``directory``; every problem in one error."""
    problems: list[str] = []
    program_file = _read_model(directory / "program.toml", ProgramFile, problems, optional=True)
    tracker_file = _read_model(directory / f"{tracker_kind}.toml", TrackerMappingFile, problems)
    if problems or program_file is None or tracker_file is None:
        raise ConfigurationError("\n".join(problems))
    deadlines = program_file.deadlines
    policy = DeadlinePolicy(
        acknowledge=parse_span(deadlines.acknowledge),
        assessment=parse_span(deadlines.assessment),
        fix={severity: parse_span(span) for severity, span in deadlines.fix.items()},
        progress_update=parse_span(deadlines.progress_update),
        disclosure=parse_span(deadlines.disclosure),
        due_soon=parse_span(deadlines.due_soon),
        due_soon_fraction=deadlines.due_soon_fraction,
    )
    labels = tracker_file.labels
    return Mappings(
        directory=directory,
        program=program_file.program,
        policy=policy,
        researcher_mail=program_file.researcher_mail,
        retention=program_file.retention,
        labels=LabelScheme(labels.severity, labels.state, labels.deadline, labels.status_names),
        states=StateRules(
            closed=tracker_file.states.closed,
            reopened=tracker_file.states.reopened,
            by_status=tracker_file.states.status,
            by_category=tracker_file.states.category,
        ),
        templates_dir=directory / "templates",
        regulatory=_regulatory_policy(program_file.regulatory, tracker_file.regulatory),
    )


def _regulatory_policy(table: RegulatoryTable, labels: RegulatoryLabelsTable) -> RegulatoryPolicy:
    enabled = {
        regime
        for regime, on in (
            (Regime.GDPR, table.gdpr),
            (Regime.NIS2, table.nis2),
            (Regime.CRA, table.cra),
        )
        if on
    }
    return RegulatoryPolicy(
        enabled=frozenset(enabled),
        due_soon=timedelta(hours=table.due_soon_hours),
        start_labels=dict(labels.start),
        due_label=labels.due,
        reported_label=labels.reported,
        aware_marker=table.aware_marker,
        reported_marker=table.reported_marker,
        not_notifiable_marker=table.not_notifiable_marker,
        measure_marker=table.measure_marker,
        fact_marker=table.fact_marker,
    )


def _read_model(
    path: Path, model: type[M], problems: list[str], *, optional: bool = False
) -> M | None:
    if not path.exists():
        if optional:
            return model()
        problems.append(f"{path}: file is missing")
        return None
    text = path.read_text(encoding="utf-8")
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        problems.append(f"{path}: invalid TOML: {err}")
        return None
    try:
        return model.model_validate(data)
    except ValidationError as err:
        for problem in err.errors():
            loc = tuple(str(part) for part in problem["loc"])
            line = _line_of(text, loc)
            where = f"{path}:{line}" if line else str(path)
            message = "unknown key" if problem["type"] == "extra_forbidden" else problem["msg"]
            problems.append(f"{where}: {'.'.join(loc)}: {message}")
        return None


def _line_of(text: str, loc: tuple[str, ...]) -> int | None:
    table: tuple[str, ...] = ()
    fallback: int | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if line.startswith("["):
            table = tuple(p.strip().strip('"') for p in line.strip("[] ").split("."))
            if table == loc:
                return number
            continue
        if "=" in line:
            key = line.split("=", 1)[0].strip().strip('"')
            if (*table, key) == loc[: len(table) + 1]:
                return number
            if fallback is None and table and loc[: len(table)] == table:
                fallback = number
    return fallback
