"""Run detector SQL on in-memory Arrow tables shaped like the warehouse's stored tables."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from reelmine.data.engine import SqlRunner, sql_on_tables
from reelmine.data.schema import TABLES, stored_schema


def conform(table: pa.Table | None, name: str) -> pa.Table:
    """``table`` with every stored column of contract table ``name`` (missing ones all null).

    A raw ``ip`` column (hand-made test data) is turned into ``ip_hash`` (the address) and
    ``ip_net_hash`` (its first three octets) when the hashed columns are absent; real data
    gets keyed hashes at ingestion instead.
    """
    schema = stored_schema(TABLES[name])
    if table is None:
        return schema.empty_table()
    n = table.num_rows
    if "ip" in table.column_names and "ip_hash" not in table.column_names:
        ip = table["ip"].cast(pa.string())
        net = pc.replace_substring_regex(ip, r"\.\d+$", "")
        table = table.append_column("ip_hash", ip).append_column("ip_net_hash", net)
    cols = []
    for f in schema:
        if f.name in table.column_names:
            cols.append(table[f.name].cast(f.type))
        else:
            cols.append(pa.nulls(n, f.type))
    return pa.Table.from_arrays(cols, schema=schema)


def tables_runner(
    *,
    plays: pa.Table | None = None,
    logins: pa.Table | None = None,
    users: pa.Table | None = None,
    titles: pa.Table | None = None,
) -> SqlRunner:
    """A SQL runner over in-memory tables named like the warehouse's (missing ones empty)."""
    tables = {
        "plays": conform(plays, "plays"),
        "logins": conform(logins, "logins"),
        "users": conform(users, "users"),
        "titles": conform(titles, "titles"),
    }

    def run(sql: str) -> pa.Table:
        return sql_on_tables(sql, **tables)

    return run
