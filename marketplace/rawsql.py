"""Hand-built SQL for the hot paths: the key check (on every API call whose lookup is not kept,
marketplace/keycache.py), the inserts of every create, the GET of one request
(review_requests/selectors.py) and the workspace's row lock (review_requests/workspace.py).
Django's compiler spends about 0.7 ms building the SQL of a three-table key lookup and about
0.3 ms per INSERT (bench/api.py, README "API benchmark"); these statements never change, so they
are built once per model and database vendor, and only the values are prepared per call.

Both helpers work on model instances, with Django's own value preparation and conversion (so
SQLite and PostgreSQL behave the same), but skip what the hot path does not need: no
`pre_save`/`post_save` signals and no primary keys read back (models here use client-side UUIDs;
an auto-increment key stays None on the instance).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from itertools import groupby

from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.db.backends import utils


@cache
def _insert_fields(model: type[models.Model]) -> list[models.Field]:
    # Database-generated columns (auto-increment keys) are left to the database.
    return [f for f in model._meta.concrete_fields if not f.db_returning]


@cache
def _insert_statement(vendor: str, model: type[models.Model]) -> str:
    qn = connection.ops.quote_name
    fields = _insert_fields(model)
    columns = ", ".join(qn(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    # Identifiers from the model's metadata only; values always go as parameters.
    return f"INSERT INTO {qn(model._meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608


def insert_instances(instances: Sequence[models.Model]) -> None:
    """INSERT unsaved instances in the order given, all or nothing.

    One row is one statement. On PostgreSQL, when each model has one row (a single create), the
    rows go as one statement (the first models' INSERTs in a WITH clause), which is atomic by
    itself: one round trip instead of BEGIN, INSERT... and COMMIT. Its values are bound on the
    server (psycopg dumps them in C, binary, instead of quoting each into the SQL text), and
    psycopg prepares the statement once it has been run a few times on a connection. Otherwise
    each model's rows go through `executemany` inside `atomic()`, which psycopg sends as one
    pipelined round trip per model."""
    # Looked up once: the `connection` proxy looks the thread's connection up on every use.
    wrapper = connections[DEFAULT_DB_ALIAS]
    groups: list[tuple[str, list[list]]] = []
    for model, group in groupby(instances, key=type):
        fields = _insert_fields(model)
        rows = [
            [field.get_db_prep_save(field.pre_save(obj, True), wrapper) for field in fields]
            for obj in group
        ]
        groups.append((_insert_statement(wrapper.vendor, model), rows))
    one_row_each = all(len(rows) == 1 for _, rows in groups)
    if one_row_each and wrapper.vendor == "postgresql":
        with _server_binding_cursor(wrapper) as cursor:
            cursor.execute(
                _one_statement(tuple(sql for sql, _ in groups)),
                [value for _, rows in groups for value in rows[0]],
            )
    elif one_row_each and len(groups) == 1:
        with wrapper.cursor() as cursor:
            cursor.execute(groups[0][0], groups[0][1][0])
    else:
        with transaction.atomic(using=wrapper.alias), wrapper.cursor() as cursor:
            for sql, rows in groups:
                cursor.executemany(sql, rows)
    for obj in instances:
        obj._state.adding = False
        obj._state.db = wrapper.alias


@cache
def _one_statement(inserts: tuple[str, ...]) -> str:
    """PostgreSQL: the INSERTs as one statement, `%b` (binary) placeholders. Foreign keys are
    deferred to commit (Django creates them DEFERRABLE INITIALLY DEFERRED), so a row may point at
    a row inserted by a sibling clause."""
    head = ", ".join(f"i{n} AS ({sql})" for n, sql in enumerate(inserts[:-1]))
    statement = f"WITH {head} {inserts[-1]}" if head else inserts[-1]
    return statement.replace("%s", "%b")


def _server_binding_cursor(wrapper):
    """A psycopg cursor with server-side binding on Django's connection, wrapped as Django wraps
    its own (error translation, query logging, execute wrappers). Django's cursors bind on the
    client unless the whole project opts in (OPTIONS server_side_binding)."""
    import psycopg

    wrapper.ensure_connection()
    cursor = psycopg.Cursor(wrapper.connection)
    if wrapper.queries_logged:
        return utils.CursorDebugWrapper(cursor, wrapper)
    return utils.CursorWrapper(cursor, wrapper)


RowModel = type[models.Model] | tuple[type[models.Model], tuple[str, ...]]


@cache
def _model_fields(row_model: RowModel) -> tuple[type[models.Model], list[models.Field]]:
    """A model and the fields selected of it: all its concrete fields, or the attnames given
    (in the model's field order: `Model.from_db` expects that order)."""
    if isinstance(row_model, tuple):
        model, names = row_model
        return model, [f for f in model._meta.concrete_fields if f.attname in names]
    return row_model, list(row_model._meta.concrete_fields)


@cache
def attnames(row_model: RowModel) -> list[str]:
    """The attnames of `row_model`'s selected fields, in the model's order (as `from_db` takes
    them)."""
    return [f.attname for f in _model_fields(row_model)[1]]


def select_columns(row_model: RowModel, alias: str) -> str:
    """The column list for `fetch_instances`: the fields of `row_model` from `alias`."""
    qn = connection.ops.quote_name
    _model, fields = _model_fields(row_model)
    return ", ".join(f"{alias}.{qn(f.column)}" for f in fields)


def select_list(row_models: Sequence[RowModel], aliases: Sequence[str]) -> str:
    """The SELECT list for `fetch_instances` of a join: each row model's columns from its
    table's alias, in order."""
    return ", ".join(
        select_columns(row_model, alias)
        for row_model, alias in zip(row_models, aliases, strict=True)
    )


@cache
def _converters(vendor: str, row_model: RowModel) -> list[tuple]:
    # get_col, not cached_col: a foreign key's column converts as its target (a UUID on SQLite).
    model, fields = _model_fields(row_model)
    result = []
    for field in fields:
        col = field.get_col(model._meta.db_table)
        result.append(
            (col, [*connection.ops.get_db_converters(col), *col.get_db_converters(connection)])
        )
    return result


def fetch_instances(sql: str, params: Sequence, *row_models: RowModel) -> list[tuple]:
    """Run `sql`, whose SELECT list is `select_columns(row_model, ...)` for each of
    `row_models` in order, and return one tuple of instances per row, converted as Django's
    compiler would. Fields left out of a row model load on first access, as with `only()`."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    result = []
    for row in rows:
        instances = []
        start = 0
        for row_model in row_models:
            model, fields = _model_fields(row_model)
            values = list(row[start : start + len(fields)])
            start += len(fields)
            for index, (col, converters) in enumerate(_converters(connection.vendor, row_model)):
                for convert in converters:
                    values[index] = convert(values[index], col, connection)
            instances.append(model.from_db(connection.alias, attnames(row_model), values))
        result.append(tuple(instances))
    return result
