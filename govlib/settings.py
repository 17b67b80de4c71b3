"""The one declared tuple of govlib settings, with help strings.

Every threshold a reader may want to change ("you set the trust threshold") is declared here once.
Values come from, in order: the defaults below, ``DIR/govlib.json`` in the data dir (a JSON object of
``name: value``), then environment variables ``GOVLIB_<NAME>`` (upper case).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Setting", "SETTINGS", "Settings", "load_settings"]


@dataclass(frozen=True)
class Setting:
    """A named setting with its default and a help string for the docs."""

    name: str
    default: Any
    help: str
    group: str = "general"


SETTINGS: tuple[Setting, ...] = (
    # --- pills -----------------------------------------------------------------------------------
    Setting(
        "pill_green_min", 0.99, "Success/accept rate at or above which a pill is green.", "pills"
    ),
    Setting(
        "pill_amber_min", 0.95, "Rate at or above which a pill is amber (below: red).", "pills"
    ),
    # --- SPC windows ------------------------------------------------------------------------------
    Setting("spc_window", 500, "Newest calls per tool used for control limits and charts.", "spc"),
    Setting(
        "spc_recent", 60, "Newest calls compared against the window (sparkline, drift).", "spc"
    ),
    Setting("spc_min_latency_ms", 1.0, "Latencies below this count as this before log().", "spc"),
    Setting(
        "spc_stats_window",
        500,
        "Newest calls (runs) the p50/p95/avg/max columns cover; the period's figures on hover.",
        "spc",
    ),
    # --- sampling ladder --------------------------------------------------------------------------
    Setting(
        "sampling_min_calls", 30, "Below this many calls every call is reviewed (100%).", "sampling"
    ),
    Setting(
        "sampling_20_min_calls", 100, "Calls needed before sampling can drop to 20%.", "sampling"
    ),
    Setting(
        "sampling_exception_min_calls", 500, "Calls needed for exception-only review.", "sampling"
    ),
    Setting(
        "sampling_min_reviews", 5, "Reviews needed before sampling can go below 20%.", "sampling"
    ),
    Setting(
        "sampling_min_accept",
        0.95,
        "Acceptance rate needed before sampling goes below 20%.",
        "sampling",
    ),
    Setting(
        "sampling_exception_wilson_lb",
        0.95,
        "Wilson 95% one-sided lower bound of acceptance needed for exception-only review.",
        "sampling",
    ),
    Setting(
        "sampling_red_accept_min_reviews",
        5,
        "Reviews needed before a red accept rate forces 100% review.",
        "sampling",
    ),
    Setting(
        "sampling_schema_valid_min",
        0.99,
        "Schema-valid rate needed before sampling drops to 20% (red: 100%).",
        "sampling",
    ),
    Setting(
        "sampling_completion_min",
        0.98,
        "Workflow completion rate needed before sampling drops to 20% (red: 100%).",
        "sampling",
    ),
    Setting(
        "sampling_alarm_rule1_fires",
        3,
        "Rule-1 fires among the recent calls (baseline limits) that send a tool to 100%.",
        "sampling",
    ),
    Setting(
        "sampling_alarm_total_fires",
        12,
        "Rule fires of any rule among the recent calls (baseline limits) that send it to 100%.",
        "sampling",
    ),
    Setting(
        "sampling_alarm_p",
        0.005,
        "Binomial tail probability under which recent failures send a tool to 100%.",
        "sampling",
    ),
    Setting(
        "sampling_alarm_min_failure_rate",
        0.005,
        "Floor of the baseline failure rate the failure alarm assumes.",
        "sampling",
    ),
    Setting(
        "sampling_alarm_baseline_p",
        0.05,
        "The failure alarm uses the earlier calls' own failure rate instead of the floor only "
        "when their failures are this unlikely at the floor's rate (binomial upper tail).",
        "sampling",
    ),
    # --- drift badge ------------------------------------------------------------------------------
    Setting(
        "drift_success_drop_pp", 2.0, "Success-rate drop (percentage points) that fires.", "drift"
    ),
    Setting(
        "drift_p95_ratio_high", 1.5, "Recent p95 above this times baseline p95 fires.", "drift"
    ),
    Setting("drift_p95_ratio_low", 0.5, "Recent p95 below this times baseline p95 fires.", "drift"),
    Setting(
        "drift_rule1_fires",
        2,
        "Rule-1 fires among the recent calls that fire the rule signal.",
        "drift",
    ),
    Setting(
        "drift_total_fires",
        8,
        "Total rule fires among the recent calls that fire the signal.",
        "drift",
    ),
    # --- capture ----------------------------------------------------------------------------------
    Setting("default_tenant", "default", "Tenant recorded when a call names none.", "capture"),
    Setting(
        "emitter_queue_size",
        10000,
        "Bounded emitter queue; overflow is dropped and counted.",
        "capture",
    ),
    Setting("emitter_batch_size", 500, "Rows the emitter writes per transaction.", "capture"),
    Setting(
        "emitter_flush_interval_s",
        0.2,
        "Seconds the emitter waits before flushing a partial batch.",
        "capture",
    ),
    Setting("checkpoint_every", 1000, "Sign a WORM checkpoint every N entries.", "capture"),
    Setting(
        "max_clock_skew_s",
        300,
        "Seconds a written time may lie ahead of this machine's clock; a later time (a tool "
        "call, receipt, span, verdict or run dated in the future) is refused, and a report "
        "period ends at the newest event no later than now plus this. See the Bounds table in "
        "data_model.md.",
        "capture",
    ),
    Setting(
        "checkpoint_mirror",
        "",
        "Second place each signed checkpoint goes to as it is made: a path on another disk or "
        "mount (a file, or a folder that gets checkpoints.jsonl) or an https:// URL (lines "
        "POSTed as JSON; a GET answers them). Empty: no mirror. Check with `govlib verify --mirror`.",
        "capture",
    ),
    # --- retention --------------------------------------------------------------------------------
    Setting(
        "retention_hot_days",
        90,
        "Days evidence stays in the live SQLite store: `govlib seal` without --before seals "
        "whole days older than this into DIR/archive/. One value for every table class, because "
        "the WORM log is sealed as a prefix with every row it binds.",
        "retention",
    ),
    Setting(
        "retention_tool_calls_days",
        2555,
        "Days a sealed segment's tool calls (audit_log) are kept before `govlib purge` may "
        "delete the segment (2555 days = 7 years).",
        "retention",
    ),
    Setting(
        "retention_receipts_days",
        2555,
        "Days a sealed segment's cost receipts (token_ledger) are kept before purge.",
        "retention",
    ),
    Setting(
        "retention_governance_days",
        2555,
        "Days a sealed segment's governance events (WORM entries, kill-switch events, runs) are "
        "kept before purge.",
        "retention",
    ),
    Setting(
        "retention_verdicts_days",
        2555,
        "Days a sealed segment's human verdicts (verdict_events) are kept before purge. A "
        "segment may be purged once it is older than the longest period of the classes it holds.",
        "retention",
    ),
    Setting(
        "legal_hold_tenants",
        "",
        "Comma-separated tenants under legal hold: `govlib purge` refuses any segment holding "
        "their rows.",
        "retention",
    ),
    Setting(
        "legal_hold_runs",
        "",
        "Comma-separated run ids (composition ids) under legal hold: `govlib purge` refuses any "
        "segment holding them.",
        "retention",
    ),
    # --- apps -------------------------------------------------------------------------------------
    Setting("serve_port", 8866, "Port of `govlib serve`.", "apps"),
    Setting("serve_host", "127.0.0.1", "Interface `govlib serve` binds.", "apps"),
    Setting(
        "kernel_pool_size",
        2,
        "Preheated kernels kept ready per app (0: none). Filled one per app first, then a second "
        "per app, so the first visitor is served first; a preheated page reads its data when it "
        "is requested.",
        "apps",
    ),
    Setting(
        "kernel_pool_stagger_s",
        1.5,
        "Seconds after a preheated kernel is warm before the next starts (kernels warm one at "
        "a time, so a small machine is not swamped and the first visitor is served first).",
        "apps",
    ),
    Setting(
        "max_kernels",
        8,
        "Most kernels at once, pools included; a visitor beyond it gets a 'busy, retry' page "
        "(HTTP 503) instead of a new kernel.",
        "apps",
    ),
    Setting(
        "kernel_closed_tab_s",
        60,
        "A closed tab's kernel (no connection left) is shut down within this many seconds.",
        "apps",
    ),
    Setting(
        "allowed_hosts",
        "localhost,localhost.localdomain,ip6-localhost,ip6-loopback",
        "Comma-separated host names a loopback `govlib serve` answers (the request's Host header; "
        "loopback addresses are always answered, any other Host gets 403 against DNS "
        "rebinding). Add the public name of a reverse proxy that forwards to it.",
        "apps",
    ),
    # --- scale ------------------------------------------------------------------------------------
    Setting(
        "stats_table",
        "",
        "A folder written by `govlib stats --format parquet --out PATH` (tools.parquet, "
        "workflows.parquet), e.g. computed by Spark on a cluster: the SPC dashboard's tool and "
        "workflow tables read it instead of computing over this store (the tenant and period "
        "filters do not apply to it). Empty: computed here.",
        "scale",
    ),
    # --- alerts (the "alerts" group is recorded in the chain: it decides when an alert is raised;
    # "alert_delivery" is not: where alerts go holds webhook URLs that are secrets) -------------
    Setting(
        "alert_destinations",
        [],
        "Where alerts go: a list of destinations, each an object with `id`, `type` (`webhook`, "
        "`slack`, `teams` or `email`), `url` (or `address` and `smtp` HOST:PORT with `starttls` "
        "for e-mail), `secret_file` (webhook), `on` (the alert kinds it receives: kill_switch, "
        "chain, drift, pill, sampling, backlog, budget, ingest) and optionally `owners` (drift, "
        "pill and sampling alerts of a tool with an owner go only to destinations naming that "
        "owner or naming none). Managed with `govlib alerts add/remove`; see alerts.md.",
        "alert_delivery",
    ),
    Setting(
        "alert_tool_owners",
        {},
        "Who owns each tool when the tool registry names no owner (`ToolRegistry.register(..., "
        "owner=...)` wins): an object `{tool_name: owner}`. Drift, pill and sampling alerts of "
        "an owned tool go to the destinations whose `owners` list names the owner (and to "
        "those without an `owners` list).",
        "alert_delivery",
    ),
    Setting(
        "alert_quiet_hours",
        "",
        "HH:MM-HH:MM (UTC, may wrap midnight) during which alerts other than kill-switch and "
        "chain alerts are held back and raised when the quiet hours end (if still true). Empty: "
        "none.",
        "alerts",
    ),
    Setting(
        "alert_hold_down_s",
        300.0,
        "Seconds a new drift, pill, sampling, backlog or budget state must hold before it is "
        "raised: a condition flapping around a threshold raises at most one alert per change "
        "that lasted this long. Kill-switch and chain alerts are raised at once.",
        "alerts",
    ),
    Setting("alert_watch_every_s", 10.0, "Seconds between two looks of `govlib watch`.", "alerts"),
    Setting(
        "alert_verify_every_s",
        300.0,
        "Seconds between two full verifications by `govlib watch` (between them it checks the "
        "chain incrementally, from the last verified entry).",
        "alerts",
    ),
    Setting(
        "alert_backlog_age_h",
        24.0,
        "Hours after which an unreviewed tool call counts towards the review backlog.",
        "alerts",
    ),
    Setting(
        "alert_backlog_max",
        1000,
        "Unreviewed calls older than `alert_backlog_age_h` above which a backlog alert is raised.",
        "alerts",
    ),
    Setting(
        "alert_budget_day_usd",
        0.0,
        "Spend per UTC day (all receipts) above which a budget alert is raised; 0: no budget.",
        "alerts",
    ),
    Setting(
        "alert_budget_workflow_usd",
        {},
        "Spend per UTC day per workflow above which a budget alert is raised: an object "
        "`{workflow_id: usd}`.",
        "alerts",
    ),
    Setting(
        "alert_budget_model_usd",
        {},
        "Spend per UTC day per model above which a budget alert is raised: an object "
        "`{model: usd}`.",
        "alerts",
    ),
    Setting(
        "alert_timeout_s",
        10.0,
        "Seconds one delivery attempt may take (HTTP or SMTP).",
        "alert_delivery",
    ),
    Setting(
        "alert_retry_base_s",
        2.0,
        "First retry delay of a failed delivery; each further retry doubles it (with jitter: "
        "a random 50-100% of the delay).",
        "alert_delivery",
    ),
    Setting(
        "alert_retry_max_s", 300.0, "Longest delay between two delivery attempts.", "alert_delivery"
    ),
    Setting(
        "alert_give_up_after_s",
        86400.0,
        "Seconds after which an undelivered alert is given up (recorded in the WORM log as "
        "`alert_given_up`).",
        "alert_delivery",
    ),
    Setting(
        "alert_outbox_max",
        10000,
        "Most alerts waiting for delivery; beyond it the oldest waiting ones are given up "
        "(recorded) so the outbox stays bounded.",
        "alert_delivery",
    ),
    Setting(
        "alert_summary_every_s",
        86400.0,
        "Seconds between two 'alive' summaries `govlib watch` sends to every destination.",
        "alerts",
    ),
    Setting(
        "alert_heartbeat_stale_s",
        600.0,
        "`govlib alerts check-heartbeat` raises an alert when `govlib watch` last looked at the "
        "store longer ago than this.",
        "alerts",
    ),
    Setting(
        "base_url",
        "http://localhost:8866",
        "Address of `govlib serve` as the people alerted reach it: links in alerts start with it.",
        "alert_delivery",
    ),
    Setting("smtp_from", "govlib@localhost", "Sender address of alert e-mails.", "alert_delivery"),
    Setting("smtp_user", "", "SMTP login for alert e-mails (empty: no login).", "alert_delivery"),
    Setting(
        "smtp_password_file",
        "",
        "File holding the SMTP password (UTF-8, surrounding whitespace ignored); the "
        "environment variable GOVLIB_SMTP_PASSWORD wins over it.",
        "alert_delivery",
    ),
    Setting(
        "smtp_cafile",
        "",
        "CA bundle that verifies the SMTP server's certificate under STARTTLS (empty: the "
        "system's).",
        "alert_delivery",
    ),
    # --- sign-in (issue 19) ----------------------------------------------------------------------
    Setting(
        "session_hours",
        8.0,
        "Hours a sign-in to `govlib serve --auth tokens` lasts (the session cookie's Max-Age).",
        "apps",
    ),
    Setting(
        "auth_failures_before_delay",
        5,
        "Bad personal tokens from one address (sign-in page or API) before each further attempt "
        "is answered only after a delay (1 s, 2 s, 4 s ... up to 30 s).",
        "apps",
    ),
    Setting(
        "auth_failure_window_s",
        300.0,
        "Seconds a bad personal token counts against its address.",
        "apps",
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


class Settings:
    """Resolved settings; read values as attributes (``settings.pill_green_min``).

    Example:
        >>> Settings().pill_green_min
        0.99
    """

    def __init__(self, **overrides: Any) -> None:
        values = {s.name: s.default for s in SETTINGS}
        for name, value in overrides.items():
            if name not in _BY_NAME:
                raise ValueError(f"unknown setting {name!r}; expected one of {sorted(_BY_NAME)}")
            values[name] = _coerce(_BY_NAME[name], value)
        self._values = values

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def as_dict(self) -> dict[str, Any]:
        """All values by name."""
        return dict(self._values)

    def replace(self, **overrides: Any) -> Settings:
        """A copy with some values changed."""
        return Settings(**{**self._values, **overrides})


def _coerce(setting: Setting, value: Any) -> Any:
    kind = type(setting.default)
    if isinstance(value, str) and kind is not str:
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(
                f"setting {setting.name}: {value!r} is not a valid {kind.__name__}"
            ) from None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool) != isinstance(setting.default, bool):
        raise ValueError(f"setting {setting.name}: {value!r} is not a {kind.__name__}")
    return value


def load_settings(data_dir: str | os.PathLike[str] | None = None) -> Settings:
    """Defaults, then ``DIR/govlib.json``, then ``GOVLIB_<NAME>`` environment variables.

    Example:
        >>> load_settings().spc_window
        500
    """
    overrides: dict[str, Any] = {}
    if data_dir is not None:
        path = Path(data_dir) / "govlib.json"
        if path.exists():
            try:
                loaded = json.loads(path.read_text())
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}: not valid JSON ({exc})") from None
            if not isinstance(loaded, dict):
                raise ValueError(f"{path}: expected a JSON object of setting: value")
            overrides.update(loaded)
    for s in SETTINGS:
        env = os.environ.get(f"GOVLIB_{s.name.upper()}")
        if env is not None:
            overrides[s.name] = env
    return Settings(**overrides)
