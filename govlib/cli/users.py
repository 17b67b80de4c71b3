"""``govlib users``: people who sign in, their roles and tenants; and who acts at the terminal.

:func:`acting_person` is how the verbs that record a person (``govlib stamp``, ``govlib
killswitch reset``/``trigger``) know who acts: when people are configured, from a personal token
(``GOVLIB_USER_TOKEN`` or ``--token-file``), never from a free-text ``--by``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from govlib.cli.main import PathArg, clean_errors, cli, data_dir_option, token_in_file
from govlib.cli.terminal import terminal_safe
from govlib.errors import GovlibError


def _store(data_dir: Path | None, *, readonly: bool = False) -> Any:
    """Open the existing store of ``--data-dir`` (a missing one is refused, never made)."""
    from govlib.store.database import Store
    from govlib.store.datadir import existing_store_dir

    return Store(
        existing_store_dir(data_dir, writable=not readonly), create=False, readonly=readonly
    )


ROLE_CHOICE = click.Choice(["executive", "finance", "reviewer", "compliance", "admin"])


def user_token(token_file: Path | None) -> str | None:
    """The personal token: ``--token-file FILE`` or ``GOVLIB_USER_TOKEN`` (None when none)."""
    if token_file is not None:
        return token_in_file(token_file)
    return os.environ.get("GOVLIB_USER_TOKEN") or None


def acting_person(
    store: Any, by: str | None, token_file: Path | None, action: str, target: str
) -> str:
    """Who acts: the personal token's person when people are configured, else ``--by``.

    With people configured a token is required, its person must hold a role allowing
    ``action`` (a refusal is recorded), and a ``--by`` naming someone else is refused.
    """
    from govlib.governance.users import authenticate, people_configured, require, user_by_person

    if not people_configured(store):
        if not by or not by.strip():
            raise click.UsageError("--by NAME is required (no people are configured)")
        return by
    token = user_token(token_file)
    if token is None:
        raise GovlibError(
            "token: people are configured in this store; expected your personal token in "
            "GOVLIB_USER_TOKEN or --token-file FILE (not --by)"
        )
    user = authenticate(store, token)
    require(store, user, action, target, via="cli")
    user = user_by_person(store, user.person) or user
    if by and by.strip() and by.strip() != user.name:
        raise GovlibError(
            f"--by {terminal_safe(by)!r}: your token signs you in as {user.name!r}; "
            "expected no --by (the person comes from the token)"
        )
    return user.name


token_file_option = click.option(
    "--token-file",
    type=PathArg(exists=True, what="token file"),
    default=None,
    help="File holding your personal token (default: $GOVLIB_USER_TOKEN).",
)


@cli.group()
def users() -> None:
    """People who sign in to `govlib serve` and the API: roles, tenants, personal tokens."""


@users.command("add")
@data_dir_option
@click.argument("name")
@click.option("--role", "roles", multiple=True, required=True, type=ROLE_CHOICE)
@click.option("--tenant", "tenants", multiple=True, help="Limit to this tenant (repeatable).")
@clean_errors
def users_add(
    data_dir: Path | None, name: str, roles: tuple[str, ...], tenants: tuple[str, ...]
) -> None:
    """Add a person; prints their personal sign-in token once, alone on the last line.

    Only a salted hash of the token is stored: keep the printed token, it cannot be shown again.

    Example:

        govlib users add "Ana Reviewer" --role reviewer --tenant acme
    """
    from govlib.evidence.checkpoints import sign_checkpoint
    from govlib.governance.users import add_user

    with _store(data_dir) as store:
        user, token = add_user(store, name, roles, tenants or None)
        sign_checkpoint(store)
    scope = ", ".join(user.tenants) if user.tenants else "every tenant"
    click.echo(terminal_safe(f"Added {user.name}: roles {', '.join(user.roles)}; sees {scope}."))
    click.echo("Personal token (shown once; give it to the person, store it nowhere else):")
    click.echo(token)


@users.command("list")
@data_dir_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@clean_errors
def users_list(data_dir: Path | None, as_json: bool) -> None:
    """List people, their roles, tenants and status (never tokens).

    Example:

        govlib users list
    """
    from govlib.governance.users import list_users

    with _store(data_dir, readonly=True) as store:
        people = list_users(store)
    if as_json:
        click.echo(json.dumps([u.as_json() for u in people], indent=2))
        return
    if not people:
        click.echo("No people configured: `govlib serve` runs with --auth none on loopback only.")
    for u in people:
        scope = ", ".join(u.tenants) if u.tenants else "every tenant"
        fields = (u.name, ", ".join(u.roles), scope, u.status)
        click.echo("  |  ".join(terminal_safe(f) for f in fields))


@users.command("revoke")
@data_dir_option
@click.argument("name")
@clean_errors
def users_revoke(data_dir: Path | None, name: str) -> None:
    """Revoke a person: their token and sessions stop working at once.

    Example:

        govlib users revoke "Ana Reviewer"
    """
    from govlib.evidence.checkpoints import sign_checkpoint
    from govlib.governance.users import revoke_user

    with _store(data_dir) as store:
        user = revoke_user(store, name)
        sign_checkpoint(store)
    click.echo(terminal_safe(f"Revoked {user.name}: their token no longer signs in."))


@users.command("role")
@data_dir_option
@click.argument("name")
@click.argument("roles", nargs=-1, required=True, type=ROLE_CHOICE)
@clean_errors
def users_role(data_dir: Path | None, name: str, roles: tuple[str, ...]) -> None:
    """Set a person's roles (replacing the ones they had).

    Example:

        govlib users role "Ana Reviewer" reviewer compliance
    """
    from govlib.evidence.checkpoints import sign_checkpoint
    from govlib.governance.users import set_roles

    with _store(data_dir) as store:
        user = set_roles(store, name, roles)
        sign_checkpoint(store)
    click.echo(terminal_safe(f"{user.name} now has roles: {', '.join(user.roles)}."))
