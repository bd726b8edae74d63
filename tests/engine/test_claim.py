"""engine.shot.claim: one writer per output sequence (claims with the settings digest)."""

from __future__ import annotations

import json
import os
import time

import pytest

import engine.shot.claim as claim_mod
from engine.errors import OutputError
from engine.io.atomic import _HOST
from engine.io.sequence import SequencePattern
from engine.shot.claim import SequenceClaim, holders

RCT = {"engine": "x", "model": "m", "settings": {"color": "rct"}, "output": {}}
NONE = {"engine": "x", "model": "m", "settings": {"color": "none"}, "output": {}}


def _foreign(pattern: SequencePattern, record: dict, host: str = "farm-node-7",
             pid: int = 4242, age_s: float = 0.0):
    """A claim another job wrote (another host unless told)."""
    folder = SequencePattern.parse(str(pattern)).path(0).parent
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f".{os.path.basename(str(pattern))}.claim.{host}.{pid}.json"
    path.write_text(json.dumps({"schema": 1, "host": host, "pid": pid, "started": time.time(),
                                "digest": claim_mod.digest(record), "record": record}))
    if age_s:
        t = time.time() - age_s
        os.utime(path, (t, t))
    return path


@pytest.fixture
def pattern(tmp_path):
    return SequencePattern.parse(str(tmp_path / "out" / "swap.####.exr"))


def test_renders_with_the_same_settings_share_the_sequence(pattern):
    other = _foreign(pattern, RCT)
    with SequenceClaim(pattern, RCT) as mine:
        assert {h.path for h in holders(pattern)} == {other, mine.path}
    assert [h.path for h in holders(pattern)] == [other]  # released: only the other's left


def test_other_settings_are_refused_at_start_naming_the_difference(pattern):
    other = _foreign(pattern, RCT)
    with pytest.raises(OutputError) as err:
        SequenceClaim(pattern, NONE).take()
    msg = str(err.value)
    assert "another render is writing this sequence with --color 'rct' (this run 'none')" in msg
    assert "farm-node-7" in msg and "4242" in msg and str(other) in msg
    assert [h.path for h in holders(pattern)] == [other]  # nothing of ours left behind


def test_claims_of_dead_jobs_never_block(pattern):
    dead = _foreign(pattern, RCT, host=_HOST, pid=2 ** 22 + 12345)  # this host, no such pid
    old = _foreign(pattern, RCT, pid=7, age_s=claim_mod.STALE_AFTER_S + 60)  # silent host
    with SequenceClaim(pattern, NONE):
        pass
    assert not dead.exists() and not old.exists()


def test_a_live_claim_of_another_host_blocks_until_it_goes_silent(pattern):
    fresh = _foreign(pattern, RCT, age_s=claim_mod.STALE_AFTER_S / 2)
    with pytest.raises(OutputError):
        SequenceClaim(pattern, NONE).take()
    t = time.time() - claim_mod.STALE_AFTER_S - 1
    os.utime(fresh, (t, t))
    SequenceClaim(pattern, NONE).take().release()


def test_of_two_jobs_starting_together_the_later_is_refused(pattern, monkeypatch):
    """The other job writes its claim between our first look and our own write: the second
    look, after ours is on disk, finds it and refuses (and takes ours away)."""
    looked = []
    inner = SequenceClaim._conflict

    def racing(self):
        found = inner(self)
        if not looked:
            _foreign(pattern, RCT)
        looked.append(found)
        return found
    monkeypatch.setattr(SequenceClaim, "_conflict", racing)
    with pytest.raises(OutputError, match="another render is writing"):
        SequenceClaim(pattern, NONE).take()
    assert len(looked) == 2 and [h.digest for h in holders(pattern)] == [
        claim_mod.digest(RCT)]


def test_a_live_claim_is_kept_fresh(pattern, monkeypatch):
    monkeypatch.setattr(claim_mod, "HEARTBEAT_S", 0.05)
    with SequenceClaim(pattern, RCT) as mine:
        t = time.time() - 1000
        os.utime(mine.path, (t, t))
        time.sleep(0.3)
        assert time.time() - mine.path.stat().st_mtime < 5
