"""Identities: API tokens, login throttling and the audit of users and groups."""
