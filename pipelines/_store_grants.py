"""The tables a writing command writes in the decision store's database, and whether its role may write them —
checked before the command's work (PostgreSQL roles: a least-privilege role holds SELECT and INSERT only, and cannot
create a table), and the auxiliary tables created by the store's owner (``agcredit audit upgrade-store``).

The store's own tables (``agc_decisions``, ``agc_meta``) and the auxiliary ones agcredit keeps beside them: the
checkpoint log (``reunderwrite --due``), the plain runs' log (``reunderwrite --as-of``) and the shadow decisions
(a challenger's, written by ``underwrite`` and ``reunderwrite``). A table that is missing is created on first use by a
role that may create it (a SQLite file's writer, the owner); for any other role a missing table, or one it may not
INSERT into, is refused up front in one line naming the table, the privilege and the fix — nothing computed, nothing
written (it had failed only after all the run's work, or lost a challenger's rows to a warning)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

#: the store's own tables (underwriting._store_schema): every writer writes them
CORE_TABLES = ("agc_decisions", "agc_meta")


def aux_tables(meta: sa.MetaData) -> list[sa.Table]:
    """The auxiliary tables in ``meta``: the checkpoint log's two, the plain runs' two, the shadow decisions'."""
    from pipelines.schedule import checkpoint_tables, plain_tables
    from underwriting._store_shadow import shadow_table

    return [*checkpoint_tables(meta), *plain_tables(meta), shadow_table(meta)]


def _names(tables: Sequence[sa.Table]) -> list[str]:
    return [t.name for t in tables]


def checkpoint_names() -> list[str]:
    from pipelines.schedule import checkpoint_tables

    return _names(checkpoint_tables(sa.MetaData()))


def plain_names() -> list[str]:
    from pipelines.schedule import plain_tables

    return _names(plain_tables(sa.MetaData()))


def shadow_names() -> list[str]:
    from underwriting._store_shadow import shadow_table

    return _names([shadow_table(sa.MetaData())])


def create_aux_tables(url: str) -> list[str]:
    """Create the auxiliary tables missing from the store at ``url`` (its owner: ``audit upgrade-store``), in one
    transaction; the names created (none: all there)."""
    from underwriting._store_schema import make_engine
    from underwriting.store import store_error

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            have = set(sa.inspect(conn).get_table_names())
            made = [t for t in aux_tables(sa.MetaData()) if t.name not in have]
            for t in made:
                t.create(conn)
        return [t.name for t in made]
    except sa.exc.SQLAlchemyError as e:
        raise store_error(url, e) from None
    finally:
        engine.dispose()


def create_postgres_store(url: str) -> bool:
    """Create the store's own tables, guard triggers and version rows in a PostgreSQL database holding none (its
    owner: ``audit upgrade-store``, so that a least-privilege role can write the first records); whether it did. A
    SQLite store, or a database holding the store: nothing done (a mistyped SQLite path creates no file)."""
    from underwriting._store_schema import make_engine
    from underwriting.store import DecisionStore, store_error

    if not url.startswith("postgresql"):
        return False
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if sa.inspect(conn).has_table(CORE_TABLES[0]) or sa.inspect(conn).has_table(CORE_TABLES[1]):
                return False
    except sa.exc.SQLAlchemyError as e:
        raise store_error(url, e) from None
    finally:
        engine.dispose()
    DecisionStore(url).close()
    return True


def challenger_present() -> bool:
    """Whether the registry names a ``challenger`` of a model run in shadow (cheap: aliases only); a registry that
    cannot say: False (the run says so when it tries)."""
    from pipelines.shadow import SHADOW_ALIAS, SHADOW_MODELS

    try:
        from models.registry import alias_version

        return any(alias_version(name, SHADOW_ALIAS) is not None for name in SHADOW_MODELS)
    except Exception:
        return False


def require_writable(url: str, tables: Sequence[str], command: str, *, store_may_be_new: bool = False) -> None:
    """Refuse, before any work, a run of ``command`` whose role cannot write ``tables`` of the PostgreSQL store at
    ``url``: a table missing that the role may not create (no CREATE on its schema), or present without INSERT (or
    SELECT) for the role — one line naming the table, the privilege and the fix, nothing written. The store's own
    tables missing: left to the store's own error (no store there), unless ``store_may_be_new`` (``underwrite``
    creates the store with its first records — when the role may). SQLite stores: nothing to check (the file's
    writer creates what it writes)."""
    from underwriting._store_schema import make_engine
    from underwriting.errors import StoreError
    from underwriting.store import safe_url, store_error

    if not url.startswith("postgresql"):
        return
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            role, schema = conn.execute(sa.text("SELECT current_user, current_schema()")).one()
            if not store_may_be_new and not all(
                    conn.scalar(sa.text("SELECT to_regclass(:t) IS NOT NULL"), {"t": t}) for t in CORE_TABLES):
                return  # no store there: the store's own error says so
            may_create = bool(conn.scalar(sa.text("SELECT has_schema_privilege(current_schema(), 'CREATE')")))
            for t in tables:
                there = conn.scalar(sa.text("SELECT to_regclass(:t) IS NOT NULL"), {"t": t})
                if not there:
                    if may_create:
                        continue
                    what = ("the store has no tables yet" if t in CORE_TABLES else f"table {t} does not exist")
                    raise StoreError(url=safe_url(url), problem=(
                        f"{what} and role {role} may not create {t} (no CREATE on schema {schema}); `{command}` "
                        "writes it — the store's owner creates every agcredit table first: `agcredit audit "
                        "upgrade-store --store URL` as the owner, then GRANT SELECT, INSERT on them to "
                        f"{role}; nothing was computed or written"))
                lacks = [p for p in ("SELECT", "INSERT") if not conn.scalar(
                    sa.text("SELECT has_table_privilege(:t, :p)"), {"t": t, "p": p})]
                if lacks:
                    raise StoreError(url=safe_url(url), problem=(
                        f"role {role} lacks {' and '.join(lacks)} on table {t}, which `{command}` writes — the "
                        f"store's owner grants it: GRANT SELECT, INSERT ON {t} TO {role}; nothing was computed or "
                        "written"))
    except sa.exc.SQLAlchemyError as e:
        raise store_error(url, e) from None
    finally:
        engine.dispose()


def check_command(url: str, command: str, *, shadow: bool, due: bool = False, plain: bool = False,
                  store_may_be_new: bool = False) -> list[str]:
    """:func:`require_writable` for a writing command: the store's tables, ``due``'s checkpoint log, ``plain``'s run
    log, and with ``shadow`` and a challenger in the registry the shadow table. Returns the tables checked."""
    tables = [*CORE_TABLES, *(checkpoint_names() if due else []), *(plain_names() if plain else [])]
    if shadow and url.startswith("postgresql") and challenger_present():
        tables += shadow_names()
    require_writable(url, tables, command, store_may_be_new=store_may_be_new)
    return tables
