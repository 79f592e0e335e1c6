"""Checkpoint files: the secure temporary file, stale temporaries, malformed files.

Item 8: the temporary file is created exclusively under a random name
(``<name>.<16 hex>.numadam-tmp``), never through a symlink; concurrent saves
to one path all succeed; a failed save leaves no temporary and the previous
checkpoint intact; temporaries older than an hour are removed.

Item 11: every malformed file -- a bit flip anywhere, crafted zip or .npy
headers, a header that is not a JSON object, a schedule that is not a
concrete numadam schedule -- is one ``ValueError`` naming the file, raised
before anything sized by the file's claims is allocated and before the
optimizer changes.
"""
import io
import json
import os
import re
import stat
import struct
import sys
import threading
import time
import zipfile

import numpy as np
import pytest

import numadam
from numadam import _checkpoint
from numadam import schedules as S

TMP_RE = re.compile(r"^ckpt\.npz\.[0-9a-f]{16}\.numadam-tmp$")


def _adam(steps=1, size=5, **kw):
    opt = numadam.Adam(np.zeros(size), **kw)
    for k in range(steps):
        opt.step(np.arange(size) + 1.0 + k)
    return opt


def _snapshot(opt):
    return (opt.t, opt.skipped, opt.options,
            {k: np.array(v, copy=True) for k, v in opt.state.items()})


def _assert_same(opt, snap):
    t, skipped, options, state = snap
    assert opt.t == t and opt.skipped == skipped and opt.options == options
    assert set(opt.state) == set(state)
    for k, v in state.items():
        assert opt.state[k].dtype == v.dtype and np.array_equal(opt.state[k], v)


def _raises_one_value_error(path, fn, *args):
    """``fn(*args)`` raises exactly ValueError (no subclass) naming ``path``."""
    with pytest.raises(ValueError) as info:
        fn(*args)
    assert type(info.value) is ValueError, repr(info.value)
    assert repr(str(path)) in str(info.value), str(info.value)
    return str(info.value)


# ======================================================================
# Item 8: the temporary file
# ======================================================================
def test_symlinks_at_old_style_temporary_names_are_not_followed(tmp_path):
    p = tmp_path / "ckpt.npz"
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    pid = os.getpid()
    names = list(dict.fromkeys([f"{p}.tmp-{pid}", f"{p}.tmp", f"{p}.tmp-0", f"{p}.tmp-1",
                                *(f"{p}.tmp-{q}" for q in range(max(pid - 50, 2), pid + 50))]))
    for n in names:
        os.symlink(victim, n)
    opt = _adam(3)
    opt.save(p)
    assert victim.read_bytes() == b"precious"
    for n in names:
        assert os.path.islink(n) and os.readlink(n) == str(victim)
    assert stat.S_ISREG(os.lstat(p).st_mode)
    loaded = numadam.Adam(np.zeros(5))
    loaded.load(p)
    _assert_same(loaded, _snapshot(opt))


def test_symlink_at_the_chosen_random_name_is_not_followed(tmp_path, monkeypatch):
    p = tmp_path / "ckpt.npz"
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    planted = tmp_path / f"ckpt.npz.{'0' * 16}.numadam-tmp"
    os.symlink(victim, planted)
    tokens = iter(["0" * 16, "1" * 16])
    monkeypatch.setattr(_checkpoint, "_token", lambda: next(tokens))
    seen = []
    real_savez = np.savez

    def spy(fh, **kw):
        seen.extend(sorted(os.listdir(tmp_path)))
        real_savez(fh, **kw)

    monkeypatch.setattr(np, "savez", spy)
    _adam(2).save(p)
    # the planted name was refused (exclusive creation), the next one used
    assert f"ckpt.npz.{'1' * 16}.numadam-tmp" in seen
    assert victim.read_bytes() == b"precious" and os.path.islink(planted)
    assert sorted(os.listdir(tmp_path)) == sorted(["ckpt.npz", "victim.txt", planted.name])
    monkeypatch.undo()
    loaded = numadam.Adam(np.zeros(5))
    loaded.load(p)
    assert loaded.t == 2


def test_twenty_threads_saving_to_one_path_all_succeed(tmp_path):
    p = tmp_path / "ckpt.npz"
    opts = [_adam(i + 1) for i in range(20)]
    snaps = {o.t: _snapshot(o) for o in opts}
    barrier = threading.Barrier(len(opts))
    errors = []

    def save(o):
        barrier.wait()
        try:
            for _ in range(5):
                o.save(p)
        except BaseException as exc:        # pragma: no cover - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=save, args=(o,)) for o in opts]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert os.listdir(tmp_path) == ["ckpt.npz"]       # no temporary left behind
    loaded = numadam.Adam(np.zeros(5))
    loaded.load(p)
    assert loaded.t in snaps
    _assert_same(loaded, snaps[loaded.t])


def test_temporary_name_pattern_and_file_mode(tmp_path, monkeypatch):
    p = tmp_path / "ckpt.npz"
    seen = {}
    real_savez = np.savez

    def spy(fh, **kw):
        names = os.listdir(tmp_path)
        seen["names"] = names
        seen["modes"] = [stat.S_IMODE(os.lstat(tmp_path / n).st_mode) for n in names]
        seen["stale"] = _checkpoint.stale_temporaries(p)     # a live save is young
        real_savez(fh, **kw)

    monkeypatch.setattr(np, "savez", spy)
    old = os.umask(0o027)
    try:
        _adam(1).save(p)
    finally:
        os.umask(old)
    assert len(seen["names"]) == 1 and TMP_RE.match(seen["names"][0])
    assert seen["modes"] == [0o640] and seen["stale"] == []
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o640   # 0o666 & ~umask, not mkstemp's 0o600
    assert os.listdir(tmp_path) == ["ckpt.npz"]


@pytest.mark.parametrize("where", ["savez", "fsync", "replace"])
@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), KeyboardInterrupt()],
                         ids=["OSError", "KeyboardInterrupt"])
def test_a_failed_save_leaves_no_temporary_and_the_previous_checkpoint(tmp_path, monkeypatch,
                                                                       where, exc):
    p = tmp_path / "ckpt.npz"
    first = _adam(2)
    first.save(p)
    before = p.read_bytes()

    def fail(*args, **kw):
        if where == "savez":
            args[0].write(b"PK\x03\x04 half a checkpoint")
        raise exc

    monkeypatch.setattr({"savez": np, "fsync": os, "replace": os}[where], where, fail)
    with pytest.raises(type(exc)) as info:
        _adam(7).save(p)
    assert info.value is exc
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["ckpt.npz"]
    assert p.read_bytes() == before
    loaded = numadam.Adam(np.zeros(5))
    loaded.load(p)
    _assert_same(loaded, _snapshot(first))


def _touch(path, age, now):
    path.write_bytes(b"partial")
    os.utime(path, (now - age, now - age))


def test_stale_temporaries_older_than_the_limit_are_removed(tmp_path):
    p = tmp_path / "ckpt.npz"
    _adam(1).save(p)
    now = time.time()
    old = tmp_path / f"ckpt.npz.{'a' * 16}.numadam-tmp"
    young = tmp_path / f"ckpt.npz.{'b' * 16}.numadam-tmp"
    others = [tmp_path / f"other.npz.{'c' * 16}.numadam-tmp",       # another checkpoint's
              tmp_path / f"ckpt.npz.x.npz.{'d' * 16}.numadam-tmp",  # of "ckpt.npz.x.npz"
              tmp_path / "ckpt.npz.notes.numadam-tmp",              # not a random name
              tmp_path / f"ckpt.npz.{'e' * 16}.tmp"]                # not our suffix
    _touch(old, 7200, now)
    _touch(young, 600, now)
    for o in others:
        _touch(o, 7200, now)
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    link = tmp_path / f"ckpt.npz.{'f' * 16}.numadam-tmp"      # never ours: not a file
    os.symlink(victim, link)
    os.utime(link, (now - 7200, now - 7200), follow_symlinks=False)

    assert _checkpoint.stale_temporaries(p) == [str(old)]
    assert _checkpoint.stale_temporaries(str(p), older_than=300) == [str(old), str(young)]
    assert _checkpoint.stale_temporaries(p, older_than=10_000) == []
    assert _checkpoint.remove_stale_temporaries(p, older_than=3600) == [str(old)]
    assert not old.exists() and young.exists() and all(o.exists() for o in others)
    assert os.path.islink(link) and victim.read_bytes() == b"precious"
    assert _checkpoint.remove_stale_temporaries(p) == []

    # write() itself removes this checkpoint's temporaries older than an hour
    old2 = tmp_path / f"ckpt.npz.{'9' * 16}.numadam-tmp"
    _touch(old2, 3700, now)
    _adam(4).save(p)
    assert not old2.exists() and young.exists() and all(o.exists() for o in others)
    loaded = numadam.Adam(np.zeros(5))
    loaded.load(p)
    assert loaded.t == 4


def test_stale_temporaries_limit_is_checked(tmp_path):
    p = tmp_path / "ckpt.npz"
    with pytest.raises(ValueError, match=r"older_than must be a finite number of seconds >= 0; got -1"):
        _checkpoint.stale_temporaries(p, older_than=-1)
    with pytest.raises(TypeError, match=r"older_than must be a number of seconds; got '1h'"):
        _checkpoint.remove_stale_temporaries(p, older_than="1h")


# ======================================================================
# Item 11: malformed files
# ======================================================================
def _save_optimizer(path):
    opt = _adam(1)
    opt.save(path)
    return opt


def _save_minimize(path):
    numadam.minimize(lambda x: (float(x @ x), 2 * x), True, np.arange(1.0, 4.0),
                     options={"checkpoint": path, "checkpoint_every": 5, "maxiter": 10,
                              "gtol": 0})


def _write_raw(path, meta_json, arrays):
    """An npz laid out as write() does, with any header and a correct checksum."""
    payload = {"__meta__": np.array(meta_json),
               "__sha256__": np.array(_checkpoint._digest(meta_json, arrays))}
    payload.update({f"a.{k}": v for k, v in arrays.items()})
    np.savez(path, **payload)


def _members(path):
    with zipfile.ZipFile(path) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def _zip(path, members):
    """Write ``members`` (list of (name, bytes)) as a stored zip, duplicates allowed."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, data in members:
            z.writestr(name, data)


def _npy(array):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, allow_pickle=True)
    return buf.getvalue()


def _npy_header(descr, shape, fortran=False):
    header = repr({"descr": descr, "fortran_order": fortran, "shape": shape})
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1")


def _central_entry(data, member):
    """Offset of ``member``'s central directory entry in the zip bytes ``data``."""
    i = data.find(b"PK\x01\x02")
    while i >= 0:
        n = struct.unpack_from("<H", data, i + 28)[0]
        if data[i + 46:i + 46 + n] == member.encode():
            return i
        i = data.find(b"PK\x01\x02", i + 4)
    raise AssertionError(member)


def _flip_positions(nbytes, rng, head=4096, sample=2000):
    head_bits = min(nbytes, head) * 8
    rest = nbytes * 8 - head_bits
    picked = rng.choice(rest, size=min(sample, rest), replace=False) + head_bits if rest else []
    return list(range(head_bits)) + sorted(int(b) for b in picked)


def test_every_bit_flip_gives_the_same_state_or_one_value_error(tmp_path):
    rng = np.random.default_rng(20240611)
    bad = []
    q = tmp_path / "flipped.npz"

    def flip_all(data, check):
        outcomes = {"same": 0, "refused": 0}
        q.write_bytes(data)
        fd = os.open(q, os.O_RDWR)
        try:
            for bit in _flip_positions(len(data), rng):
                i = bit // 8
                os.pwrite(fd, bytes([data[i] ^ (1 << (bit % 8))]), i)   # flip in place
                try:
                    check()
                except ValueError as exc:
                    if type(exc) is not ValueError or repr(str(q)) not in str(exc):
                        bad.append((bit, repr(exc)))
                    outcomes["refused"] += 1
                except BaseException as exc:   # noqa: BLE001 - any other type is the bug
                    bad.append((bit, repr(exc)))
                else:
                    outcomes["same"] += 1
                os.pwrite(fd, data[i:i + 1], i)
        finally:
            os.close(fd)
        assert q.read_bytes() == data
        return outcomes

    # an optimizer checkpoint, through Optimizer.load
    p = tmp_path / "opt.npz"
    ref = _snapshot(_save_optimizer(p))
    opt = numadam.Adam(np.zeros(5))
    opt.load(p)

    def check_optimizer():
        try:
            opt.load(q)
        finally:
            _assert_same(opt, ref)       # loaded identically, or left as it was

    res_opt = flip_all(p.read_bytes(), check_optimizer)

    # a minimize checkpoint, through _checkpoint.read
    m = tmp_path / "min.npz"
    _save_minimize(m)
    meta0, arrays0 = _checkpoint.read(m, "minimize")

    def check_minimize():
        meta, arrays = _checkpoint.read(q, "minimize")
        assert meta == meta0 and set(arrays) == set(arrays0)
        for k, v in arrays0.items():
            assert arrays[k].dtype == v.dtype and np.array_equal(arrays[k], v)

    res_min = flip_all(m.read_bytes(), check_minimize)
    assert not bad, f"{len(bad)} flips gave another exception or message, e.g. {bad[:10]}"
    # most flips are refused; some (zip timestamps, unused fields) change nothing
    for res in (res_opt, res_min):
        assert res["refused"] > res["same"] > 0


def test_a_declared_8_tib_array_is_refused_before_allocating(tmp_path):
    src = tmp_path / "src.npz"
    _save_optimizer(src)
    members = _members(src)
    members["a.exp_avg.npy"] = _npy_header("<f8", (2 ** 40,)) + b"\0" * 40
    p = tmp_path / "huge.npz"
    _zip(p, members.items())
    t0 = time.perf_counter()
    msg = _raises_one_value_error(p, numadam.Adam(np.zeros(5)).load, p)
    assert "member 'a.exp_avg.npy' declares a <f8 array of shape (1099511627776,) " \
           "(8796093022208 bytes) but holds 40 bytes" in msg
    _raises_one_value_error(p, _checkpoint.read, p, "optimizer")
    assert time.perf_counter() - t0 < 2.0


def test_zip_sizes_claiming_more_than_the_file_are_refused(tmp_path):
    p = tmp_path / "ckpt.npz"
    _save_optimizer(p)
    data = bytearray(p.read_bytes())
    i = _central_entry(data, "a.exp_avg.npy")
    struct.pack_into("<II", data, i + 20, 0xFFFFFFF0, 0xFFFFFFF0)   # compressed, uncompressed
    p.write_bytes(data)
    msg = _raises_one_value_error(p, numadam.Adam(np.zeros(5)).load, p)
    assert "member 'a.exp_avg.npy' declares 4294967280 bytes at offset" in msg
    assert f"past the end of the {len(data)}-byte file" in msg


@pytest.mark.parametrize("field, value, words", [
    ("method", 99, "uses compression method 99; numadam checkpoints are stored uncompressed"),
    ("method", 8, "uses compression method 8; numadam checkpoints are stored uncompressed"),
    ("flags", 0x01, "is encrypted (zip flag bit 0)"),
    ("flags", 0x40, "uses strong encryption (zip flag bit 6)"),
    ("flags", 0x20, "holds compressed patched data (zip flag bit 5)"),
], ids=["method99", "deflate", "encrypted", "strong-encryption", "patched"])
@pytest.mark.parametrize("member", ["__meta__.npy", "a.exp_avg_sq.npy"])
def test_zip_methods_and_flags_are_refused(tmp_path, field, value, words, member):
    p = tmp_path / "ckpt.npz"
    _save_optimizer(p)
    data = bytearray(p.read_bytes())
    i = _central_entry(data, member)
    if field == "method":
        struct.pack_into("<H", data, i + 10, value)
    else:
        struct.pack_into("<H", data, i + 8, struct.unpack_from("<H", data, i + 8)[0] | value)
    p.write_bytes(data)
    opt = numadam.Adam(np.zeros(5))
    msg = _raises_one_value_error(p, opt.load, p)
    assert f"member {member!r} {words}" in msg
    assert opt.t == 0


@pytest.mark.parametrize("header, what", [
    ("[1, 2]", "a JSON array"), ('"adam"', "a JSON string"), ("3", "a JSON number"),
    ("null", "JSON null"),
])
def test_a_header_that_is_not_a_json_object_is_refused(tmp_path, header, what):
    p = tmp_path / "ckpt.npz"
    _write_raw(p, header, {})
    msg = _raises_one_value_error(p, numadam.Adam(np.zeros(5)).load, p)
    assert msg == f"checkpoint {str(p)!r} has a header that is {what}, not a JSON object"
    _raises_one_value_error(p, _checkpoint.read, p, "minimize")


def test_a_header_that_is_not_json_is_refused(tmp_path):
    p = tmp_path / "ckpt.npz"
    _write_raw(p, "{not json", {})
    msg = _raises_one_value_error(p, numadam.Adam(np.zeros(5)).load, p)
    assert msg.startswith(f"checkpoint {str(p)!r} has a header that is not JSON: ")
    _write_raw(p, "[" * 100_000 + "]" * 100_000, {})       # nested past the recursion limit
    msg = _raises_one_value_error(p, _checkpoint.read, p, "optimizer")
    assert "has a header that is not JSON" in msg


def _with_lr(src, dst, kind, lr):
    meta, arrays = _checkpoint.read(src, kind)
    opt_meta = meta["optimizer"] if kind == "minimize" else meta
    opt_meta["options"]["lr"] = lr
    _checkpoint.write(dst, meta, arrays)


@pytest.mark.parametrize("lr, words", [
    ({"__schedule__": "Schedule", "params": {}}, "names schedule 'Schedule', the abstract base class"),
    ({"__schedule__": "check_lr", "params": {}}, "names 'check_lr', which is not a schedule"),
    ({"__schedule__": "math", "params": {}}, "names 'math', which is not a schedule"),
    ({"__schedule__": ["cosine"], "params": {}}, "names ['cosine'], which is not a schedule"),
    ({"__schedule__": "cosine", "params": {"lr": 0.1, "decay_steps": 10, "bogus": 1}},
     "schedule cosine(bogus=1, decay_steps=10, lr=0.1) is refused: "),
    ({"__schedule__": "cosine", "params": {"lr": -1.0, "decay_steps": 10}},
     "schedule cosine(decay_steps=10, lr=-1.0) is refused: lr must be >= 0; got -1.0"),
    ({"__schedule__": "warmup", "params": {"schedule": [1], "warmup_steps": 2}},
     "schedule warmup(schedule=[1], warmup_steps=2) is refused: lr must be a real number"),
    ({"__schedule__": "cosine", "params": [0.1, 10]}, "the params of schedule 'cosine' must be a JSON object"),
    ({"__schedule__": "cosine"}, "schedule 'cosine' has no params"),
    ({"__tuple__": 3}, "a tuple must be a JSON array; got 3"),
])
def test_a_bad_schedule_is_refused_at_load_and_the_optimizer_is_unchanged(tmp_path, lr, words):
    src, p = tmp_path / "src.npz", tmp_path / "ckpt.npz"
    _save_optimizer(src)
    _with_lr(src, p, "optimizer", lr)
    opt = _adam(2, lr=S.constant(0.5))
    before = _snapshot(opt)
    msg = _raises_one_value_error(p, opt.load, p)
    assert f"option 'lr' {words}" in msg or f"option 'lr': {words}" in msg, msg
    _assert_same(opt, before)
    assert opt.options["lr"] == S.constant(0.5)
    opt.step(np.ones(5))                     # still usable
    assert opt.t == 3


def test_decode_options_raises_value_error_only():
    for options, words in [
        ({"lr": {"__schedule__": "Schedule", "params": {}}}, "the abstract base class"),
        ({"lr": {"__schedule__": "cosine", "params": {"lr": 0.1}}},
         "missing 1 required positional argument: 'decay_steps'"),
        ({"lr": {"__schedule__": "cosine", "params": {"lr": 10 ** 400, "decay_steps": 2}}},
         "int too large to convert to float"),                       # OverflowError
        ([["lr", 0.1]], "the options must be a JSON object; got a JSON array"),
    ]:
        with pytest.raises(ValueError) as info:
            _checkpoint.decode_options(options)
        assert type(info.value) is ValueError and words in str(info.value)
    nested = 1e-3
    for _ in range(5000):
        nested = {"__schedule__": "warmup", "params": {"schedule": nested, "warmup_steps": 1}}
    with pytest.raises(ValueError, match="option 'lr' is nested too deeply"):
        _checkpoint.decode_options({"lr": nested})
    # every concrete schedule round-trips
    sched = S.warmup(S.one_cycle(0.1, 100), 5)
    opts = {"lr": sched, "betas": (0.9, 0.99)}
    assert _checkpoint.decode_options(json.loads(json.dumps(_checkpoint.encode_options(opts)))) == opts


def test_an_abstract_schedule_in_a_minimize_checkpoint_is_refused_before_the_run(tmp_path):
    src, p = tmp_path / "src.npz", tmp_path / "ckpt.npz"
    _save_minimize(src)
    _with_lr(src, p, "minimize", {"__schedule__": "Schedule", "params": {}})
    calls = []

    def fg(x):
        calls.append(1)
        return float(x @ x), 2 * x

    msg = _raises_one_value_error(p, numadam.minimize, fg, True, np.arange(1.0, 4.0),
                                  "adam", (), {"resume": p, "maxiter": 20})
    assert "names schedule 'Schedule', the abstract base class" in msg and calls == []


@pytest.mark.parametrize("array, words", [
    (np.array([{"a": 1}, None], dtype=object), "holds Python objects (dtype object)"),
    (np.arange(5.0).astype(">f8"), "has non-native byte order ('>f8')"),
    (np.zeros(5, dtype=[("a", "<f8")]), "has unsupported dtype"),
    (np.zeros(5, dtype="V8"), "has unsupported dtype '|V8'"),
])
def test_unsupported_array_dtypes_are_refused(tmp_path, array, words):
    src = tmp_path / "src.npz"
    _save_optimizer(src)
    members = _members(src)
    members["a.exp_avg.npy"] = _npy(array)
    p = tmp_path / "ckpt.npz"
    _zip(p, members.items())
    msg = _raises_one_value_error(p, numadam.Adam(np.zeros(5)).load, p)
    assert f"member 'a.exp_avg.npy' {words}" in msg


@pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")
def test_bad_npy_headers_and_members_are_refused(tmp_path):
    src = tmp_path / "src.npz"
    _save_optimizer(src)
    members = _members(src)
    p = tmp_path / "ckpt.npz"
    cases = [
        ({"a.exp_avg.npy": _npy_header("<f8", (-3,)) + b"\0" * 40}, "has a negative dimension"),
        ({"a.exp_avg.npy": b"\x93NUMPY\x03\x00" + members["a.exp_avg.npy"][8:]},
         "is in .npy format version (3, 0), which numadam does not read"),
        ({"a.exp_avg.npy": b"NOTNUMPY" * 8}, "member 'a.exp_avg.npy': the magic string is not correct"),
        ({"__meta__.npy": _npy(np.array(["{}", "{}"]))}, "its header is not a single string"),
        ({"notes.txt": b"hello"}, "has a member 'notes.txt' that is not a numadam array"),
        ({"__meta__.npy": _npy(np.frombuffer(struct.pack("<3I", 0x7B, 0xD800, 0x7D), "<U3")
                               .reshape(()))}, "surrogates not allowed"),    # a lone surrogate
    ]
    for change, words in cases:
        _zip(p, {**members, **change}.items())
        msg = _raises_one_value_error(p, numadam.Adam(np.zeros(5)).load, p)
        assert words in msg, msg
    _zip(p, [*members.items(), ("a.exp_avg.npy", members["a.exp_avg.npy"])])
    msg = _raises_one_value_error(p, numadam.Adam(np.zeros(5)).load, p)
    assert "has the member 'a.exp_avg.npy' more than once" in msg
    del members["__sha256__.npy"]
    _zip(p, members.items())
    msg = _raises_one_value_error(p, numadam.Adam(np.zeros(5)).load, p)
    assert "not a numadam checkpoint: it has no numadam header" in msg


def test_arrays_of_every_written_kind_read_back_exactly(tmp_path):
    rng = np.random.default_rng(1)
    arrays = {"f8": rng.standard_normal(7), "f4": rng.standard_normal(3).astype(np.float32),
              "i8": np.arange(-3, 4), "u1": np.arange(5, dtype=np.uint8),
              "b": np.array([True, False]), "c16": np.array([1 + 2j]),
              "U": np.array(["ab", "\u00e9\U0001f600"]), "empty": np.zeros(0),
              "matrix": rng.standard_normal((3, 4)),
              "big": rng.standard_normal(3_000_000)}       # > one 16 MiB read chunk
    p = tmp_path / "ckpt.npz"
    _checkpoint.write(p, {"kind": "test", "x": [1, 2.5, "s", None]}, arrays)
    meta, back = _checkpoint.read(p, "test")
    assert meta == {"kind": "test", "x": [1, 2.5, "s", None],
                    "format": "numadam-checkpoint", "version": 1}
    assert set(back) == set(arrays)
    for k, v in arrays.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape, k
        assert np.array_equal(back[k], v), k
        assert back[k].flags.writeable
    # write() stores C order; a Fortran-order member (np.savez keeps it) reads back too
    f = np.asfortranarray(arrays["matrix"])
    header = json.dumps({"format": "numadam-checkpoint", "version": 1, "kind": "test"})
    _write_raw(p, header, {"f": f})
    assert _members(p)["a.f.npy"].find(b"'fortran_order': True") > 0
    _, back = _checkpoint.read(p, "test")
    assert back["f"].flags.f_contiguous and np.array_equal(back["f"], f)


def test_a_wrong_checksum_format_or_version_is_refused(tmp_path):
    p = tmp_path / "ckpt.npz"
    header = json.dumps({"format": "numadam-checkpoint", "version": 1, "kind": "optimizer"})
    np.savez(p, **{"__meta__": np.array(header), "__sha256__": np.array("0" * 64)})
    msg = _raises_one_value_error(p, numadam.Adam(np.zeros(5)).load, p)
    assert msg == f"checkpoint {str(p)!r} is corrupted: its checksum does not match"
    _write_raw(p, json.dumps({"format": "numadam-checkpoint", "version": 2}), {})
    msg = _raises_one_value_error(p, _checkpoint.read, p, "optimizer")
    assert msg == (f"checkpoint {str(p)!r} has format 'numadam-checkpoint' version 2; "
                   "this numadam reads 'numadam-checkpoint' version 1")


def test_truncations_are_one_value_error(tmp_path):
    p = tmp_path / "ckpt.npz"
    _save_optimizer(p)
    data = p.read_bytes()
    q = tmp_path / "cut.npz"
    for n in range(0, len(data), 7):
        q.write_bytes(data[:n])
        msg = _raises_one_value_error(q, numadam.Adam(np.zeros(5)).load, q)
        assert "is truncated or corrupted, or not a numadam checkpoint" in msg


def test_missing_file_and_directory_keep_their_os_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        numadam.Adam(np.zeros(5)).load(tmp_path / "missing.npz")
    with pytest.raises(FileNotFoundError):
        _checkpoint.read(tmp_path / "missing.npz", "optimizer")
    if sys.platform != "win32":
        with pytest.raises(IsADirectoryError):
            _checkpoint.read(tmp_path, "optimizer")


def test_a_schedule_of_the_users_own_class_is_refused_when_saving(tmp_path):
    """A checkpoint holds numadam.schedules' schedules by name: a subclass of
    the user's (``Schedule``'s docstring shows how to write one) cannot be
    read back, so it is refused when saving -- before a run, with minimize's
    checkpoint -- not written as a name that loads another schedule or none."""
    class halving(S.Schedule):   # as the docstring's example
        def __init__(self, lr):
            self._params = {"lr": lr}

        def lr(self, k):
            return self._params["lr"] / 2 ** k

    class exponential(S.exponential):   # a numadam name, another rule
        def lr(self, k):
            return 0.1
    for sched in (halving(0.1), exponential(0.1, 0.5)):
        opt = numadam.Adam(np.zeros(3), lr=sched)
        with pytest.raises(ValueError, match="not a schedule of numadam.schedules"):
            opt.save(tmp_path / "o.npz")
        calls = []

        def fg(x):
            calls.append(1)
            return float(x @ x), 2 * x
        with pytest.raises(ValueError, match="not a schedule of numadam.schedules"):
            numadam.minimize(fg, True, np.ones(3), options={
                "lr": sched, "maxiter": 5, "checkpoint": tmp_path / "run.npz"})
        assert calls == [] and not (tmp_path / "run.npz").exists()


_CRAFTED = {   # found by review: loaded, or raised from inside (OverflowError, KeyError, ...)
    "a NaN in x": (None, lambda a: a["x"].__setitem__(0, np.nan), "its x holds NaN"),
    "a position past the epoch": (lambda m: m["batches"].__setitem__("pos", 10 ** 6), None,
                                  "its batches' pos is 1000000"),
    "a negative nit": (lambda m: m.__setitem__("nit", -5), None, "its nit is -5"),
    "a nit that is text": (lambda m: m.__setitem__("nit", "abc"), None, "its nit is 'abc'"),
    "a huge nit": (lambda m: m.__setitem__("nit", 10 ** 30), None, "its nit is 1000000"),
    "counts as a list": (lambda m: m.__setitem__("counts", [1]), None, "its counts are"),
    "a bad generator state": (lambda m: m.__setitem__("user_rng", {"bit_generator": "PCG64",
                                                                   "state": 5}), None,
                              "its user_rng part is malformed"),
    "a history array missing": (None, lambda a: a.pop("history.step"),
                                "its history part is malformed"),
}


@pytest.mark.parametrize("case", sorted(_CRAFTED))
def test_crafted_minimize_checkpoints_are_one_value_error_naming_the_file(case, tmp_path):
    """A file rewritten with a valid checksum but impossible content: one
    ValueError naming the file, nothing loaded."""
    import copy

    from numadam import _checkpoint
    from numadam.problems import logistic_loss, make_logistic_regression
    X, y, _ = make_logistic_regression(203, 6, seed=0)
    path = tmp_path / "run.npz"
    run = dict(data=(X, y), rng=3)
    numadam.minimize(logistic_loss, True, np.zeros(6), **run,
                     options={"batch_size": 30, "maxiter": 10, "checkpoint": path,
                              "checkpoint_every": 10, "history": 1})
    meta, arrays = _checkpoint.read(path, "minimize")
    change_meta, change_arrays, match = _CRAFTED[case]
    meta = copy.deepcopy(meta)
    arrays = {k: v.copy() for k, v in arrays.items()}
    if change_meta:
        change_meta(meta)
    if change_arrays:
        change_arrays(arrays)
    bad = tmp_path / "crafted.npz"
    _checkpoint.write(bad, meta, arrays)
    with pytest.raises(ValueError, match=rf"checkpoint .*crafted.npz.* {match}"):
        numadam.minimize(logistic_loss, True, np.zeros(6), **run,
                         options={"resume": bad, "maxiter": 20})


def test_the_end_of_a_run_is_saved_except_after_a_non_finite_value(tmp_path):
    """A run shorter than checkpoint_every leaves its checkpoint (it left none),
    and goes on from it bit for bit with a larger maxiter; a run stopped by a
    NaN keeps the last checkpoint before it (to resume with other options)."""
    from numadam.problems import logistic_loss, make_logistic_regression
    X, y, _ = make_logistic_regression(203, 6, seed=0)
    run = dict(data=(X, y), rng=3)
    opts = {"batch_size": 30, "gtol": 0}
    path = tmp_path / "short.npz"
    numadam.minimize(logistic_loss, True, np.zeros(6), **run,
                     options={**opts, "maxiter": 15, "checkpoint": path})
    assert _checkpoint.read(path, "minimize")[0]["nit"] == 15
    more = numadam.minimize(logistic_loss, True, np.zeros(6), **run,
                            options={"resume": path, "maxiter": 40})
    whole = numadam.minimize(logistic_loss, True, np.zeros(6), **run,
                             options={**opts, "maxiter": 40})
    np.testing.assert_array_equal(more.x, whole.x)

    calls = [0]

    def fails_late(x, a, b):
        calls[0] += 1
        f, g = logistic_loss(x, a, b)
        return (np.nan, g) if calls[0] > 25 else (f, g)

    bad = tmp_path / "nan.npz"
    r = numadam.minimize(fails_late, True, np.zeros(6), **run,
                         options={**opts, "maxiter": 40, "checkpoint": bad,
                                  "checkpoint_every": 10})
    assert r.status == 3 and r.nit == 25
    assert _checkpoint.read(bad, "minimize")[0]["nit"] == 20
