"""``govlib stats``: the per-tool and per-workflow tables over a lake, by DuckDB or Spark."""

from __future__ import annotations

from pathlib import Path

import click

from govlib.cli.main import clean_errors
from govlib.cli.terminal import terminal_lines


@click.command("stats")
@click.option(
    "--lake",
    "lake_dir",
    required=True,
    help="A data dir (its lake and sealed segments), a shared lake folder, or (Spark) a lake URL.",
)
@click.option(
    "--engine",
    default="duckdb",
    show_default=True,
    help="duckdb (this machine) or spark (local[*] or --master).",
)
@click.option(
    "--master",
    default=None,
    help="Spark master URL (default: spark-submit's, else local[*]).",
)
@click.option("--tenant", default=None, help="Only this tenant's calls and runs.")
@click.option(
    "--format",
    "fmt",
    default="table",
    show_default=True,
    help='table, csv, json ({"tools": [...], "workflows": [...]}) or parquet (needs --out).',
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Write here instead of printing (parquet: a folder the stats_table setting can name).",
)
@clean_errors
def stats(
    lake_dir: str,
    engine: str,
    master: str | None,
    tenant: str | None,
    fmt: str,
    out: Path | None,
) -> None:
    """Print or write the tool and workflow statistics computed over a partitioned lake.

    Example:

        govlib stats --lake /data/fleet-lake --engine spark --master local[*] --format json
    """
    from govlib.analysis.lake import FORMATS, lake_stats, write_stats
    from govlib.errors import GovlibError

    if fmt not in FORMATS:  # checked before any engine starts
        raise GovlibError(f"--format: {fmt!r}; expected one of {', '.join(FORMATS)}")
    tools, flows = lake_stats(lake_dir, engine=engine, master=master, tenant=tenant)
    text = write_stats(tools, flows, fmt, out)
    # JSON is ASCII-escaped by json.dumps; text tables and CSV hold stored names: made safe.
    click.echo(text if fmt == "json" and out is None else terminal_lines(text))
