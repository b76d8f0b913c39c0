"""Bulk book generation for the benchmarks: one INSERT ... SELECT per table (PostgreSQL)."""

import json


def insert_series(cursor, model, count: int, exprs: dict[str, str], params: dict | None = None,
                  source: str | None = None) -> None:
    """INSERT rows of `model` from `source` (default generate_series(1, count) AS g): columns in
    `exprs` get those SQL expressions, every other column its model default (or NULL / ""), so the
    bench keeps working when another area adds a column with a default."""
    from django.db.models import NOT_PROVIDED

    columns, values, bound = [], [], dict(params or {})
    for field in model._meta.concrete_fields:
        if field.primary_key and field.column not in exprs:
            continue
        columns.append(field.column)
        if field.column in exprs:
            values.append(exprs[field.column])
            continue
        if field.get_internal_type() == "JSONField":
            value = json.dumps(field.get_default() if field.has_default() else None)
        elif field.has_default() or field.default is not NOT_PROVIDED:
            value = field.get_db_prep_save(field.get_default(), connection=cursor.db)
        elif field.null:
            value = None
        elif field.get_internal_type() in ("CharField", "TextField", "SlugField", "EmailField"):
            value = ""
        else:
            raise SystemExit(f"{model.__name__}.{field.name} needs a value in the bench")
        name = f"p_{field.column}"
        bound[name] = value
        cast = "::jsonb" if field.get_internal_type() == "JSONField" else ""
        values.append(f"%({name})s{cast}")
    cursor.execute(
        f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) "
        f"SELECT {', '.join(values)} FROM {source or f'generate_series(1, {int(count)}) AS g'}",
        bound,
    )
