"""Held-out set v2 for the QC gate (docs/QUALITY.md "Held-out set v2"): blind, made by code of its own,
scored once by tests/quality/test_heldout2.py and never used to choose a threshold."""
