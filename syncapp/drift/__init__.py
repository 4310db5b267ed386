"""Drift detection: read records back from each destination and compare them, field by
field, with what the hub last sent (issue 13, part 3). See services.py."""
