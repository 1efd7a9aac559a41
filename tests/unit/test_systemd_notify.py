"""gateway/systemd.py: the sd_notify datagram protocol."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.systemd import Notifier


@pytest.fixture
def path_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    sock.bind(path)
    sock.settimeout(5)
    yield path, sock
    sock.close()


def test_sends_one_datagram_of_lines_to_a_path_socket(path_socket):
    path, sock = path_socket
    assert Notifier(path).notify("READY=1", STATUS="serving on 127.0.0.1:8080")
    assert sock.recv(4096) == b"READY=1\nSTATUS=serving on 127.0.0.1:8080"


def test_abstract_namespace_socket_written_with_an_at_sign():
    name = f"test-notify-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert Notifier("@" + name).stopping("stopping")
        assert sock.recv(4096) == b"STOPPING=1\nSTATUS=stopping"


def test_from_environ_takes_the_variable_out_so_no_one_else_notifies(path_socket):
    path, sock = path_socket
    env = {"NOTIFY_SOCKET": path, "OTHER": "x"}
    notifier = Notifier.from_environ(env)
    assert env == {"OTHER": "x"}
    assert notifier.enabled and notifier.ready("up")
    assert sock.recv(4096) == b"READY=1\nSTATUS=up"


def test_without_a_socket_every_call_is_a_no_op():
    notifier = Notifier.from_environ({})
    assert not notifier.enabled
    assert notifier.ready("up") is False
    assert Notifier("").enabled is False


def test_a_socket_that_is_gone_is_logged_not_raised(tmp_path: Path, caplog):
    assert Notifier(str(tmp_path / "missing")).ready("up") is False
    assert "sd_notify" in caplog.text
