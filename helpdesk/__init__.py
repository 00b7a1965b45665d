"""Helpdesk: FAQ bot with knowledge-base fallback, human ticket queue, learning loop, calibration, reports."""
