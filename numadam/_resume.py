"""Checkpoints of a ``minimize`` run: what each piece saves, and the resume.

:class:`RunCheckpoint` writes the run's file from the parts that each piece
that owns state gives (the optimizer, the batches, the history, the patience
rule, the user's random generator) and restores each piece's part on resume,
after checking that the file fits the call.
"""
import os

import numpy as np

from ._inputs import _DATA_OPTIONS, _UNLIMITED

#: options that define the sample order or the recorded state: a resumed run
#: cannot change them
_FIXED_ON_RESUME = ("batch_size", "shuffle", "drop_last", "history", "patience", "ema",
                    "min_delta")


def _read_resume(path, spec):
    """The checkpoint of a ``minimize`` run and the options it recorded."""
    from . import _checkpoint
    meta, arrays = _checkpoint.read(path, "minimize")
    name = os.fspath(path)
    method = meta.get("optimizer", {}).get("method") if isinstance(
        meta.get("optimizer"), dict) else None
    if method != spec.name:
        raise ValueError(f"checkpoint {name!r} does not fit this run: it is a "
                         f"{method!r} run, this run uses {spec.name!r}")
    try:
        loop = dict(meta["loop"])
        if loop.get("maxiter", 0) is None:
            loop["maxiter"] = _UNLIMITED
        # the loop's options win: the optimizer's record holds its own defaults
        # of the same names (nan_policy "raise"), not the run's
        options = {**_checkpoint.decode_options(meta["optimizer"]["options"]), **loop}
        for key in ("data_sha", "bounded", "rng_seed"):
            meta[key]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"checkpoint {name!r} is not a valid minimize state (it lacks "
                         f"the options it was run with: {exc!r})") from None
    return {"meta": meta, "arrays": arrays, "options": options}


def _changed_options(recorded, given):
    """``{name: (recorded, given)}`` for the options a resumed call changes;
    refuses those that cannot change."""
    from . import _checkpoint
    changed = {}
    for key, value in given.items():
        if key in ("checkpoint", "disp", "compiled"):
            continue
        old = recorded.get(key)
        try:
            same = _checkpoint.encode_options({key: old}) == _checkpoint.encode_options(
                {key: value})
        except ValueError:   # a plain callable lr: not comparable, so a change
            same = old is value
        if not same:
            changed[key] = (old, value)
    fixed = [k for k in changed if k in _FIXED_ON_RESUME]
    if fixed:
        raise ValueError(
            f"option{'s' if len(fixed) > 1 else ''} {', '.join(map(repr, fixed))} "
            "cannot change when resuming (the checkpoint's sample order and recorded "
            "state depend on them): "
            + "; ".join(f"{k} was {changed[k][0]!r}, this call gives {changed[k][1]!r}"
                        for k in fixed))
    return changed


def _count(record, key, what):
    """``record[key]``, refused (ValueError naming ``what``) unless an int in
    [0, 2**62]."""
    v = record[key]
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 2 ** 62:
        raise ValueError(f"{what} is {v!r}, not an int in [0, 2**62]")
    return v


def _seed_of(root):
    """What identifies the run's seed: its SeedSequence's entropy and spawn key."""
    ss = root.bit_generator.seed_seq
    return [str(ss.entropy), [int(k) for k in ss.spawn_key]]


def _check_writable(path):
    """Refuse a checkpoint path that cannot be written, before the first step."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ValueError(f"option 'checkpoint' is a directory: {path!r}; give a file "
                         "path")
    if not os.path.isdir(folder):
        raise ValueError(f"option 'checkpoint': the directory {folder!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"option 'checkpoint': the directory {folder!r} is not "
                         "writable")


def _part(arrays, prefix):
    """The arrays of a checkpoint under ``prefix`` (``"batches."``), unprefixed."""
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


class _GeneratorPart:
    """The user's random generator as a piece of the checkpoint."""

    def __init__(self, generator):
        self.generator = generator

    def state(self):
        return self.generator.bit_generator.state

    def restore(self, state):
        self.generator.bit_generator.state = state


def _arrays_text(structure):
    """x0's structure as a message says it."""
    if structure is None:
        return "x0 one array"
    try:
        return "x0's arrays in the order [" + ", ".join(
            f"{name!r} {tuple(shape)}" for name, shape in structure) + "]"
    except (TypeError, ValueError):
        return f"x0's arrays {structure!r}"


class RunCheckpoint:
    """Saves a :class:`numadam._driver.Run` and restores one from a file.

    Each piece that owns state gives its own part: the optimizer
    (``_checkpoint_parts``), the batches, the history and the patience rule
    (``state()`` / ``restore()``), the user's generator (its bit generator's
    state); this class adds the run's counters and what identifies the call
    (the loop options, the data's fingerprint, the bounds, the seed).
    """

    def __init__(self, run, loop, spec, root, rng_given, saved=None, structure=None):
        self.run, self.spec, self.root, self.rng_given = run, spec, root, rng_given
        self.saved = saved
        #: x0's arrays (several): their names and shapes in the flat iterate's
        #: order, which the saved x (flat) and a flat optimizer's state follow
        self.structure = None if structure is None else [
            [name, list(shape)] for name, shape in zip(structure.names, structure.shapes)]
        src = run.src
        self.x, self.box, self.shape, self.dtype = src.x, src.box, src.shape, src.dtype
        self.record_loop = {
            k: (v if k != "maxiter" or v < _UNLIMITED else None)
            for k, v in loop.items() if k not in ("resume", "compiled", "checkpoint")
            and (run.batches is not None or k not in _DATA_OPTIONS)}
        self.data_sha = run.batches.fingerprint() if run.batches is not None else None
        self.method_options = run.opt._user_options()
        if loop["checkpoint"] is not None:
            # everything a checkpoint needs is checked now, not at the first save
            from . import _checkpoint
            _checkpoint.encode_options(self.method_options)
            _check_writable(loop["checkpoint"])

    def _pieces(self):
        """``(key, piece, arrays)`` of the pieces that save and restore their own
        part: ``piece.state()`` gives ``(meta, arrays)`` when ``arrays``, else
        ``meta``; ``piece.restore`` takes the same back."""
        run = self.run
        pieces = [("batches", run.batches, True), ("history", run.history, True),
                  ("patience", run.patience, False),
                  ("user_rng", _GeneratorPart(run.src.user_rng), False)]
        return [p for p in pieces if p[1] is not None]

    def save(self, path):
        from . import _checkpoint
        run = self.run
        meta, arrays = run.opt._checkpoint_parts(prefix="state.")
        meta = {"kind": "minimize", "optimizer": meta, "shape": list(self.shape),
                "dtype": self.dtype.name, "nit": run.nit, "nskip": run.nskip,
                "counts": run.src.counts, "loop": self.record_loop, "rng_seed": _seed_of(self.root),
                "data_sha": self.data_sha, "bounded": self.box is not None,
                "structure": self.structure}
        arrays["x"] = self.x
        if self.box is not None:
            arrays["bounds.lb"], arrays["bounds.ub"] = self.box
        for key, piece, with_arrays in self._pieces():
            if with_arrays:
                meta[key], extra = piece.state()
                arrays.update({f"{key}.{k}": v for k, v in extra.items()})
            else:
                meta[key] = piece.state()
        _checkpoint.write(path, meta, arrays)

    def _check(self, meta, arrays):
        """Refuse a file that does not fit this call (ValueError saying why)."""
        run, shape, dtype, box = self.run, self.shape, self.dtype, self.box
        if meta["optimizer"]["method"] != self.spec.name:
            raise ValueError(f"it is a {meta['optimizer']['method']!r} run, this "
                             f"run uses {self.spec.name!r}")
        if tuple(meta["shape"]) != shape or meta["dtype"] != dtype.name:
            raise ValueError(f"its x is {meta['dtype']} of shape "
                             f"{tuple(meta['shape'])}, x0 is {dtype.name} of shape "
                             f"{shape}")
        saved_x = np.asarray(arrays["x"])
        if saved_x.shape != shape or saved_x.dtype != dtype:
            raise ValueError("its x array does not match its header")
        if not np.isfinite(saved_x).all():
            raise ValueError("its x holds NaN or infinity (a crafted or corrupted file)")
        for key in ("nit", "nskip"):
            _count(meta, key, f"its {key}")
        if not isinstance(meta["counts"], dict):
            raise ValueError(f"its counts are {meta['counts']!r}, not a dict")
        for key in ("nfev", "njev"):
            _count(meta["counts"], key, f"its counts[{key!r}]")
        # (a file of an older numadam has no record: its structure unchecked)
        if "structure" in meta and meta["structure"] != self.structure:
            raise ValueError(f"it was taken with {_arrays_text(meta['structure'])}, this "
                             f"call gives {_arrays_text(self.structure)} (the run's "
                             "iterate is saved as one flat array: give x0's arrays as "
                             "the checkpointed run did, a dict in the same key order)")
        if (run.batches is None) != ("batches" not in meta):
            raise ValueError("it was taken " + ("with" if run.batches is None else
                             "without") + " data, this run is the opposite")
        if run.batches is not None:
            run.batches.check_state(meta["batches"], _part(arrays, "batches."))
        if meta["data_sha"] is not None and self.data_sha is not None \
                and meta["data_sha"] != self.data_sha:
            bad = [i for i, (a, b) in enumerate(zip(meta["data_sha"], self.data_sha))
                   if a != b]
            raise ValueError("it was taken with other data: the bytes of "
                             + ", ".join(f"data[{i}]" for i in bad)
                             + " differ (a fingerprint of every data array is "
                             "recorded)")
        if bool(meta["bounded"]) != (box is not None) or (box is not None and not (
                np.array_equal(arrays["bounds.lb"], box[0])
                and np.array_equal(arrays["bounds.ub"], box[1]))):
            raise ValueError("its bounds differ from this call's bounds (resume "
                             "with the same bounds; they are part of the run)")
        if self.rng_given and meta["rng_seed"] != _seed_of(self.root):
            raise ValueError("it was seeded with another rng (its random streams "
                             "are restored from the file: pass the original seed, "
                             "or rng=None)")
        for name in ("patience", "history"):
            if (getattr(run, name) is None) != (name not in meta):
                raise ValueError(f"the {name} option differs from the checkpointed run")
        return saved_x

    def resume(self, path):
        """Check the file read at the start against this call, then restore
        every piece's part; the call's own options take effect from here."""
        meta, arrays = self.saved["meta"], self.saved["arrays"]
        name = str(path)
        try:
            saved_x = self._check(meta, arrays)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"checkpoint {name!r} is not a valid minimize state: "
                             f"missing or malformed {exc}") from None
        except ValueError as exc:
            raise ValueError(f"checkpoint {name!r} does not fit this run: {exc}") from None
        run = self.run
        # the optimizer checks its own part first
        run.opt._load_checkpoint_parts(meta["optimizer"], arrays, name, prefix="state.")
        try:
            run.opt._replace_options(self.method_options)
        except ValueError as exc:
            raise ValueError(f"checkpoint {name!r} does not fit this run: {exc}") from None
        self.x[...] = saved_x
        run.nit, run.nskip = int(meta["nit"]), int(meta["nskip"])
        run.src.counts.update({k: int(v) for k, v in meta["counts"].items()})
        try:
            for key, piece, with_arrays in self._pieces():
                if with_arrays:
                    piece.restore(meta[key], _part(arrays, key + "."))
                else:
                    piece.restore(meta[key])
        except (KeyError, TypeError, ValueError, AttributeError, IndexError,
                OverflowError) as exc:
            raise ValueError(f"checkpoint {name!r} is not a valid minimize state: "
                             f"its {key} part is malformed ({exc!r})") from None
