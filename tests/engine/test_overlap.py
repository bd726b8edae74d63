"""engine.shot.overlap: read / compute / write on three threads, results as the serial loop's."""

import threading
import time

import pytest

from engine.shot.overlap import Later, overlapped


def test_results_come_in_item_order_with_writes_and_plain_results_mixed():
    def compute(i):
        if i % 3 == 0:
            return ("now", i)
        return Later(lambda: (time.sleep(0.01 * (i % 2)), ("written", i))[1])

    got = list(overlapped(range(10), compute))
    assert [i for _, i in got] == list(range(10))
    assert [k for k, _ in got] == ["now" if i % 3 == 0 else "written" for i in range(10)]


def test_stages_overlap_and_memory_stays_bounded():
    # Overlap is shown by what runs at the same time, not by a wall-clock figure (a loaded
    # machine makes any timing fail; the speed-up is measured in benchmarks/render.py).
    live, peak, lock = [0], [0], threading.Lock()
    busy = {"read": 0, "write": 0}
    both = threading.Event()  # a read and a write were in progress at once

    def stage(name, seconds):
        with lock:
            busy[name] += 1
            if busy["read"] and busy["write"]:
                both.set()
        time.sleep(seconds)
        with lock:
            busy[name] -= 1

    def items():
        for i in range(12):
            with lock:
                live[0] += 1
                peak[0] = max(peak[0], live[0])
            stage("read", 0.01)  # decode
            yield i

    def write(i):
        stage("write", 0.03)  # the slowest stage
        with lock:
            live[0] -= 1
        return i

    assert list(overlapped(items(), lambda i: Later(lambda: write(i)), read_ahead=2,
                           write_behind=1)) == list(range(12))
    assert both.is_set()  # reading went on while a frame was being written
    # read-ahead 2 + the one being read + the one computed + 2 writes (1 running, 1 queued)
    assert peak[0] <= 2 + 1 + 1 + 2


def test_errors_are_raised_in_the_callers_thread_and_the_reader_stops():
    read = []

    def items():
        for i in range(100):
            read.append(i)
            yield i

    def compute(i):
        if i == 3:
            raise ValueError("bad item 3")
        return Later(lambda: i)

    with pytest.raises(ValueError, match="bad item 3"):
        list(overlapped(items(), compute))
    assert len(read) < 10  # stopped a few items ahead, not at the end

    def failing_write(i):
        if i == 2:
            raise OSError("write of 2 failed")
        return i

    seen = []
    with pytest.raises(OSError, match="write of 2"):
        for r in overlapped(range(6), lambda i: Later(lambda: failing_write(i))):
            seen.append(r)
    assert seen == [0, 1]


def test_an_iterator_error_is_raised_after_the_items_before_it():
    def items():
        yield 1
        yield 2
        raise RuntimeError("source broke")

    seen = []
    with pytest.raises(RuntimeError, match="source broke"):
        for r in overlapped(items(), lambda i: i):
            seen.append(r)
    assert seen == [1, 2]


def test_a_started_read_ahead_reads_before_it_is_iterated_and_is_taken_as_is():
    from engine.shot.overlap import ReadAhead

    produced = threading.Event()

    def items():
        produced.set()
        yield from range(5)
    ahead = ReadAhead(items(), depth=2)
    assert produced.wait(30)  # reading began with no consumer yet
    assert list(overlapped(ahead, lambda i: i * 2)) == [0, 2, 4, 6, 8]
    assert not ahead._thread.is_alive()  # overlapped closed it


def test_without_threads_every_item_is_read_computed_and_written_on_the_callers_thread():
    me = threading.get_ident()
    seen = []

    def items():
        for i in range(4):
            seen.append(("read", threading.get_ident()))
            yield i

    def compute(i):
        seen.append(("compute", threading.get_ident()))
        return Later(lambda: seen.append(("write", threading.get_ident())) or i)

    assert list(overlapped(items(), compute, threads=False)) == [0, 1, 2, 3]
    assert len(seen) == 12 and {t for _, t in seen} == {me}


def test_a_host_clip_is_analysed_on_the_thread_that_asks(plate_pattern, analyzer):
    """OFX suites are called from the action's thread: the node's Analyze must not fetch the
    host's frames from a read-ahead thread."""
    from engine.host.clip_source import HostClipSource
    from engine.io import open_source
    from engine.shot.analyze import analyze_frames

    plate = open_source(plate_pattern)
    fetched = []

    def fetch(f):
        fetched.append(threading.get_ident())
        frame = next(iter(plate.read([f])))
        return frame.rgb, (0, 0)

    h, w = next(iter(plate.read([1001]))).rgb.shape[:2]
    clip = HostClipSource([1001, 1002], fetch, (0, 0, w, h), 1.0, "clip")
    faces = analyze_frames(clip, [1001, 1002], analyzer, None, {}, [], [])
    assert sorted(faces) == [1001, 1002] and all(faces.values())
    assert fetched == [threading.get_ident()] * 2
