"""A hostile or broken source holds neither a fetch's time nor its memory
(newsletter/fetch/bounded.py): a real `newsletter fetch` process against raw sockets
on 127.0.0.1 that answer the way such servers do."""

from __future__ import annotations

import contextlib
import resource
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

HF_BODY = (Path(__file__).parent / "recorded" / "hf-daily-papers-2026-11-17.json").read_bytes()
Answer = Callable[[socket.socket], None]


@pytest.fixture
def raw_server() -> Iterator[Callable[[Answer], str]]:
    """``start(answer)``: a URL whose every connection is handed to ``answer``."""
    listeners: list[socket.socket] = []

    def start(answer: Answer) -> str:
        sock = socket.create_server(("127.0.0.1", 0))
        listeners.append(sock)

        def serve() -> None:
            while True:
                try:
                    conn, _ = sock.accept()
                except OSError:
                    return
                with conn:
                    conn.recv(65536)
                    with contextlib.suppress(OSError):  # the client hung up: what these tests want
                        answer(conn)

        threading.Thread(target=serve, daemon=True).start()
        return f"http://127.0.0.1:{sock.getsockname()[1]}/api/daily_papers"

    yield start
    for sock in listeners:
        sock.close()


def write_config(directory: Path, url: str, **fetch: object) -> Path:
    (directory / "digests").mkdir(exist_ok=True)
    data = {
        "digests": {"directory": "digests"},
        "state": "ledger.sqlite3",
        "subscribers": [{"email": "alice@example.org", "keywords": ["contrastive learning"]}],
        "sources": [{"type": "huggingface", "url": url}],
        "fetch": {"retries": 0, **fetch},
    }
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def fetch(cfg: Path, *, memory: int | None = None) -> subprocess.CompletedProcess[str]:
    """``newsletter fetch`` in its own process; ``memory`` caps its address space."""

    def limit() -> None:
        if memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return subprocess.run(
        [sys.executable, "-m", "newsletter", "fetch", "-c", str(cfg), "--date", "2026-11-17"],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limit,
    )


def gzip_of_zeros(mib: int) -> bytes:
    """A valid gzip member of ``mib`` MiB of zeros, built without compressing them all:
    one fully flushed deflate block of 1 MiB repeats (it refers to nothing before it)."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflate.compress(bytes(1 << 20)) + deflate.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(bytes(1 << 20), crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    return header + block * mib + deflate.flush() + struct.pack("<II", crc, (mib << 20) & 0xFFFFFFFF)


def gzip(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    return packer.compress(data) + packer.flush()


def answer_with(body: bytes, *head: bytes) -> Answer:
    def answer(conn: socket.socket) -> None:
        lines = [b"HTTP/1.1 200 OK", b"Content-Type: application/json", *head, b"Content-Length: %d" % len(body)]
        conn.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        time.sleep(0.2)

    return answer


def test_fetch_bounded_header_dripped_line_by_line_times_out(
    tmp_path: Path, raw_server: Callable[[Answer], str]
) -> None:
    # each header line comes well within the read timeout, so only a deadline for the
    # whole answer stops it: the fetch hangs up, long before the server would be done
    sent: list[int] = []

    def drip(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        for n in range(150):
            conn.sendall(b"X-Filler-%d: x\r\n" % n)
            sent.append(n)
            time.sleep(0.2)
        conn.sendall(b"Content-Length: %d\r\n\r\n" % len(HF_BODY) + HF_BODY)

    cfg = write_config(tmp_path, raw_server(drip), timeout=2)
    result = fetch(cfg)

    assert result.returncode == 1, result.stdout
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: huggingface: ") and "took more than 2 s" in line
    assert sent and sent[-1] < 149  # the client hung up mid-header
    assert list((tmp_path / "digests").iterdir()) == []


def test_fetch_bounded_layered_gzip_bomb_is_refused_without_filling_memory(
    tmp_path: Path, raw_server: Callable[[Answer], str]
) -> None:
    # 1 KiB on the wire, 1 GiB of zeros after two rounds of gzip: the fetch runs in
    # 768 MiB of address space and must say no in one line, not die trying
    bomb = gzip(gzip_of_zeros(1024))
    assert len(bomb) < 64 * 1024
    cfg = write_config(tmp_path, raw_server(answer_with(bomb, b"Content-Encoding: gzip, gzip")))
    result = fetch(cfg, memory=768 << 20)

    assert result.returncode == 1, result.stdout
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: huggingface: ") and "layered content encodings (gzip, gzip) are refused" in line
    assert list((tmp_path / "digests").iterdir()) == []


def test_fetch_bounded_gzip_bomb_is_cut_at_max_bytes_in_bounded_memory(
    tmp_path: Path, raw_server: Callable[[Answer], str]
) -> None:
    # 1 GiB of zeros in one gzip layer (~1 MiB on the wire) in 300 MiB of address
    # space: httpx's decoder made ~66 MiB of each 64 KiB read, ours stops at the cap
    cfg = write_config(tmp_path, raw_server(answer_with(gzip_of_zeros(1024), b"Content-Encoding: gzip")))
    result = fetch(cfg, memory=300 << 20)

    assert result.returncode == 1, result.stdout
    (line,) = result.stderr.splitlines()
    assert "more than fetch.max_bytes (16,777,216 bytes); refused" in line


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        (b"gzip", gzip),
        (b"x-gzip", gzip),
        (b"deflate", zlib.compress),  # zlib-wrapped, as the RFC says
        (b"deflate", lambda data: zlib.compress(data)[2:-4]),  # raw, as some servers send it
        (b"identity", lambda data: data),
    ],
    ids=["gzip", "x-gzip", "deflate", "raw-deflate", "identity"],
)
def test_fetch_bounded_encoded_answers_are_written_decoded(
    tmp_path: Path, raw_server: Callable[[Answer], str], encoding: bytes, encode: Callable[[bytes], bytes]
) -> None:
    cfg = write_config(tmp_path, raw_server(answer_with(encode(HF_BODY), b"Content-Encoding: " + encoding)))
    result = fetch(cfg)

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "digests" / "huggingface-2026-11-17.json").read_bytes() == HF_BODY


@pytest.mark.parametrize(
    ("head", "body", "said"),
    [
        (b"Content-Encoding: br", b"\x0b\x02\x80[]\x03", "content encoding 'br' is not one we asked for"),
        (b"Content-Encoding: gzip", b"\x1f\x8b\x08\x00not gzip at all", "content encoding is broken"),
        (b"Content-Encoding: gzip", gzip(HF_BODY)[:200], "content encoding is broken (cut short)"),
    ],
    ids=["unknown", "garbage", "truncated"],
)
def test_fetch_bounded_broken_encodings_are_one_line(
    tmp_path: Path, raw_server: Callable[[Answer], str], head: bytes, body: bytes, said: str
) -> None:
    cfg = write_config(tmp_path, raw_server(answer_with(body, head)))
    result = fetch(cfg)

    assert result.returncode == 1, result.stdout
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: huggingface: ") and said in line
