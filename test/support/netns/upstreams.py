# Upstream services for the Envoy stand-in tests, in the rig's external namespace. Each answers
# with the local address it was reached on, so a test sees which address the proxy dialed.
#   80   HTTP/1.1 (keep-alive): /get and /status/200 -> 200, /status/N -> N, else 404; JSON body
#        {"service": "http", "local", "method", "path", "host"}
#   443  TLS (certificate from CERT/KEY), then one HTTP/1.1 request; body
#        "tls local=<ip:port> sni=<name or -> path=<path>"
#   3306 server-first: sends "banner local=<ip:port>" at once, then answers each line with "echo <line>"
# Usage: upstreams.py CERT KEY
import json
import socket
import ssl
import sys
import threading

cert, key = sys.argv[1], sys.argv[2]


def local_of(conn):
    ip, port = conn.getsockname()[:2]
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def read_head(f):
    """Request line and headers from a file object; None at a clean close."""
    line = f.readline()
    if not line:
        return None
    headers = {}
    while True:
        h = f.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        k, _, v = h.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    return line.decode("latin-1").split(" "), headers


def http(conn):
    f = conn.makefile("rb")
    while True:
        req = read_head(f)
        if req is None:
            return
        (method, target, _), headers = req
        n = int(headers.get("content-length", "0") or 0)
        if n:
            f.read(n)
        path = target.split("?", 1)[0]
        status = 200 if path == "/get" else int(path[8:]) if path.startswith("/status/") and path[8:].isdigit() else 404
        body = json.dumps({"service": "http", "local": local_of(conn), "method": method, "path": target,
                           "host": headers.get("host")}).encode() + b"\n"
        conn.sendall(f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
                     f"server: upstreams.py\r\n\r\n".encode() + (b"" if method == "HEAD" else body))
        if headers.get("connection", "").lower() == "close":
            return


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.set_alpn_protocols(["http/1.1"])
ctx.sni_callback = lambda s, name, _ctx: setattr(s, "mg_sni", name)


def tls(conn):
    s = ctx.wrap_socket(conn, server_side=True)
    f = s.makefile("rb")
    req = read_head(f)
    if req is None:
        return
    body = f"tls local={local_of(s)} sni={getattr(s, 'mg_sni', None) or '-'} path={req[0][1]}\n".encode()
    s.sendall(f"HTTP/1.1 200 OK\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n".encode() + body)
    s.close()


def banner(conn):
    conn.sendall(f"banner local={local_of(conn)}\n".encode())
    f = conn.makefile("rb")
    for line in f:
        conn.sendall(b"echo " + line)


def serve(sock, handler):
    while True:
        conn, _ = sock.accept()

        def run(c=conn):
            try:
                handler(c)
            except (OSError, ValueError, ssl.SSLError):
                pass
            finally:
                c.close()
        threading.Thread(target=run, daemon=True).start()


threads = []
for port, handler in ((80, http), (443, tls), (3306, banner)):
    for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        sock = socket.socket(family, socket.SOCK_STREAM)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(64)
        t = threading.Thread(target=serve, args=(sock, handler), daemon=True)
        t.start()
        threads.append(t)
print("ready", flush=True)
for t in threads:
    t.join()
