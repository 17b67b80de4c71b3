"""Costs: the model price table and the token ledger (cost fixed at write time).

Imports the store, evidence (batch digests) and the core; imported by capture (OTel receipts),
analysis and the products.
"""
