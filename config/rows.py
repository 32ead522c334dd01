"""Model instances from rows of hand-written SQL, for the few hot paths where building the query with the ORM
costs more Python time than the database takes to run it (the annotation API's claim and writes).

``ModelColumns(Task, "t").sql`` is the select list of a model's concrete columns under an alias;
``.build(values)`` turns those values of a row into an instance as the ORM would (the database's converters
applied: SQLite's datetimes, JSON fields), so ``save()`` and the serializers treat it like any other.
"""
from django.db import connection


class ModelColumns:
    def __init__(self, model, alias):
        self.model = model
        self.fields = model._meta.concrete_fields
        self.sql = ", ".join(f"{alias}.{connection.ops.quote_name(field.column)}" for field in self.fields)
        self._converters = {}

    def __len__(self):
        return len(self.fields)

    def _converters_for(self, conn):
        if conn.vendor not in self._converters:
            table = self.model._meta.db_table
            converters = []
            for field in self.fields:
                column = field.get_col(table)
                found = conn.ops.get_db_converters(column) + column.get_db_converters(conn)
                converters.append((column, found))
            self._converters[conn.vendor] = converters
        return self._converters[conn.vendor]

    def build(self, values):
        """An instance of the model from its columns' values (in ``sql``'s order), as loaded from the database."""
        converted = []
        for value, (column, converters) in zip(values, self._converters_for(connection)):
            for converter in converters:
                value = converter(value, column, connection)
            converted.append(value)
        return self.model.from_db(connection.alias, None, converted)


def _prepared(instance, fields, *, add):
    """The values ``fields`` of ``instance`` store, as ``Model.save`` prepares them (``auto_now`` set on the
    instance, defaults and adapters applied)."""
    return [field.get_db_prep_save(field.pre_save(instance, add), connection) for field in fields]


def rows_insert(instances) -> None:
    """INSERT ``instances`` (of one model, unsaved) in one statement and set their primary keys, as
    ``bulk_create`` does without its per-call query building. Needs a database that returns inserted columns
    (PostgreSQL, SQLite 3.35+), and relies, as ``bulk_create`` does there, on RETURNING following VALUES' order."""
    if not instances:
        return
    meta = instances[0]._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = (f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "
           f"VALUES {', '.join([row] * len(instances))} RETURNING {quote(meta.pk.column)}")
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for instance in instances for value in _prepared(instance, fields, add=True)])
        for instance, (pk,) in zip(instances, cursor.fetchall()):
            instance.pk = pk
            instance._state.adding, instance._state.db = False, connection.alias


def row_update(instance, field_names) -> None:
    """UPDATE the columns ``field_names`` of ``instance`` (``auto_now`` fields among them set to now), as
    ``save(update_fields=...)`` does without its per-call query building."""
    meta = instance._meta
    fields = [meta.get_field(name) for name in field_names]
    quote = connection.ops.quote_name
    sql = (f"UPDATE {quote(meta.db_table)} SET {', '.join(quote(field.column) + ' = %s' for field in fields)} "
           f"WHERE {quote(meta.pk.column)} = %s")
    with connection.cursor() as cursor:
        cursor.execute(sql, [*_prepared(instance, fields, add=False), instance.pk])
