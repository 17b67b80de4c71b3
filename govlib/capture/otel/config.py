"""Options of OpenTelemetry ingestion (``govlib ingest otel`` and ``GovlibSpanProcessor``)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from govlib.errors import GovlibError

__all__ = ["IngestConfig", "OtelConfigError", "with_default_tenant"]


class OtelConfigError(GovlibError):
    """An ingest option is unusable; the message names the option and the value."""


@dataclass(frozen=True)
class IngestConfig:
    """How spans map to rows (the ``govlib ingest otel`` options).

    Attributes are looked up on the span first, then on its resource, except ``actor_attribute``
    (resource first). ``default_tenant`` None means ``Settings.default_tenant`` of the store.

    Example:
        >>> IngestConfig.from_options(accept_label=("pass", "good")).accept_labels
        ('pass', 'good')
    """

    tenant_attribute: str = "tenant.id"
    default_tenant: str | None = None
    actor_attribute: str = "service.name"
    schema_valid_attribute: str = "govlib.schema_valid"
    accept_labels: tuple[str, ...] = ("pass",)
    reject_labels: tuple[str, ...] = ("fail",)
    evaluator_attribute: str = "gen_ai.evaluation.name"
    input_includes_cache: bool = True
    prices: Any = None  # a govlib.costs.pricing.PriceTable; None = the packaged table

    def __post_init__(self) -> None:
        for name in ("tenant_attribute", "actor_attribute", "schema_valid_attribute"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise OtelConfigError(f"{name}: {value!r}; expected an attribute name")
        accept = {str(x).strip().lower() for x in self.accept_labels}
        reject = {str(x).strip().lower() for x in self.reject_labels}
        both = sorted(accept & reject)
        if both:
            raise OtelConfigError(
                f"accept_labels/reject_labels: {both[0]!r} is in both; expected each label in "
                "at most one of them"
            )

    @classmethod
    def from_options(cls, **options: Any) -> IngestConfig:
        """A config from CLI-style options (``accept_label``/``reject_label`` may repeat).

        Example:
            >>> IngestConfig.from_options(default_tenant="acme").default_tenant
            'acme'
        """
        names = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in options.items():
            target = {"accept_label": "accept_labels", "reject_label": "reject_labels"}.get(
                key, key
            )
            if target not in names:
                raise OtelConfigError(
                    f"{key}: not an ingest option; expected one of {sorted(names)}"
                )
            if target.endswith("_labels"):
                value = tuple(value) if not isinstance(value, str) else (value,)
            if value is not None:
                values[target] = value
        return cls(**values)

    def verdict_for(self, label: Any) -> str | None:
        """``accept``/``reject`` for an evaluation label (case-insensitive), or None.

        Example:
            >>> IngestConfig().verdict_for("FAIL")
            'reject'
        """
        text = str(label).strip().lower()
        if text in {str(x).strip().lower() for x in self.accept_labels}:
            return "accept"
        if text in {str(x).strip().lower() for x in self.reject_labels}:
            return "reject"
        return None


def with_default_tenant(config: IngestConfig, tenant: str) -> IngestConfig:
    """The config with ``default_tenant`` filled in when it is None.

    Example:
        >>> with_default_tenant(IngestConfig(), "acme").default_tenant
        'acme'
    """
    return config if config.default_tenant else replace(config, default_tenant=tenant)
