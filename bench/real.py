"""How a model calls real drops: AUC, recall and false hits per source, with a contact sheet of its errors.

    python bench/real.py [--labels CSV] [--model PATH|ID|active|base] [--network-only] [--sheet PNG] [--json]

Reads a labels CSV (default ``../shared/reference-drops/labels.csv``: ``file`` relative to the CSV,
``crystal`` 1/0, ``source``) and scores every image exactly as the app does: decoded at the
model's reduced scale, cropped and fitted by its preprocessing, through ``Scorer.forward_uint8``
(temperature, and the straight-edge score where the model's operating point joins it). Per source
and overall: the AUC of the crystal probability (crystal vs no crystal), crystal recall and the share
of non-crystal drops flagged at the model's operating point, and the same two for the top-3
strategy. ``--network-only`` scores with the network alone (the row before the shape score).

The contact sheet (default ``real-sheet.png``, or ``--sheet``) shows each miss and each false hit:
the crop the model saw, then the same crop with the Grad-CAM of its crystal call and the straight
segments the shape score counted (green). Images are read where they are; nothing is copied.
Targets (shipped base model): AUC >= 0.90, recall >= 90% with <= 30% of non-crystal drops flagged.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from xtalviewer.model.inference import Scorer, select_device  # noqa: E402
from xtalviewer.model.architectures import load_checkpoint  # noqa: E402
from xtalviewer.model.real_drops import default_labels, read_labels, score, summarise  # noqa: E402

DEFAULT_LABELS = default_labels()
TARGETS = {"auc": ">= 0.90", "recall": ">= 0.90", "non_crystal_flagged": "<= 0.30"}


def resolve_model(ref: str, db: str | None) -> Path:
    """A checkpoint path from a path, 'base' (the shipped base model), or a registry id / 'active'."""
    if Path(ref).is_file():
        return Path(ref)
    if ref == "base":
        from xtalviewer.model.registry import shipped_base_model

        found = shipped_base_model()
        if found is None:
            raise SystemExit("no base model ships with this installation")
        return found
    from xtalviewer.settings import default_db_location
    from xtalviewer.model.registry import resolve_model as from_registry
    from xtalviewer.store.store import Store

    with Store(db or default_db_location(), create=False) as store:
        return Path(from_registry(store, None if ref == "active" else ref).path)


def contact_sheet(rows: list[dict], squares: list, cam, out: Path, tile: int = 192, columns: int = 4) -> int:
    """Misses and false hits, each as [crop | crop with Grad-CAM and straight segments]; returns how many."""
    from xtalviewer.model.gradcam import overlay
    from xtalviewer.model.shape_score import straight_segments

    wrong = [(r, s) for r, s in zip(rows, squares) if s is not None and "crystal_prob" in r and r["hit"] != r["crystal"]]
    wrong.sort(key=lambda rs: (not rs[0]["crystal"], -rs[0]["crystal_prob"] if not rs[0]["crystal"] else rs[0]["crystal_prob"]))
    if not wrong:
        return 0
    tiles = []
    for r, sq in wrong:
        heat, _ = cam.square_map(sq)
        over = overlay(sq, heat)
        for x0, y0, x1, y1 in straight_segments(sq):
            cv2.line(over, (int(x0), int(y0)), (int(x1), int(y1)), (40, 255, 40), 1, cv2.LINE_AA)
        pair = np.hstack([cv2.resize(sq, (tile, tile)), cv2.resize(over, (tile, tile), interpolation=cv2.INTER_NEAREST)])
        band = np.full((34, pair.shape[1], 3), 20, np.uint8)
        kind = "MISSED crystal" if r["crystal"] else "FALSE hit"
        cv2.putText(band, f"{kind}  p={r['crystal_prob']:.3f}  {r['source'][:24]}", (4, 13), cv2.FONT_HERSHEY_SIMPLEX,
                    0.4, (80, 80, 255) if r["crystal"] else (255, 200, 80), 1, cv2.LINE_AA)
        cv2.putText(band, Path(r["file"]).name[:52], (4, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (230, 230, 230), 1, cv2.LINE_AA)
        tiles.append(np.vstack([band, pair]))
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    sheet = np.vstack([np.hstack(tiles[i : i + columns]) for i in range(0, len(tiles), columns)])
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    return len(wrong)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--labels", type=Path, default=DEFAULT_LABELS)
    ap.add_argument("--model", default="base", help="checkpoint path, registry id, 'active' or 'base' (default)")
    ap.add_argument("--db", default=None)
    ap.add_argument("--network-only", action="store_true", help="score without the straight-edge score")
    ap.add_argument("--sheet", type=Path, default=Path("real-sheet.png"), help="contact sheet of the errors")
    ap.add_argument("--no-sheet", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if not args.labels.is_file():
        print(f"labels {args.labels} not found: the real reference drops are not on this machine", file=sys.stderr)
        return 2
    path = resolve_model(args.model, args.db)
    meta, net = load_checkpoint(path)
    if args.network_only:
        meta = replace(meta, operating_point=replace(meta.operating_point, shape_slope=None, shape_offset=None))
    scorer = Scorer(net, meta, select_device(args.device))
    rows = read_labels(args.labels)
    squares = score(rows, scorer)
    op = meta.operating_point
    scored = [r for r in rows if "crystal_prob" in r]
    for r in scored:
        r["hit"] = r["crystal_prob"] >= op.threshold
    sources = sorted({r["source"] for r in scored})
    out = {"model": str(path), "arch": meta.arch, "input_size": meta.input_size, "crop": meta.preprocess.crop,
           "shape_score": op.fuses_shape, "threshold": op.threshold, "labels": str(args.labels),
           "overall": summarise(scored, op.threshold),
           "by_source": {s: summarise([r for r in scored if r["source"] == s], op.threshold) for s in sources},
           "unreadable": [r["file"] for r in rows if "error" in r], "targets": TARGETS}
    if not args.no_sheet:
        from xtalviewer.model.gradcam import CrystalCam

        cam = CrystalCam(*load_checkpoint(path))
        out["sheet"] = str(args.sheet)
        out["sheet_errors"] = contact_sheet(scored, [s for r, s in zip(rows, squares) if "crystal_prob" in r], cam, args.sheet)
    out["images"] = [{k: (v if not isinstance(v, Path) else str(v)) for k, v in r.items() if k != "path"} for r in scored]
    if args.json:
        print(json.dumps(out))
    else:
        o = out["overall"]
        print(f"{path.name}: {meta.arch}@{meta.input_size}, shape score {'on' if op.fuses_shape else 'off'}, "
              f"threshold {op.threshold:.4f}")
        print(f"{'source':28} {'n':>3} {'xtal':>4} {'AUC':>6} {'recall':>7} {'flagged':>8} {'top3 rec':>9} {'top3 flg':>9}")
        for name, s in [*out["by_source"].items(), ("OVERALL", o)]:
            f = lambda v: "   –" if v is None else f"{v:.3f}"  # noqa: E731
            print(f"{name[:28]:28} {s['images']:>3} {s['crystals']:>4} {f(s['auc']):>6} {f(s['recall']):>7} "
                  f"{f(s['non_crystal_flagged']):>8} {f(s['top3_recall']):>9} {f(s['top3_non_crystal_flagged']):>9}")
        if "sheet" in out:
            print(f"contact sheet of {out['sheet_errors']} errors: {out['sheet']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
