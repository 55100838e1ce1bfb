"""BlockList against a plain Python list, over generated operations (with small blocks, so that blocks
fill, split and empty often)."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from raftkv.kv import blocklist
from raftkv.kv.blocklist import BlockList

OPS = st.lists(st.tuples(st.sampled_from(["pl", "pr", "ol", "or", "get", "set", "slice", "ins", "del", "dl", "dr",
                                          "copy", "index"]), st.integers(0, 40), st.integers(0, 40)), max_size=120)


@settings(max_examples=400, deadline=None)
@given(OPS)
def test_behaves_as_a_list(ops: list[tuple[str, int, int]]) -> None:
    saved = blocklist.BLOCK
    blocklist.BLOCK = 4
    try:
        ours, model, n = BlockList(), [], 0
        for op, a, b in ops:
            n += 1
            item = b"%d" % n
            size = len(model)
            if op == "pl":
                ours.push_left(item)
                model.insert(0, item)
            elif op == "pr":
                ours.push_right(item)
                model.append(item)
            elif op in ("ol", "or") and size:
                assert (ours.pop_left() if op == "ol" else ours.pop_right()) == model.pop(0 if op == "ol" else -1)
            elif op == "get" and size:
                assert ours[a % size] == model[a % size]
            elif op == "set" and size:
                ours[a % size] = item
                model[a % size] = item
            elif op == "slice" and size:
                start = a % size
                stop = start + 1 + b % (size - start)
                assert ours.slice(start, stop) == model[start:stop]
            elif op == "ins":
                at = a % (size + 1)
                ours.insert(at, item)
                model.insert(at, item)
            elif op == "del" and size:
                ours.delete(a % size)
                del model[a % size]
            elif op == "dl":
                ours.drop_left(a % (size + 1))
                del model[:a % (size + 1)]
            elif op == "dr":
                count = a % (size + 1)
                ours.drop_right(count)
                del model[size - count:]
            elif op == "index":
                wanted = b"%d" % a
                assert ours.index(wanted) == (model.index(wanted) if wanted in model else None)
            elif op == "copy":
                ours = ours.copy()
            assert len(ours) == len(model)
            assert list(ours) == model
            assert list(reversed(ours)) == model[::-1]
    finally:
        blocklist.BLOCK = saved
