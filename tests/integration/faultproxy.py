# SPDX-License-Identifier: MIT
# faultproxy.py - a TCP fault proxy for the integration tests (our own small Toxiproxy, which
# Debian does not package): it listens on a loopback port and forwards every connection's bytes
# to the daemon, below TLS, injecting at most one fault per connection:
#
#   Fault('pass')                      forward everything
#   Fault('cut', up=N)                 forward N bytes client -> server, then close both sides
#   Fault('cut', down=N)               forward N bytes server -> client, then close both sides
#                                      (a cut withholds a byte: at or past the last one it is
#                                      none, and a cut inside the client's closing alert, after
#                                      its answer, is recorded as the client closing)
#   Fault('delay', secs=S)             hold each burst of bytes (a TLS flight) for S seconds
#   Fault('drop_reply')                forward the TLS handshake and the whole request, let the
#                                      server answer (it has committed by then), and close the
#                                      client's side without forwarding a byte of the answer
#
# The fault for each new connection comes from proxy.plan(n) (n = 0, 1, ...; default: pass), so
# a test drives a seeded schedule. proxy.events records what happened to each connection (for
# the test's log). Python 3 standard library only; one thread per connection.

import selectors
import socket
import threading
import time

# After the server's answer starts, how long it must stay quiet before drop_reply closes.
QUIET_S = 0.3
# After a cut upwards, how long to watch for the client's FIN (see _client_finishing()).
CLOSE_WAIT_S = 0.5


class Fault:
    def __init__(self, kind='pass', up=None, down=None, secs=0.0):
        assert kind in ('pass', 'cut', 'delay', 'drop_reply'), kind
        assert kind != 'cut' or (up is None) != (down is None), 'cut needs up= or down='
        self.kind, self.up, self.down, self.secs = kind, up, down, secs

    def __repr__(self):
        if self.kind == 'cut':
            return 'cut(%s=%d)' % (('up', self.up) if self.up is not None else ('down', self.down))
        if self.kind == 'delay':
            return 'delay(%.2fs)' % self.secs
        return self.kind


class FaultProxy:
    def __init__(self, target_port, plan=None, host='127.0.0.1'):
        self.target = (host, target_port)
        self.plan = plan or (lambda n: Fault())
        self.events = []  # (connection number, fault, bytes up, bytes down, how it ended)
        self.lock = threading.Lock()
        self.count = 0
        self.closing = False
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return 'https://127.0.0.1:%d' % self.port

    def set_target(self, port):
        """Forward new connections to @port (a restarted daemon)."""
        self.target = (self.target[0], port)

    def close(self):
        self.closing = True
        try:
            self.sock.close()
        except OSError:
            pass

    def settle(self, since, timeout=5.0):
        """Wait until every connection from number @since on has ended and been recorded.
        Returns their events."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                done = [e for e in self.events if e[0] >= since]
                if len(done) >= self.count - since or time.monotonic() > deadline:
                    return sorted(done, key=lambda e: e[0])
            time.sleep(0.01)

    def faults_hit(self, kind=None):
        with self.lock:
            return [e for e in self.events if kind is None or e[1].kind == kind]

    # -- internals --

    def _accept(self):
        while not self.closing:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                n = self.count
                self.count += 1
            fault = self.plan(n)
            threading.Thread(target=self._serve, args=(n, client, fault), daemon=True).start()

    def _serve(self, n, client, fault):
        up = down = 0
        how = 'closed'
        try:
            server = socket.create_connection(self.target, timeout=10)
        except OSError as e:
            client.close()
            self._record(n, fault, 0, 0, 'no server (%s)' % e)
            return
        for s in (client, server):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.setblocking(False)
        sel = selectors.DefaultSelector()
        sel.register(client, selectors.EVENT_READ, 'up')
        sel.register(server, selectors.EVENT_READ, 'down')
        last_dir = None
        server_flights = 0      # bursts from the server, each after bytes from the client
        swallowing_since = None  # drop_reply: when the server's answer began (monotonic)
        last_swallow = None
        try:
            while True:
                timeout = 1.0
                if swallowing_since is not None:
                    quiet = time.monotonic() - last_swallow
                    if quiet >= QUIET_S:
                        how = 'reply of %d bytes dropped' % (down_dropped)
                        break
                    timeout = QUIET_S - quiet
                events = sel.select(timeout)
                if not events:
                    continue
                done = False
                for key, _ in events:
                    direction = key.data
                    src = client if direction == 'up' else server
                    dst = server if direction == 'up' else client
                    try:
                        data = src.recv(65536)
                    except (ConnectionResetError, OSError):
                        data = b''
                    if not data:
                        how = ('client' if direction == 'up' else 'server') + ' closed'
                        done = True
                        break
                    flight = direction != last_dir
                    last_dir = direction
                    if direction == 'down' and flight:
                        server_flights += 1
                    if fault.kind == 'delay' and flight:
                        time.sleep(fault.secs)
                    if fault.kind == 'drop_reply' and direction == 'down' and server_flights >= 2:
                        if swallowing_since is None:
                            swallowing_since = time.monotonic()
                            down_dropped = 0
                        last_swallow = time.monotonic()
                        down_dropped += len(data)
                        continue
                    if fault.kind == 'cut':
                        limit = fault.up if direction == 'up' else fault.down
                        sent = up if direction == 'up' else down
                        # A cut withholds at least one byte: one at the very end of what was
                        # sent so far waits for the next byte (there may be none).
                        if limit is not None and sent + len(data) > limit:
                            data = data[:max(0, limit - sent)]
                            self._send(dst, data)
                            if direction == 'up':
                                up += len(data)
                            else:
                                down += len(data)
                            how = 'cut %s after %d bytes' % (direction, limit)
                            if direction == 'up' and self._client_finishing(client):
                                how = 'client closed (its closing alert was cut)'
                            done = True
                            break
                    self._send(dst, data)
                    if direction == 'up':
                        up += len(data)
                    else:
                        down += len(data)
                if done:
                    break
        except OSError as e:
            how = 'error: %s' % e
        finally:
            sel.close()
            for s in (client, server):
                try:
                    s.close()
                except OSError:
                    pass
            self._record(n, fault, up, down, how)

    @staticmethod
    def _client_finishing(client):
        """After a cut upwards: did the client close its end at once? A client that is still
        sending or awaiting its answer does not; one that had its answer sends its closing TLS
        alert and its FIN together, so a cut inside that alert is no cut."""
        deadline = time.monotonic() + CLOSE_WAIT_S
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            r = selectors.DefaultSelector()
            r.register(client, selectors.EVENT_READ)
            ready = r.select(left)
            r.close()
            if not ready:
                return False
            try:
                if not client.recv(65536):
                    return True
            except BlockingIOError:
                continue
            except OSError:
                return True

    @staticmethod
    def _send(sock, data):
        view = memoryview(data)
        while view:
            try:
                k = sock.send(view)
                view = view[k:]
            except BlockingIOError:
                time.sleep(0.001)

    def _record(self, n, fault, up, down, how):
        with self.lock:
            self.events.append((n, fault, up, down, how))
