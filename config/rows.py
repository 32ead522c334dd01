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
