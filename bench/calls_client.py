"""Sequential keep-alive GETs on one connection (bench/calls.sh): PORT COUNT PATH."""

import socket
import sys


def main() -> None:
    port, count, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    sock = socket.create_connection(("127.0.0.1", port))
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    buf = b""
    for _ in range(count):
        sock.sendall(request)
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                head = buf[:end].lower()
                length = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
                if len(buf) >= end + 4 + length:
                    if not head.startswith(b"http/1.1 200"):
                        sys.exit(f"unexpected answer: {head[:80]!r}")
                    buf = buf[end + 4 + length :]
                    break
            buf += sock.recv(65536)


if __name__ == "__main__":
    main()
