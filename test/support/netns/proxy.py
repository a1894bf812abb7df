# Stand-in for the sidecar's outbound listener: accepts on 0.0.0.0:PORT and [::]:PORT and answers
# "proxy original_dst=<ip>:<port>" ([ip]:port for IPv6) with the destination the app asked for,
# read back from conntrack through SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST, as Envoy's
# original_dst listener filter does. Usage: proxy.py PORT
import selectors
import socket
import struct
import sys

SO_ORIGINAL_DST = 80  # linux/netfilter_ipv4.h; IP6T_SO_ORIGINAL_DST has the same value on SOL_IPV6
SOL_IP = 0
SOL_IPV6 = 41

port = int(sys.argv[1])
sel = selectors.DefaultSelector()
for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
    sock = socket.socket(family, socket.SOCK_STREAM)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(64)
    sel.register(sock, selectors.EVENT_READ)
print("ready", flush=True)


def original_dst(conn):
    if conn.family == socket.AF_INET:
        raw = conn.getsockopt(SOL_IP, SO_ORIGINAL_DST, 16)  # struct sockaddr_in
        dport = struct.unpack("!H", raw[2:4])[0]
        return f"{socket.inet_ntop(socket.AF_INET, raw[4:8])}:{dport}"
    raw = conn.getsockopt(SOL_IPV6, SO_ORIGINAL_DST, 28)  # struct sockaddr_in6
    dport = struct.unpack("!H", raw[2:4])[0]
    return f"[{socket.inet_ntop(socket.AF_INET6, raw[8:24])}]:{dport}"


while True:
    for key, _ in sel.select():
        conn, _ = key.fileobj.accept()
        with conn:
            try:
                reply = f"proxy original_dst={original_dst(conn)}\n"
            except OSError as err:
                reply = f"proxy original_dst=unknown ({err.strerror})\n"
            conn.sendall(reply.encode())
