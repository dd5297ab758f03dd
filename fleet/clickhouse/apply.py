"""Runs a .sql file of ClickHouse statements, one at a time, on a server's HTTP interface or on
chdb (the current engine in-process):

    python3 apply.py http://127.0.0.1:8123/ schema.sql      a server, as its default user
    python3 apply.py chdb:DIR schema.sql                      chdb with its data in DIR

Statements end with ';' at the end of a line; comment lines are skipped.
"""
import re
import sys
import urllib.request


def statements(path):
    text = open(path, encoding="utf-8").read()
    lines = [l for l in text.splitlines() if not l.strip().startswith("--")]
    return [s.strip() for s in re.split(r";\s*$", "\n".join(lines), flags=re.M) if s.strip()]


def run_http(url, sql):
    request = urllib.request.Request(url, data=sql.encode())
    try:
        with urllib.request.urlopen(request) as response:
            return response.read().decode()
    except urllib.error.HTTPError as e:
        raise SystemExit(f"{sql[:80]}...: {e.read().decode()[:500]}")


def main():
    target, path = sys.argv[1], sys.argv[2]
    if target.startswith("chdb:"):
        from chdb import session

        db = session.Session(target[len("chdb:"):])
        for sql in statements(path):
            db.query(sql)
    else:
        for sql in statements(path):
            run_http(target, sql)


if __name__ == "__main__":
    main()
