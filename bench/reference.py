"""How a model calls real drops: review load on real non-crystal drops and the real crystal image.

    python bench/reference.py --model ID|PATH [--db DB] [--reference DIR] --json

Scores the real drop images of the reference folder (default ``../shared/reference-drops`` beside
the repository: XChem/Formulatrix and Rigaku plates of clear drops, skins and a fibre, plus four
MARCO images named by class) exactly as the app does (the model's preprocessing, crop and
temperature), and reports per image the crystal probability, whether it is a hit at the model's
operating point and whether a crystal class is in its top 3. Summaries: the review load (share
flagged) on the XChem and Rigaku drops, which hold no crystals, by both strategies, and whether the
MARCO crystal image is flagged. Targets: review load <= 30% at the operating point with the MARCO
crystal flagged. The images are read where they are; nothing is copied.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from xtalviewer.core.crystal_call import crystal_in_top3, crystal_probability  # noqa: E402
from xtalviewer.core.imaging import IMAGE_SUFFIXES, load_rgb  # noqa: E402
from xtalviewer.core.inference import Scorer, select_device  # noqa: E402
from xtalviewer.core.models import load_checkpoint  # noqa: E402

DEFAULT_REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference-drops"


def groups(folder: Path) -> dict[str, list[Path]]:
    """Reference images by kind: 'no crystal' (XChem, Rigaku, MARCO non-crystal) and 'crystal' (MARCO)."""
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    out: dict[str, list[Path]] = {"xchem": [], "rigaku": [], "marco_crystal": [], "marco_other": []}
    for p in files:
        if "xchem" in p.parts:
            out["xchem"].append(p)
        elif "rigaku" in p.parts:
            out["rigaku"].append(p)
        elif p.name.startswith("marco_"):
            out["marco_crystal" if "crystal" in p.name else "marco_other"].append(p)
    return out


def resolve(model_ref: str, db: str | None) -> Path:
    if Path(model_ref).is_file():
        return Path(model_ref)
    from xtalviewer.core.paths import default_db_path
    from xtalviewer.core.registry import resolve_model
    from xtalviewer.core.store import Store

    with Store(db or default_db_path(), create=False) as store:
        return Path(resolve_model(store, None if model_ref == "active" else model_ref)["path"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="active", help="checkpoint path, registry id, or 'active' (default)")
    ap.add_argument("--db", default=None)
    ap.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if not args.reference.is_dir():
        print(f"reference folder {args.reference} not found", file=sys.stderr)
        return 2
    path = resolve(args.model, args.db)
    meta, net = load_checkpoint(path)
    scorer = Scorer(net, meta, select_device(args.device))
    op, mask = meta.operating_point, meta.crystal
    per_image, summary = [], {}
    for kind, files in groups(args.reference).items():
        flagged = top3_flagged = 0
        for f in files:
            x = meta.preprocess(load_rgb(f, min_side=meta.preprocess.decode_min_side()))
            probs = scorer.forward(torch.stack([x]))[0]
            cp = float(crystal_probability(probs, mask))
            hit, top3 = cp >= op.threshold, bool(crystal_in_top3(probs, mask))
            flagged += hit
            top3_flagged += top3
            order = probs.argsort()[::-1][:3]
            per_image.append({"kind": kind, "file": f.name, "crystal_prob": round(cp, 4), "hit": bool(hit),
                              "crystal_top3": top3, "top3": [(meta.classes[i], round(float(probs[i]), 3)) for i in order]})
        if files:
            summary[kind] = {"images": len(files), "hits": int(flagged), "top3_flags": int(top3_flagged)}
    clear = [r for r in per_image if r["kind"] in ("xchem", "rigaku")]
    crystal = [r for r in per_image if r["kind"] == "marco_crystal"]
    ranked = sorted(per_image, key=lambda r: -r["crystal_prob"])
    out = {
        "model": str(path), "arch": meta.arch, "input_size": meta.preprocess.input_size, "crop": meta.preprocess.crop,
        "operating_point": op.to_dict(),
        "review_load_no_crystal_drops": round(sum(r["hit"] for r in clear) / len(clear), 4) if clear else None,
        "top3_review_load_no_crystal_drops": round(sum(r["crystal_top3"] for r in clear) / len(clear), 4) if clear else None,
        "marco_crystal_flagged": all(r["hit"] for r in crystal) if crystal else None,
        "marco_crystal_rank": [ranked.index(r) + 1 for r in crystal],
        "summary": summary, "images": per_image,
        "targets": {"review_load_no_crystal_drops": "<= 0.30", "marco_crystal_flagged": True},
    }
    print(json.dumps(out) if args.json else json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
