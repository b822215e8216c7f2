# A line protocol over chdb (ClickHouse in process) for Go tests: one JSON
# request per stdin line, {"sql": "...", "format": "JSONCompact"}, one JSON
# answer per stdout line, {"ok": true, "out": "..."} or {"ok": false,
# "error": "..."}. The session's data lives in argv[1] (a test's temp dir)
# and is kept across requests (USE, tables), as in one server session.
# {"engine": "duckdb", "sql": "..."} runs the query in an in-memory DuckDB
# instead (when the duckdb package is installed) and answers its rows as a
# JSON array of arrays (values that are not JSON as their str()).
import json
import sys

import chdb
from chdb import session

sess = session.Session(sys.argv[1])
print(json.dumps({"ok": True, "out": chdb.__version__ + " " + sess.query("SELECT version()", "TSV").bytes().decode().strip()}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    try:
        if req.get("engine") == "duckdb":
            import duckdb

            rows = duckdb.connect().execute(req["sql"]).fetchall()
            print(json.dumps({"ok": True, "out": json.dumps(rows, default=str)}), flush=True)
            continue
        res = sess.query(req["sql"], req.get("format") or "TSV")
        out = res.bytes().decode("utf-8", "replace") if res is not None else ""
        ans = {"ok": True, "out": out}
    except Exception as e:  # chdb raises on any server-side error
        ans = {"ok": False, "error": str(e)}
    print(json.dumps(ans), flush=True)
sess.close()
