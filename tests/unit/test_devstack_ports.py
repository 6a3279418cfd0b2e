"""`make up` checks its ports as its servers bind them: right after Ctrl-C, connections in
TIME_WAIT do not hold a port, a listener does."""

import dataclasses
import socket

import pytest

from devstack.process import free_port
from devstack.stack import Ports, StackError, check_ports_free


def _ports(gateway: int) -> Ports:
    fields = {field.name: free_port() for field in dataclasses.fields(Ports)}
    return Ports(**{**fields, "gateway": gateway})


def _port_in_time_wait() -> int:
    """A port whose server closed a connection first: the connection sits in TIME_WAIT."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = int(server.getsockname()[1])
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = server.accept()
            accepted.close()  # the side that closes first keeps TIME_WAIT
            client.recv(1)
    return port


def test_a_port_left_in_time_wait_is_free() -> None:
    port = _port_in_time_wait()
    with socket.socket() as plain, pytest.raises(OSError, match="in use"):
        plain.bind(("127.0.0.1", port))  # what the check did before: refused

    check_ports_free(_ports(port))


def test_a_port_someone_listens_on_is_not_free() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = int(server.getsockname()[1])
        with pytest.raises(StackError, match=str(port)):
            check_ports_free(_ports(port))
