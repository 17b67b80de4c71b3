"""``govlib report``: one self-contained HTML evidence report for an audit committee.

Imports analysis, present and everything below; imported by the CLI only.
"""

from govlib.report.contents import (
    ReportError,
    data_row_counts,
    parse_period,
    read_report_data,
    report_data,
    report_hash,
    write_report,
)

__all__ = [
    "ReportError",
    "data_row_counts",
    "parse_period",
    "read_report_data",
    "report_data",
    "report_hash",
    "write_report",
]
