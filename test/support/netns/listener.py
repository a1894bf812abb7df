# Identity listener for the netns rig: answers every TCP connection with
# "<name> host=<local address> port=<local port>" and closes, so a test sees exactly which
# address and port it reached directly. Usage: listener.py NAME ADDR:PORT|[ADDR6]:PORT ...
import selectors
import socket
import sys

name = sys.argv[1]
sel = selectors.DefaultSelector()
for spec in sys.argv[2:]:
    host, _, port = spec.rpartition(":")
    if host.startswith("["):
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        host = host[1:-1]
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, int(port)))
    sock.listen(64)
    sel.register(sock, selectors.EVENT_READ)
print("ready", flush=True)

while True:
    for key, _ in sel.select():
        conn, _ = key.fileobj.accept()
        with conn:
            local = conn.getsockname()
            conn.sendall(f"{name} host={local[0]} port={local[1]}\n".encode())
