"""Checkpoint files: one ``.npz`` with a JSON header, arrays and a checksum.

A checkpoint holds a JSON header (``__meta__``: what the file is and every
scalar of the saved state), the arrays (``a.NAME``) and a SHA-256 digest of
both (``__sha256__``).  It is written to a temporary file and renamed into
place, so a crash while saving leaves the previous checkpoint intact.
Reading refuses, with a ``ValueError`` that names the file, anything that is
not a complete numadam checkpoint of a known version: a truncated or
otherwise corrupted file fails to unzip or fails the checksum.
"""
import hashlib
import json
import os
import zipfile

import numpy as np

from . import schedules

__all__ = ["write", "read", "encode_options", "decode_options"]

FORMAT = "numadam-checkpoint"
VERSION = 1


def encode_options(options):
    """Options as JSON values; numadam schedules by name and parameters."""
    return {k: _encode(k, v) for k, v in options.items()}


def _encode(name, value):
    if isinstance(value, schedules.Schedule):
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
    """The inverse of :func:`encode_options`."""
    return {k: _decode(v) for k, v in options.items()}


def _decode(value):
    if isinstance(value, dict) and "__schedule__" in value:
        cls = getattr(schedules, value["__schedule__"], None)
        if not (isinstance(cls, type) and issubclass(cls, schedules.Schedule)):
            raise ValueError(f"unknown schedule {value['__schedule__']!r}")
        return cls(**{k: _decode(v) for k, v in value["params"].items()})
    if isinstance(value, dict) and "__tuple__" in value:
        return tuple(_decode(v) for v in value["__tuple__"])
    return value


def _digest(meta_json, arrays):
    h = hashlib.sha256(meta_json.encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def write(path, meta, arrays):
    """Write ``meta`` (JSON-able dict) and ``arrays`` to ``path`` atomically."""
    path = os.fspath(path)
    meta = dict(meta, format=FORMAT, version=VERSION)
    meta_json = json.dumps(meta, sort_keys=True)
    payload = {"__meta__": np.array(meta_json), "__sha256__": np.array(_digest(meta_json, arrays))}
    payload.update({f"a.{k}": np.ascontiguousarray(v) for k, v in arrays.items()})
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, **payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read(path, kind):
    """``(meta, arrays)`` of the checkpoint at ``path``, verified, of ``kind``."""
    name = os.fspath(path)
    try:
        with np.load(name, allow_pickle=False) as z:
            files = set(z.files)
            if not {"__meta__", "__sha256__"} <= files:
                raise ValueError("it has no numadam header")
            meta_json = str(z["__meta__"][()])
            digest = str(z["__sha256__"][()])
            arrays = {k[2:]: z[k] for k in files if k.startswith("a.")}
    except FileNotFoundError:
        raise
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile,
            zipfile.LargeZipFile) as exc:
        raise ValueError(f"checkpoint {name!r} is truncated or corrupted, or not a "
                         f"numadam checkpoint: {exc}") from None
    if _digest(meta_json, arrays) != digest:
        raise ValueError(f"checkpoint {name!r} is corrupted: its checksum does not match")
    meta = json.loads(meta_json)
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise ValueError(f"checkpoint {name!r} has format {meta.get('format')!r} "
                         f"version {meta.get('version')!r}; this numadam reads "
                         f"{FORMAT!r} version {VERSION}")
    if meta.get("kind") != kind:
        raise ValueError(f"checkpoint {name!r} holds a {meta.get('kind')!r} state, "
                         f"not a {kind!r} state")
    return meta, arrays
