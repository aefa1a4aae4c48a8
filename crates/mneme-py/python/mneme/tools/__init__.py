"""Operator tools: `calibrate` (choose a similarity threshold from labelled pairs)."""
