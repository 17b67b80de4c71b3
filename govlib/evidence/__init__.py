"""Evidence: the WORM chain and everything that proves it.

Chain maths (canonical bytes, HMAC-SHA256 links), the WORM log, key material, Ed25519-signed
checkpoints, batch digests that bind audit and ledger rows to the chain, ``verify`` and the
evidence pack. Imports the store and the core; imported by every layer above the store.
"""
