"""Demand layers a planner sent (or picked), kept only as long as the answers computed over them.

A costly question is answered by a runner process (`jobs`), so a layer sent to the web service must
reach it: it is kept in `DATA_DIR/demand/<key>.npz` (its points, units, labels), named by the layer's
content key, and deleted `KEEP_S` after it was last sent, the time the answers to questions over it are
kept (`jobs` drops answers after a day), and at most `MAX_KEPT` layers at once (the least recently sent
go first), so that sending files cannot fill the disk. Nothing else of it is stored; the registry is not touched.
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from .demand import Demand

KEEP_S = 24 * 3600.0  # a day; the answers computed over a layer are kept as long (`jobs.KEPT_S`)
MAX_KEPT = 50  # layers kept at once (each at most a few MB): beyond it the least recently sent go first
DIRNAME = "demand"
KEY = re.compile(r"^demand-[0-9a-f]{16}$")
_ARRAYS = ("lon", "lat", "x", "y", "weight", "district", "township")
_TEXT = ("modelled", "label", "label_zh", "source", "key", "notes")


def check_key(value: str) -> str:
    """A demand layer's key as the API gave it (demand- and 16 hex digits), else InvalidInput."""
    text = str(value).strip()
    if not KEY.match(text):
        raise InvalidInput(f"demand {text[:40]!r} is not a demand layer's key: send the file to POST /api/demand "
                           "and use the key it answers")
    return text


def _path(data_dir: Path | str, key: str) -> Path:
    if not KEY.match(key or ""):
        raise NotFound(f"没有这个需求图层 · no demand layer {str(key)[:40]!r}: send the file again")
    return Path(data_dir) / DIRNAME / f"{key}.npz"


def sweep(data_dir: Path | str, now: float | None = None, room: int = 0) -> int:
    """Delete layers last sent more than KEEP_S ago, and the least recently sent beyond MAX_KEPT - room;
    returns how many."""
    folder = Path(data_dir) / DIRNAME
    if not folder.is_dir():
        return 0
    cutoff = (now or time.time()) - KEEP_S
    kept = []
    for f in folder.glob("*.npz"):
        try:
            kept.append((f.stat().st_mtime, f))
        except FileNotFoundError:
            pass
    kept.sort(reverse=True)
    gone = 0
    for i, (mtime, f) in enumerate(kept):
        if mtime < cutoff or i >= MAX_KEPT - room:
            f.unlink(missing_ok=True)
            gone += 1
    return gone


def save(data_dir: Path | str, demand: Demand) -> str:
    """Keep a layer for the runners under its content key (written whole, then renamed into place)."""
    path = _path(data_dir, demand.key)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep(data_dir, room=1)
    meta = {"modelled": demand.modelled, "label": demand.label, "label_zh": demand.label_zh,
            "source": demand.source, "key": demand.key, "notes": list(demand.notes)}
    arrays = {a: np.asarray(getattr(demand, a)) for a in _ARRAYS}
    arrays["district"], arrays["township"] = (np.asarray(arrays[a], dtype=str) for a in ("district", "township"))
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez_compressed(fh, meta=np.array(json.dumps(meta, ensure_ascii=False)), **arrays)
    os.replace(tmp, path)
    return demand.key


def load(data_dir: Path | str, key: str) -> Demand:
    """A kept layer by key; NotFound once it is gone (expired, or never sent here)."""
    from .demand import Demand

    path = _path(data_dir, key)
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            arrays = {a: f[a] for a in _ARRAYS}
    except FileNotFoundError:
        raise NotFound(f"需求图层已过期或不存在，请重新上传 · the demand layer {key} is gone (layers are kept "
                       f"{KEEP_S / 3600:g} h): send it again") from None
    return Demand(lon=arrays["lon"], lat=arrays["lat"], x=arrays["x"], y=arrays["y"], weight=arrays["weight"],
                  district=arrays["district"], township=arrays["township"], modelled=bool(meta["modelled"]),
                  label=meta["label"], label_zh=meta["label_zh"], source=meta["source"], key=meta["key"],
                  notes=tuple(meta["notes"]))


def describe(data_dir: Path | str, key: str) -> dict:
    """A kept layer's labels and source (without reading its points); NotFound once it is gone."""
    try:
        with np.load(_path(data_dir, key), allow_pickle=False) as f:
            return json.loads(str(f["meta"]))
    except FileNotFoundError:
        raise NotFound(f"需求图层已过期或不存在，请重新上传 · the demand layer {key} is gone (layers are kept "
                       f"{KEEP_S / 3600:g} h): send it again") from None
