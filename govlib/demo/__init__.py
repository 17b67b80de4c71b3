"""The demo: ClaimsFlow (:mod:`govlib.demo.claimsflow`), a governed insurance-claims agent
workflow run for real through the primitives, and ``govlib demo`` (:mod:`govlib.demo.builder`).

Imports every layer below the CLI; imported by the CLI only.
"""
