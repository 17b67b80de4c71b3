"""Alerts: pure rule evaluation (rules) and delivery destinations (work in progress, issue 20)."""
