# One bounded TCP connection for the netns rig. Prints JSON: {"ok": true, "reply": "..."} or
# {"ok": false, "error": "ECONNREFUSED"} (errno name, or "timeout"). Usage: client.py HOST PORT SECONDS
import errno
import json
import socket
import sys

host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
try:
    with socket.create_connection((host, port), timeout=seconds) as sock:
        chunks = []
        while True:
            data = sock.recv(4096)
            if not data:
                break
            chunks.append(data)
    print(json.dumps({"ok": True, "reply": b"".join(chunks).decode().strip()}))
except socket.timeout:
    print(json.dumps({"ok": False, "error": "timeout"}))
except OSError as err:
    print(json.dumps({"ok": False, "error": errno.errorcode.get(err.errno, str(err))}))
