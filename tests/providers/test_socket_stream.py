"""The lean transport's TCP stream on real sockets: what it must do that ``trio.SocketStream`` did."""

from __future__ import annotations

import socket

import pytest
import trio
import trio.testing

from providers.http._socket_stream import SocketStream

MIB = 1 << 20


def connected_pair() -> tuple[SocketStream, socket.socket]:
    """A connected TCP pair on 127.0.0.1: our stream and a plain (blocking) peer socket."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        ours = socket.create_connection(listener.getsockname())
        peer, _ = listener.accept()
    return SocketStream(ours), peer


async def test_more_than_the_send_buffer_is_sent_whole_while_the_peer_reads_slowly() -> None:
    stream, peer = connected_pair()
    data = bytes(range(256)) * (16 * MIB // 256)  # far past the kernel's socket buffers
    received = bytearray()

    def read_all() -> None:
        while len(received) < len(data):
            received.extend(peer.recv(MIB))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.to_thread.run_sync, read_all)
        await stream.send_all(data)
    assert bytes(received) == data
    await stream.aclose()
    peer.close()


async def test_a_reply_larger_than_one_read_is_read_in_order_to_its_end() -> None:
    stream, peer = connected_pair()
    data = b"x" * (3 * 65536 + 123)
    peer.sendall(data)
    peer.shutdown(socket.SHUT_WR)
    chunks = []
    while chunk := await stream.receive_some(65536):
        chunks.append(chunk)
    assert b"".join(chunks) == data
    assert await stream.receive_some(65536) == b""  # EOF stays EOF
    await stream.aclose()
    peer.close()


async def test_a_read_waits_for_the_peer_and_a_reset_is_a_broken_resource() -> None:
    stream, peer = connected_pair()
    async with trio.open_nursery() as nursery:

        async def answer_later() -> None:
            await trio.sleep(0.05)
            peer.sendall(b"late")

        nursery.start_soon(answer_later)
        assert await stream.receive_some(100) == b"late"
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    peer.close()  # linger 0: the peer resets the connection
    with pytest.raises(trio.BrokenResourceError):
        await stream.receive_some(100)
    with pytest.raises(trio.BrokenResourceError):
        await stream.send_all(b"x" * MIB)
    await stream.aclose()


async def test_is_readable_tells_an_idle_connection_from_one_the_server_has_closed() -> None:
    stream, peer = connected_pair()
    assert not stream.is_readable()
    peer.close()
    await trio.sleep(0.01)
    assert stream.is_readable()  # EOF is waiting: the connection must not be reused
    await stream.aclose()


async def test_closing_wakes_a_waiting_reader_and_later_calls_say_closed() -> None:
    stream, peer = connected_pair()
    woken: list[BaseException] = []

    async def read() -> None:
        try:
            await stream.receive_some(100)
        except trio.ClosedResourceError as exc:
            woken.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read)
        await trio.testing.wait_all_tasks_blocked()
        stream.close()
    assert len(woken) == 1
    with pytest.raises(trio.ClosedResourceError):
        await stream.receive_some(100)
    with pytest.raises(trio.ClosedResourceError):
        await stream.send_all(b"x")
    peer.close()
