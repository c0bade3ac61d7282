"""A deadline for a whole exchange on a socket (:mod:`newsletter.base.cutoff`), on real
socket pairs: a peer that drips bytes keeps each read within any per-read timeout, the
deadline still ends the exchange."""

from __future__ import annotations

import socket
import threading

from newsletter.base.cutoff import SocketDeadline
from tests.conftest import wait_for


def test_cutoff_ends_a_read_that_a_dripping_peer_keeps_alive() -> None:
    ours, theirs = socket.socketpair()
    stop = threading.Event()

    def drip() -> None:  # a byte every 50 ms, for as long as the test lets it
        while not stop.wait(0.05):
            try:
                theirs.send(b"x")
            except OSError:
                return

    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    ours.settimeout(5)  # each read gets its byte well within this
    got = b""
    try:
        with SocketDeadline(0.3, ours) as deadline:
            while chunk := ours.recv(1):  # ends: the shut-down socket reads as closed
                got += chunk
        assert deadline.expired and got  # it was read from, then cut off
    finally:
        stop.set()
        dripper.join(5)
        ours.close()
        theirs.close()


def test_cutoff_socket_attached_after_the_time_is_up_is_shut_at_once() -> None:
    ours, theirs = socket.socketpair()
    try:
        with SocketDeadline(0.01) as deadline:
            wait_for(lambda: deadline.expired, 30, "the deadline")  # before the connection is known
            deadline.attach(ours)
            ours.settimeout(5)
            assert ours.recv(1) == b""  # shut down: reads as closed, never waits for the peer
    finally:
        ours.close()
        theirs.close()


def test_cutoff_unexpired_leaves_the_socket_alone() -> None:
    ours, theirs = socket.socketpair()
    try:
        with SocketDeadline(60, ours) as deadline:
            theirs.send(b"hello")
            assert ours.recv(5) == b"hello"
        assert not deadline.expired
        theirs.send(b"again")  # still open after the block
        assert ours.recv(5) == b"again"
    finally:
        ours.close()
        theirs.close()
