"""Example service for the Flotilla example fleet.

GET /health -> 200 "ok" when the database opens; GET / -> a greeting with a
visit counter. Configuration from the environment: SERVICE_PORT (8080),
SERVICE_BIND_ADDRESS (127.0.0.1), SERVICE_DB_PATH (./shop.db).
`--check-config` opens the database and exits.
"""
import http.server
import os
import sqlite3
import sys

PORT = int(os.environ.get("SERVICE_PORT", "8080"))
BIND = os.environ.get("SERVICE_BIND_ADDRESS", "127.0.0.1")
DB_PATH = os.environ.get("SERVICE_DB_PATH", "shop.db")


def db():
    conn = sqlite3.connect(DB_PATH)
    conn.execute("CREATE TABLE IF NOT EXISTS visits (n INTEGER)")
    return conn


class Handler(http.server.BaseHTTPRequestHandler):
    def reply(self, status, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        try:
            with db() as conn:
                if self.path == "/health":
                    conn.execute("SELECT 1")
                    return self.reply(200, "ok\n")
                conn.execute("INSERT INTO visits VALUES (1)")
                (count,) = conn.execute("SELECT COUNT(*) FROM visits").fetchone()
            self.reply(200, f"hello from shop, visit {count}\n")
        except sqlite3.Error as e:
            self.reply(503, f"database unavailable: {e}\n")


if __name__ == "__main__":
    if "--check-config" in sys.argv:
        db().close()
        print(f"config ok: database {DB_PATH}")
        sys.exit(0)
    http.server.ThreadingHTTPServer((BIND, PORT), Handler).serve_forever()
