"""``xtal-train recalibrate``: refit a model's crystal-hit operating point on the store's labelled drops.

    xtal-train recalibrate [--db DB] [--model ID|PATH] [--crystal-recall 0.99] [--out PATH] [--no-activate]

No training: one forward pass per labelled drop, then the temperature, the straight-edge logistic and
the threshold are fitted on those labels (``xtalviewer/model/recalibration.py``). The result is a new
registered model with the same weights; it prints crystal recall and review load on the labels before
and after. Exit status 2 when there is nothing to recalibrate on.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from xtalviewer.settings import default_db_location
from xtalviewer.store.location import adopt_password, location_of
from xtalviewer.model.recalibration import RecalibrationError, recalibrate
from xtalviewer.store.store import Store


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xtal-train recalibrate", description=__doc__.split("\n\n")[0])
    p.add_argument("--db", default=None, help=f"database: a file or postgresql:// URL (default {default_db_location()})")
    p.add_argument("--model", default=None, metavar="ID|PATH", help="the model to refit (default: the current one)")
    p.add_argument("--crystal-recall", type=float, default=None, metavar="R",
                   help="target crystal recall (default: the model's own, else 0.99)")
    p.add_argument("--out", type=Path, default=None, help="where the recalibrated checkpoint goes")
    p.add_argument("--shape", choices=("auto", "on", "off"), default="auto",
                   help="straight-edge score beside the network: kept where it does better on the labels (auto), on, off")
    p.add_argument("--no-activate", action="store_true", help="register it without making it active")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    db = adopt_password(location_of(args.db or default_db_location()))
    if db.missing:
        raise RecalibrationError(f"database {db} does not exist")
    with Store(db) as store:
        result = recalibrate(store, args.model, target_recall=args.crystal_recall, out=args.out,
                             activate=not args.no_activate, shape=args.shape, log=(lambda _m: None) if args.json else print)
    if args.json:
        print(json.dumps({"model_id": result.model_id, "path": str(result.path), "drops": result.drops,
                          "crystals": result.crystals, "recall_before": result.recall_before,
                          "load_before": result.load_before, "recall_after": result.recall_after,
                          "load_after": result.load_after, "before": result.before.to_dict(),
                          "after": result.after.to_dict(), "unreadable": result.unreadable}))
    else:
        print(f"Operating point now: {result.after.describe()}")
    return 0
