"""Presentation vocabulary: one way to escape, format, colour and chart a figure.

Escaping, pills, palette and symbols, number/time/money formatting, tables, chart builders and
the Jinja2 templates shared by the evidence report and the Voilà apps. Pure: values in, strings
or chart values out. Imports the core and analysis (for rule names); imported by report and apps.
"""
