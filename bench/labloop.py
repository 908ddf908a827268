"""The lab-in-the-loop curve: how few of its own labels a source needs to fix the crystal call.

    python bench/labloop.py [--labels CSV] [--model PATH|base] [--k 5,10,20] [--repeats 3] [--steps 15] [--json]

For each source of the labelled real drops (``labels.csv``: file, crystal 1/0, source) and each k,
``--repeats`` random stratified draws of k labelled drops of that source (at least one with and one
without crystals; at least 4 left to test) do what a lab does with its first labels:

- recalibrate: refit temperature, straight-edge logistic and threshold on the k drops
  (``core/recalibration.refit``, the app's own code), no training;
- fine-tune + recalibrate: fine-tune the base model on the k drops for ``--steps`` steps with
  synthetic replay (seeded synthetic drops of every class in each batch, so it does not forget), and
  with the k drops' own non-crystal images as backgrounds for composited synthetic crystals
  (``synthetic.composite``: the lab's imager look, crystal or not), then recalibrate.

Each is tested on the rest of that source: AUC of the crystal probability and crystal recall / share
of non-crystal drops flagged at the refitted operating point, averaged over the draws. Sources with
fewer than k + 4 drops skip that k. Real labels are binary here (crystal or not): for the
10-class temperature fit a crystal drop counts as crystals_3d and any other as clear.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.real import DEFAULT_LABELS, read_labels, resolve_model  # noqa: E402
from train.augment import augment  # noqa: E402
from xtalviewer.crystal_call import recall_and_load  # noqa: E402
from xtalviewer.imaging.decode import load_rgb  # noqa: E402
from xtalviewer.model.metrics import roc_auc  # noqa: E402
from xtalviewer.model.architectures import load_checkpoint  # noqa: E402
from xtalviewer.model.recalibration import LabelledInputs, crystal_scores, refit  # noqa: E402
from xtalviewer.model.shape_score import straight_edge_scores  # noqa: E402
from xtalviewer.synthetic.renderer import CLASS_KEYS, CRYSTAL_KEYS, composite, random_drop  # noqa: E402

MIN_TEST = 4
DRAWABLE = sorted(CRYSTAL_KEYS)  # a fixed order, so a seed draws the same crystals in every run


def replay_set(preprocess, n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """n seeded synthetic drops of every class as model inputs, with their class indices."""
    rng = np.random.default_rng(seed)
    labels = np.array([i % len(CLASS_KEYS) for i in range(n)])
    squares = np.stack([preprocess.fit_square(random_drop(CLASS_KEYS[k], rng, size=(612, 512))) for k in labels])
    return squares, labels


def inputs_of(net, meta, squares: np.ndarray, crystal: np.ndarray) -> LabelledInputs:
    """Raw logits and shape scores of real drops; truth as crystals_3d / clear."""
    with torch.inference_mode():
        z = net.eval()(meta.preprocess.normalise_batch(torch.from_numpy(squares))).float().numpy()
    truth = np.where(crystal, meta.classes.index("crystals_3d"), meta.classes.index("clear"))
    return LabelledInputs(z, straight_edge_scores(squares), truth, 0)


def fine_tune(net, meta, squares: np.ndarray, crystal: np.ndarray, backgrounds: list[np.ndarray],
              replay: tuple[np.ndarray, np.ndarray], steps: int, rng: np.random.Generator, lr: float = 1e-4):
    """The base model fine-tuned on a source's k drops: a crystal-vs-rest loss on them (their labels
    are binary), cross-entropy on synthetic replay, and composited crystals on their clear drops."""
    net = copy.deepcopy(net).train()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    mask = torch.tensor(meta.crystal)
    gen = torch.Generator().manual_seed(int(rng.integers(0, 2**31)))
    for _ in range(steps):
        real_idx = rng.integers(0, len(squares), 16)
        comp, comp_y = [], []
        for _ in range(8 if backgrounds else 0):  # the lab's own clear drops with crystals drawn in
            bg = backgrounds[int(rng.integers(0, len(backgrounds)))]
            out, _ = composite(bg, DRAWABLE[int(rng.integers(0, len(DRAWABLE)))], rng)
            comp.append(meta.preprocess.fit_square(out))
            comp_y.append(True)
        rep_idx = rng.integers(0, len(replay[0]), 16)
        x_bin = np.concatenate([squares[real_idx], np.stack(comp)]) if comp else squares[real_idx]
        y_bin = torch.tensor(np.concatenate([crystal[real_idx], np.array(comp_y, bool)]))
        x = augment(torch.from_numpy(np.concatenate([x_bin, replay[0][rep_idx]])), meta.preprocess, gen)
        logp = F.log_softmax(net(x).float(), 1)
        nb = len(x_bin)
        log_c, log_r = torch.logsumexp(logp[:nb, mask], 1), torch.logsumexp(logp[:nb, ~mask], 1)
        loss = -torch.where(y_bin, log_c, log_r).mean() + F.nll_loss(logp[nb:], torch.from_numpy(replay[1][rep_idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


def evaluate_split(base, meta, squares, crystal, rgb, train_idx, test_idx, replay, steps, rng) -> dict:
    """Recalibration only, and fine-tuning + recalibration, tested on ``test_idx``."""
    mask = np.asarray(meta.crystal, bool)
    out = {}
    for name, net in (("recalibrate", base), ("fine-tune", None)):
        if net is None:
            bgs = [rgb[i] for i in train_idx if not crystal[i]]
            net = fine_tune(base, meta, squares[train_idx], crystal[train_idx], bgs, replay, steps, rng)
        op = refit(inputs_of(net, meta, squares[train_idx], crystal[train_idx]), meta.operating_point, mask,
                   meta.operating_point.target_recall or 0.99, fitted_on=f"{len(train_idx)} drops")
        test = inputs_of(net, meta, squares[test_idx], crystal[test_idx])
        p = crystal_scores(test, op, mask)
        y = crystal[test_idx]
        recall, _ = recall_and_load(p, y, op.threshold)
        out[name] = {"auc": roc_auc(p, y), "recall": recall, "flagged": float((p[~y] >= op.threshold).mean()),
                     "fallback": op.fallback is not None}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--labels", type=Path, default=DEFAULT_LABELS)
    ap.add_argument("--model", default="base")
    ap.add_argument("--k", default="5,10,20")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--replay", type=int, default=120, help="synthetic replay drops")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if not args.labels.is_file():
        print(f"labels {args.labels} not found: the real reference drops are not on this machine", file=sys.stderr)
        return 2
    torch.manual_seed(args.seed)
    started = time.perf_counter()
    path = resolve_model(args.model, None)
    meta, base = load_checkpoint(path)
    rows = read_labels(args.labels)
    rgb = [load_rgb(r["path"], min_side=meta.preprocess.decode_min_side()) for r in rows]
    squares = np.stack([meta.preprocess.fit_square(im) for im in rgb])
    crystal = np.array([r["crystal"] for r in rows], bool)
    replay = replay_set(meta.preprocess, args.replay)
    ks = [int(k) for k in args.k.split(",")]
    rng = np.random.default_rng(args.seed)
    table: dict = {}
    for source in sorted({r["source"] for r in rows}):
        idx = np.array([i for i, r in enumerate(rows) if r["source"] == source])
        pos, neg = idx[crystal[idx]], idx[~crystal[idx]]
        if not len(pos) or not len(neg):
            continue
        for k in ks:
            if len(idx) < k + MIN_TEST:
                continue
            runs = []
            for _ in range(args.repeats):
                for _try in range(50):  # a draw with both kinds in training and in the test
                    train_idx = rng.choice(idx, k, replace=False)
                    test_idx = np.setdiff1d(idx, train_idx)
                    if crystal[train_idx].any() and (~crystal[train_idx]).any() and crystal[test_idx].any() \
                            and (~crystal[test_idx]).any():
                        break
                else:
                    continue
                runs.append(evaluate_split(base, meta, squares, crystal, rgb, train_idx, test_idx, replay,
                                           args.steps, rng))
            if runs:
                table.setdefault(source, {})[k] = {
                    way: {m: round(float(np.nanmean([r[way][m] for r in runs])), 4) for m in ("auc", "recall", "flagged")}
                    | {"draws": len(runs), "fallback_draws": sum(r[way]["fallback"] for r in runs)}
                    for way in ("recalibrate", "fine-tune")}
    out = {"model": str(path), "k": ks, "repeats": args.repeats, "steps": args.steps, "table": table,
           "seconds": round(time.perf_counter() - started, 1)}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{'source':24} {'k':>3}  {'recalibrate: AUC  recall flagged':34} {'fine-tune + recal.: AUC  recall flagged'}")
        for source, by_k in table.items():
            for k, ways in by_k.items():
                a, b = ways["recalibrate"], ways["fine-tune"]
                print(f"{source[:24]:24} {k:>3}  {a['auc']:>16.3f} {a['recall']:>7.3f} {a['flagged']:>7.3f}   "
                      f"{b['auc']:>20.3f} {b['recall']:>7.3f} {b['flagged']:>7.3f}   ({a['draws']} draws)")
        print(f"{out['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
