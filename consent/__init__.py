"""Consent withdrawn at a destination, recorded against the Business Partner (issue 15, part 3)."""
