"""The write path: one SQLite database in WAL mode, the system of record.

Owns the :class:`Store` (transactions, fair busy retry, integrity checks), the schema as data,
read snapshots and the data dir (where a store lives, whether a folder may be wiped).

Imports only the core modules (``govlib.errors``, ``govlib.clock``, ``govlib.settings``); every
other layer may import it.
"""

from govlib.store.database import STORE_FILENAME, SchemaVersionError, Store, StoreError

__all__ = ["STORE_FILENAME", "SchemaVersionError", "Store", "StoreError"]
