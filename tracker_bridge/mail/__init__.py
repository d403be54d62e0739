"""Researcher mail: templates, PGP/MIME composition (RFC 3156) and SMTP delivery."""
