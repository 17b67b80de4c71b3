"""The model client of ClaimsFlow: an interface, an offline deterministic default, a provider adapter.

No network and no API key, ever. :class:`EstimatingModelClient` answers locally with a
deterministic responder and *estimates* the token counts of the text it reads and writes::

    tokens(text) = ceil(len(text.encode("utf-8")) / 4)        # ~4 bytes per token

for the prompt (input) and the answer (output); its receipts carry ``usage_source='estimated'``.
:class:`ProviderModelClient` is the adapter point for a real provider: it wraps any callable that
returns the answer text and the provider's *reported* usage (:class:`ProviderUsage`, built from an
OpenAI- or Anthropic-style usage mapping); its receipts carry ``usage_source='provider'``.
:func:`record_usage` writes a reply's usage to the token ledger.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from govlib.errors import GovlibError

__all__ = [
    "BYTES_PER_TOKEN",
    "ModelUsage",
    "ModelReply",
    "ModelClient",
    "ProviderUsage",
    "ProviderModelClient",
    "EstimatingModelClient",
    "ModelUsageError",
    "estimate_tokens",
    "offline_answer",
    "record_usage",
]

BYTES_PER_TOKEN = 4


class ModelUsageError(GovlibError):
    """A provider's usage report cannot be read; the message names the field and the value."""


def estimate_tokens(text: str) -> int:
    """Estimated tokens of a text: ``ceil(len(utf-8 bytes) / 4)``.

    Example:
        >>> estimate_tokens("abcdefghi"), estimate_tokens("")
        (3, 0)
    """
    return math.ceil(len(text.encode("utf-8")) / BYTES_PER_TOKEN)


@dataclass(frozen=True)
class ModelUsage:
    """Token usage of one model call, and where the counts come from.

    Example:
        >>> ModelUsage(120, 30).usage_source
        'estimated'
    """

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    usage_source: str = "estimated"


@dataclass(frozen=True)
class ModelReply:
    """A model's answer text with its model name and usage.

    Example:
        >>> ModelReply("ok", "claude-haiku-4-5", ModelUsage(1, 1)).model
        'claude-haiku-4-5'
    """

    text: str
    model: str
    usage: ModelUsage


class ModelClient(Protocol):
    """What ClaimsFlow needs from a model: text in, text and usage out."""

    model: str

    def complete(self, prompt: str, *, task: str) -> ModelReply:
        """Answer ``prompt`` for ``task`` (e.g. ``document_summary``)."""
        ...


def _count(usage: Mapping[str, Any], *names: str) -> int:
    for name in names:
        value = usage.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ModelUsageError(f"usage.{name}: {value!r}; expected a non-negative integer")
        return value
    return 0


@dataclass(frozen=True)
class ProviderUsage:
    """Usage as a provider reported it (the adapter point for real providers).

    Example:
        >>> ProviderUsage.from_mapping({"input_tokens": 1200, "output_tokens": 80,
        ...     "cache_read_input_tokens": 1000}).to_usage().usage_source
        'provider'
    """

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    @classmethod
    def from_mapping(cls, usage: Mapping[str, Any]) -> ProviderUsage:
        """Read an Anthropic (``input_tokens``...) or OpenAI (``prompt_tokens``...) usage object.

        OpenAI counts cached prompt tokens inside ``prompt_tokens``; they are moved to
        ``cache_read_tokens`` so no token is priced twice.

        Example:
            >>> ProviderUsage.from_mapping({"prompt_tokens": 100, "completion_tokens": 5,
            ...     "prompt_tokens_details": {"cached_tokens": 60}}).input_tokens
            40
        """
        if "prompt_tokens" in usage:
            details = usage.get("prompt_tokens_details") or {}
            cached = _count(details, "cached_tokens")
            prompt = _count(usage, "prompt_tokens")
            if cached > prompt:
                raise ModelUsageError(
                    f"usage.prompt_tokens_details.cached_tokens: {cached}; expected at most "
                    f"prompt_tokens ({prompt})"
                )
            return cls(prompt - cached, _count(usage, "completion_tokens"), cached, 0)
        if "input_tokens" not in usage or "output_tokens" not in usage:
            raise ModelUsageError(
                f"usage: keys {sorted(usage)}; expected input_tokens and output_tokens "
                "(Anthropic) or prompt_tokens and completion_tokens (OpenAI)"
            )
        return cls(
            _count(usage, "input_tokens"),
            _count(usage, "output_tokens"),
            _count(usage, "cache_read_input_tokens", "cache_read_tokens"),
            _count(usage, "cache_creation_input_tokens", "cache_write_tokens"),
        )

    def to_usage(self) -> ModelUsage:
        """As :class:`ModelUsage` with ``usage_source='provider'``."""
        return ModelUsage(
            self.input_tokens,
            self.output_tokens,
            self.cache_read_tokens,
            self.cache_write_tokens,
            usage_source="provider",
        )


def offline_answer(task: str, prompt: str) -> str:
    """The offline responder: a deterministic answer built from the ``Key: value`` lines it reads.

    ``document_summary`` answers a JSON object of the facts found; ``adjudication_rationale``
    answers a short paragraph citing the decision inputs. Any other task echoes the facts.

    Example:
        >>> offline_answer("document_summary", "Claim: CLM-1\\nTotal: USD 10.00")
        '{"claim": "CLM-1", "total": "USD 10.00"}'
    """
    facts: dict[str, str] = {}
    for line in prompt.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and value.strip() and len(key) < 40:
            facts.setdefault(key.strip().lower().replace(" ", "_"), value.strip())
    if task == "adjudication_rationale":
        parts = [f"{k.replace('_', ' ')} {v}" for k, v in facts.items()]
        return (
            "Rationale: the claim is covered by an active policy; "
            + "; ".join(parts)
            + ". The payout follows the policy terms and no rule requires a further hold."
        )
    return json.dumps(facts, ensure_ascii=False)


class EstimatingModelClient:
    """Offline deterministic model client (the default): local answers, estimated token counts.

    Parameters
    ----------
    model : str
        The model name written on receipts (must be in the price table).
    responder : callable, optional
        ``(task, prompt) -> text``; default :func:`offline_answer`.

    Example:
        >>> reply = EstimatingModelClient("claude-haiku-4-5").complete("Total: USD 1", task="x")
        >>> reply.usage.input_tokens, reply.usage.usage_source
        (3, 'estimated')
    """

    def __init__(self, model: str, responder: Callable[[str, str], str] | None = None) -> None:
        self.model = model
        self._responder = responder or offline_answer

    def complete(self, prompt: str, *, task: str) -> ModelReply:
        """Answer locally and estimate the usage of prompt and answer."""
        text = self._responder(task, prompt)
        usage = ModelUsage(estimate_tokens(prompt), estimate_tokens(text))
        return ModelReply(text=text, model=self.model, usage=usage)


class ProviderModelClient:
    """Adapter for a real provider: ``call(model, prompt, task) -> (text, usage mapping)``.

    govlib never ships a network client or a key; wire your SDK call in here and the provider's
    reported usage is recorded with ``usage_source='provider'``.

    Example:
        >>> fake = lambda model, prompt, task: ("ok", {"input_tokens": 7, "output_tokens": 1})
        >>> ProviderModelClient("claude-haiku-4-5", fake).complete("hi", task="t").usage
        ModelUsage(input_tokens=7, output_tokens=1, cache_read_tokens=0, cache_write_tokens=0, usage_source='provider')
    """

    def __init__(
        self, model: str, call: Callable[[str, str, str], tuple[str, Mapping[str, Any]]]
    ) -> None:
        self.model = model
        self._call = call

    def complete(self, prompt: str, *, task: str) -> ModelReply:
        """Call the provider and keep its reported usage."""
        text, usage = self._call(self.model, prompt, task)
        return ModelReply(
            text=text, model=self.model, usage=ProviderUsage.from_mapping(usage).to_usage()
        )


def record_usage(
    ledger: Any,
    reply: ModelReply,
    *,
    run_id: str,
    node: str,
    tenant_id: str | None = None,
    created_at: str | None = None,
) -> Any:
    """Write one reply's usage to the token ledger (:meth:`govlib.costs.ledger.Ledger.record`).

    Example:
        >>> # record_usage(Ledger(store), reply, run_id="run-1", node="adjudication")
    """
    u = reply.usage
    return ledger.record(
        run_id=run_id,
        node=node,
        model=reply.model,
        input_tokens=u.input_tokens,
        output_tokens=u.output_tokens,
        cache_read_tokens=u.cache_read_tokens,
        cache_write_tokens=u.cache_write_tokens,
        usage_source=u.usage_source,
        tenant_id=tenant_id,
        created_at=created_at,
    )
