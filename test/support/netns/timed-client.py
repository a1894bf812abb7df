# A bounded TCP client that measures when the first reply bytes arrive (server-first services).
# Connects, sends SEND (if given, with \n escapes) at once, then reads until LINES lines arrived,
# the peer closes or SECONDS pass.
# Prints JSON {"ok": true, "first": seconds-to-first-byte or null, "reply": "..."} or
# {"ok": false, "error": "ECONNREFUSED"}. Usage: timed-client.py HOST PORT SECONDS LINES [SEND]
import errno
import json
import socket
import sys
import time

host, port, seconds, lines = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
send = sys.argv[5].encode().decode("unicode_escape").encode() if len(sys.argv) > 5 else b""
start = time.monotonic()
try:
    sock = socket.create_connection((host, port), timeout=seconds)
except OSError as err:
    print(json.dumps({"ok": False, "error": errno.errorcode.get(err.errno, str(err))}))
    sys.exit(0)
if send:
    sock.sendall(send)
first, chunks = None, []
while True:
    left = seconds - (time.monotonic() - start)
    if left <= 0:
        break
    sock.settimeout(left)
    try:
        data = sock.recv(4096)
    except socket.timeout:
        break
    except OSError as err:
        chunks.append(f"<{errno.errorcode.get(err.errno, str(err))}>".encode())
        break
    if not data:
        break
    if first is None:
        first = time.monotonic() - start
    chunks.append(data)
    if b"".join(chunks).count(b"\n") >= lines:
        break
sock.close()
print(json.dumps({"ok": True, "first": first, "reply": b"".join(chunks).decode(errors="replace")}))
