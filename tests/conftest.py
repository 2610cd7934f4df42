"""Shared pytest set-up. Package tests live in tests/<package>/."""
