"""Stand-ins for unit tests: the daemon, an HTTP/1.1 keep-alive server on a
free loopback port answering from a function of the request path, and a
driver without a database."""
import http.server
import json
import threading


def serve(answer, on_open=None, on_close=None):
    """Starts a server answering GET with `answer(path) -> (status, body)` (body
    as JSON); `on_open`/`on_close` are called as connections come and go.
    Returns (server, url); server.shutdown() stops it."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the daemon
        disable_nagle_algorithm = True  # headers and body go out in two writes

        def setup(self):
            super().setup()
            if on_open:
                on_open()

        def finish(self):
            super().finish()
            if on_close:
                on_close()

        def do_GET(self):
            status, body = answer(self.path)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, "http://127.0.0.1:%d" % server.server_address[1]


class NullDriver:
    """A lagrouter.Driver without a database: every call does nothing;
    subclasses make the connections they need."""

    connection_errors = (ConnectionError,)

    def connect(self, host, port):
        return port

    def usable(self, conn):
        return True

    def reset(self, conn):
        pass

    def commit(self, conn):
        pass

    def rollback(self, conn):
        pass

    def close(self, conn):
        pass

    def position(self, conn):
        return "0/1"
