"""Researcher mail: templates, PGP/MIME composition (RFC 3156) and SMTP delivery."""

from tracker_bridge.mail.compose import PgpMimeComposer, plus_address
from tracker_bridge.mail.smtp import SmtpSession, SmtpTransport
from tracker_bridge.mail.templates import (
    TEMPLATE_NAMES,
    TemplateProblem,
    TemplateSet,
    template_problems,
    validate_templates,
)

__all__ = [
    "TEMPLATE_NAMES",
    "PgpMimeComposer",
    "SmtpSession",
    "SmtpTransport",
    "TemplateProblem",
    "TemplateSet",
    "plus_address",
    "template_problems",
    "validate_templates",
]
