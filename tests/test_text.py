"""recsys.io.text: the duplicate rule (newest timestamp wins, then the later line)."""
import numpy as np
import pytest

from recsys.io import text


def _rule(users, items, timestamps):
    """The losers by the rule, one rating at a time (the reference)."""
    best = {}
    for pos, pair in enumerate(zip(users, items)):
        rank = (0 if timestamps is None else timestamps[pos], pos)
        if pair not in best or rank >= best[pair]:
            best[pair] = rank
    keep = {rank[1] for rank in best.values()}
    return np.array([pos not in keep for pos in range(len(users))], dtype=bool)


def test_duplicate_mask_exact():
    users = np.array([10, 11, 10, 10, 12, 10], dtype=np.int32)
    items = np.array([1, 1, 1, 2, 1, 1], dtype=np.int32)
    days = np.array([5, 5, 7, 1, 5, 7], dtype=np.int32)
    # (10, 1) at 0, 2, 5: day 7 twice, the later line (5) wins.
    assert text.duplicate_mask(users, items, days).tolist() == [True, False, True, False,
                                                                 False, False]
    # Without timestamps the last line of the pair wins.
    assert text.duplicate_mask(users, items).tolist() == [True, False, True, False, False,
                                                          False]
    assert text.duplicate_mask(users[:0], items[:0], days[:0]).tolist() == []
    assert text.duplicate_mask(["7", "07", "7"], ["a", "a", "a"]).tolist() == [True, False,
                                                                               False]


@pytest.mark.parametrize("chunk", [1, 3, 1 << 22])
def test_duplicate_mask_follows_the_rule_for_every_id_kind(chunk, monkeypatch):
    """Integer ids combined directly (int32, uint64), ids too large or negative and text ids
    numbered first: all give the rule's answer, whatever the look-up chunk."""
    monkeypatch.setattr(text, "_KEY_CHUNK", chunk)
    rng = np.random.default_rng(7)
    for trial in range(60):
        n = int(rng.integers(0, 40))
        u, i = rng.integers(0, 5, n), rng.integers(0, 4, n)
        days = rng.integers(0, 3, n) if trial % 2 else None
        want = _rule(u.tolist(), i.tolist(), None if days is None else days.tolist())
        for uu, ii in ((u.astype(np.int32), i.astype(np.int32)),
                       (u.astype(np.uint64), i.astype(np.uint64)),
                       (u - 2, i), (u << 40, i << 30),
                       (u.astype(str).astype(object), i.astype(str).astype(object)),
                       (u.astype(str).astype(object), i)):
            got = text.duplicate_mask(uu, ii, days)
            assert got.dtype == bool and got.tolist() == want.tolist()
