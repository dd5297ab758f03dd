"""The same schema, rows and queries on the current ClickHouse engine (PyPI chdb-core,
in-process): what the tests compare with the 18.16 server's answers.

    python3 chdb_run.py schema.sql queries.sql rows.ndjson

rows.ndjson holds rows of glance.records as the ingest service inserts them. Prints one JSON
object: query name to its rows.
"""
import json
import re
import sys
import tempfile

from chdb import session

from apply import statements


def named_queries(path):
    text = open(path, encoding="utf-8").read()
    parts = re.split(r"^-- name: (\w+)\s*$", text, flags=re.M)
    return {name: body.strip().rstrip(";") for name, body in zip(parts[1::2], parts[2::2])}


def main():
    schema, queries, rows = sys.argv[1:4]
    with tempfile.TemporaryDirectory() as data:
        db = session.Session(data)
        for sql in statements(schema):
            db.query(sql)
        body = open(rows, encoding="utf-8").read()
        if body.strip():
            db.query("INSERT INTO glance.records FORMAT JSONEachRow " + body)
        out = {}
        for name, sql in named_queries(queries).items():
            text = str(db.query(sql, "JSONEachRow"))
            out[name] = [json.loads(line) for line in text.splitlines() if line.strip()]
        print(json.dumps(out))


if __name__ == "__main__":
    main()
