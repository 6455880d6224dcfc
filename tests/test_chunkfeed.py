"""The feed the loops of one connect scan take their probes from (transports/chunkfeed.py):
every probe number is handed out exactly once, whoever takes it (threads, or forked
children reading the same pipe)."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from portlab.transports.chunkfeed import CHUNK_PROBES, ChunkFeed


def drain(feed: ChunkFeed) -> list[range]:
    taken = []
    while (chunk := feed.take()) is not None:
        taken.append(chunk)
    return taken


@pytest.mark.parametrize("count", [1, CHUNK_PROBES - 1, CHUNK_PROBES, CHUNK_PROBES + 1, 65535, 3_000_000])
def test_one_taker_gets_every_number_once_in_chunks(count):
    feed = ChunkFeed(count)
    try:
        chunks = drain(feed)
        assert [n for chunk in chunks for n in chunk] == list(range(count))
        assert all(len(chunk) <= feed.size for chunk in chunks)
        assert len(chunks) <= 8192              # the whole feed fit the pipe before anyone read
        assert feed.take() is None               # and stays empty
    finally:
        feed.close()


def test_threads_share_the_numbers_without_overlap():
    feed = ChunkFeed(65535)
    taken: list[list[range]] = [[] for _ in range(4)]
    threads = [threading.Thread(target=lambda mine: mine.extend(drain(feed)), args=(taken[i],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    feed.close()
    numbers = sorted(n for mine in taken for chunk in mine for n in chunk)
    assert numbers == list(range(65535))


@pytest.mark.skipif(not hasattr(os, "fork") or not sys.platform.startswith("linux"), reason="forks")
def test_forked_children_share_the_numbers_without_overlap():
    feed = ChunkFeed(100_000)
    readers = []
    for _ in range(3):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:   # the child: write the starts it took, then leave at once
            status = 1
            try:
                os.close(read_end)
                starts = b",".join(str(chunk.start).encode() for chunk in drain(feed))
                os.write(write_end, starts or b"")
                status = 0
            finally:
                os._exit(status)
        os.close(write_end)
        readers.append((pid, read_end))
    starts = []
    for pid, fd in readers:
        data = b""
        while chunk := os.read(fd, 1 << 16):
            data += chunk
        os.close(fd)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        starts += [int(s) for s in data.split(b",") if s]
    feed.close()
    assert sorted(starts) == list(range(0, 100_000, feed.size))
