#!/usr/bin/env python3
# Slowloris figures: N+20 clients open a request head and trickle it a byte a second
# against sparkd with SPARKD_MAX_CONNECTIONS=N; prints whether a fresh /healthz is answered on the
# API port and on SPARKD_HEALTH_PORT during the flood, and when the server closes the trickling
# connections (SPARKD_HEAD_TIMEOUT_MS=5000). No database needed: sparkd serves /healthz without one.
# Usage: python3 bench/slowloris.py build/sparkd [N=1000]   (takes about 15 s)
import socket, subprocess, sys, time, os
def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
def healthz(port, timeout):
    t0 = time.monotonic()
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        d = c.recv(64); c.close()
        return (time.monotonic() - t0) * 1000 if d.startswith(b"HTTP/1.1 200") else None
    except Exception:
        return None
binary, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1000
port, hport = free_port(), free_port()
env = dict(os.environ, SPARKD_LISTEN=f"127.0.0.1:{port}", SPARKD_DATABASE_URL="postgresql://127.0.0.1:1/x",
           SPARKD_MAX_CONNECTIONS=str(n), SPARKD_MAX_CONNECTIONS_PER_CLIENT="0", SPARKD_THREADS="2",
           SPARKD_HEALTH_PORT=str(hport), SPARKD_HEAD_TIMEOUT_MS="5000", SPARKD_LOG_LEVEL="error", SPARKD_WORKERS="off")
p = subprocess.Popen([binary, "serve"], env=env, stderr=subprocess.DEVNULL)
for _ in range(100):
    if healthz(port, 0.2) is not None: break
    time.sleep(0.1)
time.sleep(0.3)
slow = []
t0 = time.monotonic()
for i in range(n + 20):
    c = socket.socket(); c.setblocking(True)
    try:
        c.connect(("127.0.0.1", port)); c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "); slow.append(c)
    except Exception: c.close()
time.sleep(0.5)
api = healthz(port, 2.0)
health = healthz(hport, 2.0)
print(f"{len(slow)} slow connections opened (SPARKD_MAX_CONNECTIONS={n}, SPARKD_HEAD_TIMEOUT_MS=5000)")
print(f"  fresh /healthz on the API port during the flood: {'%.1f ms' % api if api else 'no answer within 2 s'}")
print(f"  /healthz on SPARKD_HEALTH_PORT during the flood: {'%.1f ms' % health if health else 'no answer within 2 s'}")
# trickle one byte per second per connection; record when each is closed by the server
alive = set(range(len(slow))); closed_at = {}
while alive and time.monotonic() - t0 < 12:
    for i in list(alive):
        try:
            slow[i].setblocking(False)
            try:
                if slow[i].recv(1) == b"": raise ConnectionError
            except BlockingIOError: pass
            slow[i].send(b"a")
        except Exception:
            alive.discard(i); closed_at[i] = time.monotonic() - t0
    time.sleep(1.0)
if closed_at:
    v = sorted(closed_at.values())
    print(f"  trickling (1 byte/s): {len(v)} closed by the server, first at {v[0]:.1f} s, last at {v[-1]:.1f} s; {len(alive)} still open after 12 s")
else:
    print(f"  trickling (1 byte/s): none closed by the server after 12 s")
api = healthz(port, 2.0)
print(f"  fresh /healthz on the API port afterwards: {'%.1f ms' % api if api else 'no answer within 2 s'}")
for c in slow: c.close()
p.terminate(); p.wait(timeout=20)
