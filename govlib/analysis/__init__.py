"""Analysis: the read path and every statistic and read model the faces show.

SPC maths (pure), per-tool and per-workflow statistics in DuckDB SQL, the DuckDB read path over
the Parquet lake plus the live SQLite tail, the lake export, and the read models of the apps (the
executive page's data, the SPC dashboard's live reads). Imports everything below it; imported
by present, report, apps, cli and demo. Apps call these functions; they never run SQL.
"""
