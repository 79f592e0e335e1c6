"""Checkpoint files: one ``.npz`` with a JSON header, arrays and a checksum.

A checkpoint holds a JSON header (``__meta__``: what the file is and every
scalar of the saved state), the arrays (``a.NAME``) and a SHA-256 digest of
both (``__sha256__``).  It is written to a temporary file and renamed into
place, so a crash while saving leaves the previous checkpoint intact.

The temporary file lies next to the checkpoint and is named
``<checkpoint name>.<16 random hex digits>.numadam-tmp``.  It is created with
``O_CREAT | O_EXCL`` (and ``O_NOFOLLOW`` where the system has it): an
existing file or a symlink planted at that name is never opened, another
random name is drawn instead, so a symlink cannot redirect the write and
concurrent saves to one path (threads or processes) never share a
temporary.  Its mode is that of a normal new file (``0o666`` less the
umask).  It is written, flushed, ``fsync``-ed and ``os.replace``-d onto the
checkpoint, then the directory is ``fsync``-ed where the system allows; on
any failure, ``KeyboardInterrupt`` included, the temporary is removed and
the exception propagates.

Only a process killed mid-save (``SIGKILL``, power loss) leaves a temporary
behind.  :func:`stale_temporaries` lists the temporaries of one checkpoint
(regular files whose names match the pattern above exactly; symlinks and
the temporaries of other checkpoints are ignored) whose modification time
is more than ``older_than`` seconds old; :func:`remove_stale_temporaries`
deletes them.  Every :func:`write` removes those older than an hour
(:data:`STALE_AFTER`) first; a save in progress keeps touching its
temporary, so it is never taken for a stale one.

Reading refuses, before changing anything and before allocating anything
whose size the file itself claims (no allocation exceeds the file's size on
disk), anything that is not a complete numadam checkpoint of a known
version, with one ``ValueError`` (never a subclass, never another type)
whose message names the file and says what is wrong: a file that is not a
zip or is truncated; a bit flip that changes what the file holds (one in a
field no reader uses, such as a zip timestamp, loads the same state); a
member that is not a numadam array; a zip member that is compressed,
encrypted or declares more bytes than the file holds; a
member whose ``.npy`` header is malformed, declares an array whose size
does not match the bytes stored, or has an object, structured, empty or
non-native-byte-order dtype; a missing or duplicated member; a checksum
that does not match; a header that is not JSON or not a JSON object; another
format, version or kind; and (in :func:`decode_options`) a schedule that is
not a concrete class of :mod:`numadam.schedules` or whose parameters its
constructor refuses.  A missing file raises ``FileNotFoundError`` and other
failures to open it (a directory, no permission) their own ``OSError``.
"""
import collections
import errno
import hashlib
import json
import math
import numbers
import os
import re
import secrets
import stat
import struct
import time
import tokenize
import zipfile

import numpy as np
from numpy.lib import format as _npy

from . import schedules

__all__ = ["write", "read", "encode_options", "decode_options", "stale_temporaries",
           "remove_stale_temporaries", "TMP_SUFFIX", "STALE_AFTER"]

FORMAT = "numadam-checkpoint"
VERSION = 1
TMP_SUFFIX = ".numadam-tmp"
STALE_AFTER = 3600.0
_TOKEN_HEX = 16


# ---------------------------------------------------------------- options
def encode_options(options):
    """Options as JSON values; numadam schedules by name and parameters."""
    return {k: _encode(k, v) for k, v in options.items()}


def _encode(name, value):
    if isinstance(value, schedules.Schedule):
        if _schedule_classes().get(type(value).__name__) is not type(value):
            raise ValueError(
                f"option {name!r} is a schedule of class {type(value).__qualname__!r}, "
                "not a schedule of numadam.schedules: a checkpoint holds those by name "
                "and parameters and could not read this one back (use one of "
                f"{', '.join(sorted(_schedule_classes()))}, or save without it)")
        return {"__schedule__": type(value).__name__,
                "params": {k: _encode(name, v) for k, v in value.params.items()}}
    if callable(value):
        raise ValueError(
            f"option {name!r} is a callable ({value!r}) that a checkpoint cannot "
            "hold: use a schedule from numadam.schedules, which checkpoints save "
            "by name and parameters")
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(name, v) for v in value]}
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    return value


def decode_options(options):
    """The inverse of :func:`encode_options`.

    Raises
    ------
    ValueError
        (only ``ValueError``) if ``options`` is not a dict, a schedule names
        anything but a concrete schedule class exported by
        :mod:`numadam.schedules` (the abstract ``Schedule`` included), its
        ``params`` are not a dict or its constructor refuses them, or a
        tuple is not a list.
    """
    if not isinstance(options, dict):
        raise ValueError(f"the options must be a JSON object; got {_json_kind(options)}")
    out = {}
    for k, v in options.items():
        try:
            out[k] = _decode(k, v)
        except RecursionError:
            raise ValueError(f"option {k!r} is nested too deeply") from None
    return out


def _schedule_classes():
    """name -> class of the concrete schedules that numadam.schedules exports."""
    out = {}
    for n in getattr(schedules, "__all__", ()):
        cls = getattr(schedules, n, None)
        if (isinstance(cls, type) and issubclass(cls, schedules.Schedule)
                and cls is not schedules.Schedule and cls.lr is not schedules.Schedule.lr):
            out[n] = cls
    return out


def _decode(name, value):
    if isinstance(value, dict) and "__schedule__" in value:
        return _decode_schedule(name, value)
    if isinstance(value, dict) and "__tuple__" in value:
        items = value["__tuple__"]
        if not isinstance(items, list):
            raise ValueError(f"option {name!r}: a tuple must be a JSON array; got {items!r}")
        return tuple(_decode(name, v) for v in items)
    return value


def _decode_schedule(name, value):
    cls_name = value["__schedule__"]
    if cls_name == "Schedule":
        raise ValueError(f"option {name!r} names schedule 'Schedule', the abstract base "
                         "class, which has no learning rate")
    classes = _schedule_classes()
    if not isinstance(cls_name, str) or cls_name not in classes:
        raise ValueError(f"option {name!r} names {cls_name!r}, which is not a schedule of "
                         f"numadam.schedules (those are {', '.join(sorted(classes))})")
    if "params" not in value:
        raise ValueError(f"option {name!r}: schedule {cls_name!r} has no params")
    params = value["params"]
    if not isinstance(params, dict):
        raise ValueError(f"option {name!r}: the params of schedule {cls_name!r} must be a "
                         f"JSON object; got {_json_kind(params)}")
    kwargs = {k: _decode(name, v) for k, v in params.items()}
    try:
        return classes[cls_name](**kwargs)
    except RecursionError:
        raise
    except (TypeError, ValueError, ArithmeticError) as exc:
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise ValueError(f"option {name!r}: schedule {cls_name}({args}) is refused: "
                         f"{exc}") from None


def _json_kind(value):
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, list):
        return "a JSON array"
    if isinstance(value, str):
        return "a JSON string"
    if isinstance(value, bool):
        return "a JSON boolean"
    if isinstance(value, (int, float)):
        return "a JSON number"
    if value is None:
        return "JSON null"
    return f"a {type(value).__name__}"


def _digest(meta_json, arrays):
    h = hashlib.sha256(meta_json.encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------- writing
def _token():
    return secrets.token_hex(_TOKEN_HEX // 2)


_CREATE_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                 | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOINHERIT", 0)
                 | getattr(os, "O_CLOEXEC", 0))


def _create_temporary(path):
    """``(fd, name)`` of a new, exclusively created temporary next to ``path``.

    ``O_EXCL`` refuses any existing entry at the name, a symlink included (it
    is not followed), so a planted link cannot redirect the write; the mode
    is ``0o666`` less the umask, as for any new file.
    """
    head, base = os.path.split(path)
    for _ in range(100):
        tmp = os.path.join(head, f"{base}.{_token()}{TMP_SUFFIX}")
        try:
            return os.open(tmp, _CREATE_FLAGS, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary name for the checkpoint "
                          "after 100 tries", path)


def _fsync_directory(directory):
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write(path, meta, arrays):
    """Write ``meta`` (JSON-able dict) and ``arrays`` to ``path`` atomically.

    Through a temporary ``<path>.<16 hex digits>.numadam-tmp`` created
    exclusively (see the module docstring), removed on any failure; this
    checkpoint's temporaries older than :data:`STALE_AFTER` seconds are
    removed first.
    """
    path = os.fspath(path)
    meta = dict(meta, format=FORMAT, version=VERSION)
    meta_json = json.dumps(meta, sort_keys=True)
    payload = {"__meta__": np.array(meta_json), "__sha256__": np.array(_digest(meta_json, arrays))}
    payload.update({f"a.{k}": np.ascontiguousarray(v) for k, v in arrays.items()})
    try:
        remove_stale_temporaries(path, STALE_AFTER)
    except OSError:         # an unreadable directory: creating the temporary will tell
        pass
    fd, tmp = _create_temporary(path)
    try:
        try:
            fh = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            raise
        with fh:
            np.savez(fh, **payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(os.path.dirname(path) or os.curdir)


def _older_than(value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"older_than must be a number of seconds; got {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"older_than must be a finite number of seconds >= 0; got {value!r}")
    return float(value)


def stale_temporaries(path, older_than=STALE_AFTER):
    """The temporaries of checkpoint ``path`` not modified for ``older_than`` seconds.

    Regular files in ``path``'s directory named exactly
    ``<name of path>.<16 hex digits>.numadam-tmp`` (symlinks and other
    checkpoints' temporaries are not listed), as sorted paths joined to
    ``path``'s directory.  A save in progress writes to its temporary, so
    with a limit of minutes or more it is never listed.

    Raises
    ------
    TypeError, ValueError
        If ``older_than`` is not a finite number >= 0.
    OSError
        If the directory cannot be listed.
    """
    older_than = _older_than(older_than)
    head, base = os.path.split(os.fspath(path))
    pattern = re.compile(re.escape(base) + r"\.[0-9a-f]{%d}" % _TOKEN_HEX
                         + re.escape(TMP_SUFFIX) + r"\Z")
    limit = time.time() - older_than
    found = []
    with os.scandir(head or os.curdir) as entries:
        for entry in entries:
            if not pattern.match(entry.name):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:            # removed meanwhile
                continue
            if stat.S_ISREG(st.st_mode) and st.st_mtime <= limit:
                found.append(os.path.join(head, entry.name))
    return sorted(found)


def remove_stale_temporaries(path, older_than=STALE_AFTER):
    """Delete :func:`stale_temporaries` of ``path``; the list of those removed.

    One already gone (another process cleaning up) is skipped silently.
    """
    removed = []
    for tmp in stale_temporaries(path, older_than):
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            continue
        removed.append(tmp)
    return removed


# ---------------------------------------------------------------- reading
class _Malformed(Exception):
    """What is wrong with a checkpoint file (internal; becomes ValueError)."""


_HEADER_MEMBERS = ("__meta__.npy", "__sha256__.npy")
# zip general-purpose flag bits that make a member unreadable or that numadam never writes
_BAD_FLAGS = ((0x0001, "is encrypted"), (0x0040, "uses strong encryption"),
              (0x0020, "holds compressed patched data"),
              (0x2000, "has an encrypted central directory"))
_DTYPE_KINDS = "biufcSU"
_MAX_NDIM = 32
_CHUNK = 1 << 24
# every exception zipfile, numpy's .npy reader, struct and the OS raise on a bad file
_READ_ERRORS = (OSError, EOFError, ValueError, KeyError, IndexError, RuntimeError,
                zipfile.BadZipFile, zipfile.LargeZipFile, struct.error, OverflowError,
                SyntaxError, MemoryError, tokenize.TokenError)


def read(path, kind):
    """``(meta, arrays)`` of the checkpoint at ``path``, verified, of ``kind``.

    Raises
    ------
    FileNotFoundError, OSError
        If the file cannot be opened.
    ValueError
        (exactly ``ValueError``, naming the file) for any malformed file;
        see the module docstring.
    """
    name = os.fspath(path)
    prefix = f"checkpoint {name!r} is truncated or corrupted, or not a numadam checkpoint"
    with open(name, "rb") as fh:
        try:
            meta_json, digest, arrays = _read_members(fh)
            actual = _digest(meta_json, arrays)
        except _Malformed as exc:
            raise ValueError(f"{prefix}: {exc}") from None
        except _READ_ERRORS as exc:
            raise ValueError(f"{prefix}: {_describe(exc)}") from None
    if actual != digest:
        raise ValueError(f"checkpoint {name!r} is corrupted: its checksum does not match")
    try:
        meta = json.loads(meta_json)
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ValueError(f"checkpoint {name!r} has a header that is not JSON: "
                         f"{_describe(exc)}") from None
    if not isinstance(meta, dict):
        raise ValueError(f"checkpoint {name!r} has a header that is {_json_kind(meta)}, "
                         "not a JSON object")
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise ValueError(f"checkpoint {name!r} has format {meta.get('format')!r} "
                         f"version {meta.get('version')!r}; this numadam reads "
                         f"{FORMAT!r} version {VERSION}")
    if meta.get("kind") != kind:
        raise ValueError(f"checkpoint {name!r} holds a {meta.get('kind')!r} state, "
                         f"not a {kind!r} state")
    return meta, arrays


def _describe(exc):
    text = str(exc)
    if isinstance(exc, (RecursionError, MemoryError)) or not text:
        return f"{type(exc).__name__}{': ' + text if text else ''}"
    return text


def _read_members(fh):
    """``(meta_json, digest, arrays)`` of the open file ``fh``, every member checked."""
    disk = os.fstat(fh.fileno()).st_size
    with zipfile.ZipFile(fh) as zf:
        infos = zf.infolist()
        counts = collections.Counter(i.filename for i in infos)
        for fn, c in counts.items():
            if c > 1:
                raise _Malformed(f"it has the member {fn!r} more than once")
        if not set(_HEADER_MEMBERS) <= set(counts):
            raise _Malformed("it has no numadam header")
        declared = 0
        for info in infos:
            _check_member(info, disk)
            declared += info.compress_size
        if declared > disk:
            raise _Malformed(f"its members declare {declared} bytes, more than the file's "
                             f"{disk}")
        members = {}
        for info in infos:
            try:
                members[info.filename] = _read_member(zf, info)
            except _Malformed:
                raise
            except _READ_ERRORS as exc:
                raise _Malformed(f"member {info.filename!r}: {_describe(exc)}") from None
    texts = []
    for fn, what in zip(_HEADER_MEMBERS, ("header", "checksum")):
        a = members.pop(fn)
        if a.shape != () or a.dtype.kind != "U":
            raise _Malformed(f"its {what} is not a single string (a {a.dtype.str} array "
                             f"of shape {a.shape})")
        texts.append(str(a[()]))
    arrays = {fn[2:-4]: a for fn, a in members.items()}
    return texts[0], texts[1], arrays


def _check_member(info, disk):
    """Refuse, from the zip directory alone, a member numadam cannot have written."""
    fn = info.filename
    if fn not in _HEADER_MEMBERS and not (fn.startswith("a.") and fn.endswith(".npy")):
        raise _Malformed(f"it has a member {fn!r} that is not a numadam array")
    for bit, what in _BAD_FLAGS:
        if info.flag_bits & bit:
            raise _Malformed(f"member {fn!r} {what} (zip flag bit {bit.bit_length() - 1})")
    if info.compress_type != zipfile.ZIP_STORED:
        raise _Malformed(f"member {fn!r} uses compression method {info.compress_type}; "
                         "numadam checkpoints are stored uncompressed (method 0)")
    if info.file_size != info.compress_size:
        raise _Malformed(f"member {fn!r} declares {info.file_size} bytes uncompressed "
                         f"but {info.compress_size} stored")
    if info.header_offset + 30 + len(info.orig_filename) + info.compress_size > disk:
        raise _Malformed(f"member {fn!r} declares {info.compress_size} bytes at offset "
                         f"{info.header_offset}, past the end of the {disk}-byte file")


def _read_member(zf, info):
    """The array in one stored ``.npy`` member, its header checked before reading."""
    fn = info.filename
    with zf.open(info) as fp:
        version = _npy.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = _npy.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran, dtype = _npy.read_array_header_2_0(fp)
        else:
            raise _Malformed(f"member {fn!r} is in .npy format version {version}, which "
                             "numadam does not read")
        if dtype.hasobject:
            raise _Malformed(f"member {fn!r} holds Python objects (dtype object), which "
                             "a numadam checkpoint never does")
        if dtype.fields is not None or dtype.subdtype is not None or \
                dtype.kind not in _DTYPE_KINDS:
            raise _Malformed(f"member {fn!r} has unsupported dtype {dtype.str!r}")
        if dtype.byteorder not in "=|":
            raise _Malformed(f"member {fn!r} has non-native byte order ({dtype.str!r})")
        if dtype.itemsize == 0:
            raise _Malformed(f"member {fn!r} has the empty dtype {dtype.str!r}")
        shape = tuple(int(s) for s in shape)
        if len(shape) > _MAX_NDIM:
            raise _Malformed(f"member {fn!r} has {len(shape)} dimensions")
        if any(s < 0 for s in shape):
            raise _Malformed(f"member {fn!r} has a negative dimension in its shape {shape}")
        count = math.prod(shape)
        nbytes = count * dtype.itemsize
        held = info.file_size - fp.tell()
        if nbytes != held:
            raise _Malformed(f"member {fn!r} declares a {dtype.str} array of shape {shape} "
                             f"({nbytes} bytes) but holds {held} bytes")
        # nothing was allocated so far; nbytes is at most the file's size
        buf = np.empty(nbytes, np.uint8)
        pos = 0
        while pos < nbytes:
            chunk = fp.read(min(nbytes - pos, _CHUNK))
            if not chunk:
                raise _Malformed(f"member {fn!r} is truncated")
            buf[pos:pos + len(chunk)] = np.frombuffer(chunk, np.uint8)
            pos += len(chunk)
        if fp.read():      # at the end: this also completes the CRC check
            raise _Malformed(f"member {fn!r} has bytes after its array")
    if count == 0:
        return np.empty(shape, dtype)
    return buf.view(dtype).reshape(shape, order="F" if fortran else "C")
