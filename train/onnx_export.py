"""``xtal-train export-onnx``: a trained model as an ONNX file that deploys without xtalviewer or PyTorch.

    xtal-train export-onnx --model ID|PATH -o model.onnx [--db DB] [--opset N] [--no-dynamic-batch]

The graph takes ``input``, a float32 NCHW batch preprocessed exactly as the checkpoint says (fit to
S x S, /255, normalise), and returns ``probabilities`` (N x classes): softmax is part of the graph,
so deployment code gets the same numbers as ``Scorer.forward``. Everything a deployer needs to
feed it and read it (classes in output order, crystal classes, preprocessing, label scheme,
source checkpoint) travels in the model's ``metadata_props`` and in a ``model.onnx.json`` sidecar.
After export, onnxruntime (when installed) scores a random batch and must agree with PyTorch.

The TorchScript-based exporter (``dynamo=False``) is used: it needs only the ``onnx`` package and
takes any opset up to 20, where the torch.export-based one also needs ``onnxscript``. It cannot
export an adaptive average pool whose input is not a multiple of its output (AlexNet and VGG at
most sizes other than 224 px), so such pools are swapped for an exact fixed-size equivalent first.

Exit status: 0 exported (and verified when onnxruntime is installed), 1 export or verification
failed, 2 bad arguments, unknown model, unreadable checkpoint or onnx not installed.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch import nn

import xtalviewer
from xtalviewer.labels import LabelScheme
from xtalviewer.model.architectures import CheckpointMeta, file_sha256, load_checkpoint
from xtalviewer.files.outputs import OutputFileError, output_target, place_output, scratch_path, write_output
from xtalviewer.settings import default_db_location
from xtalviewer.store.location import adopt_password, location_of
from xtalviewer.store.rows import Model

INPUT_NAME = "input"
OUTPUT_NAME = "probabilities"
DEFAULT_OPSET = 17
OPSET_RANGE = (11, 20)  # what the TorchScript exporter supports, from where Softmax/Pad semantics settled
TOLERANCE = 1e-4  # largest allowed |p_onnx - p_torch|
INSTALL_HINT = "pip install 'xtalviewer[onnx]'"
# torch < 2.5 has only the TorchScript exporter and no ``dynamo`` argument
_TORCHSCRIPT_EXPORTER = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
EXIT_FAILED, EXIT_USAGE = 1, 2


class ExportError(Exception):
    """A clear reason why nothing usable was exported; ``status`` is the exit status."""

    def __init__(self, message: str, status: int = EXIT_USAGE):
        super().__init__(message)
        self.status = status


@dataclass
class ExportResult:
    path: Path
    sidecar: Path
    metadata: dict
    opset: int
    dynamic_batch: bool
    seconds: float
    max_abs_diff: float | None = None  # None when onnxruntime is not installed
    verify_batch: int = 0
    onnxruntime_version: str | None = None
    replaced_pools: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class _WithSoftmax(nn.Module):
    """Network + softmax, so the file outputs what ``Scorer.forward`` returns."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=1)


def _pool_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out, n_in) averaging matrix with adaptive_avg_pool's windows [floor(i*n/m), ceil((i+1)*n/m))."""
    m = torch.zeros(n_out, n_in)
    for i in range(n_out):
        start, end = (i * n_in) // n_out, -(-((i + 1) * n_in) // n_out)
        m[i, start:end] = 1.0 / (end - start)
    return m


class FixedAdaptiveAvgPool(nn.Module):
    """``AdaptiveAvgPool2d`` for one known input size, as two matrix products the exporter accepts."""

    def __init__(self, in_hw: tuple[int, int], out_hw: tuple[int, int]):
        super().__init__()
        self.register_buffer("rows", _pool_matrix(in_hw[0], out_hw[0]))
        self.register_buffer("cols_t", _pool_matrix(in_hw[1], out_hw[1]).t().contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.matmul(torch.matmul(self.rows, x), self.cols_t)


def make_exportable(net: nn.Module, input_size: int) -> list[str]:
    """Swap adaptive pools the exporter rejects for exact fixed-size ones, in place; returns their names."""
    pools = [(name, mod) for name, mod in net.named_modules() if isinstance(mod, nn.AdaptiveAvgPool2d)
             and mod.output_size not in (1, (1, 1))]  # global pooling (ResNet, Inception) always exports
    if not pools:
        return []
    seen: dict[str, tuple[int, int]] = {}

    def record(name: str):
        return lambda _module, args: seen.__setitem__(name, tuple(args[0].shape[-2:]))

    hooks = [mod.register_forward_pre_hook(record(name)) for name, mod in pools]
    try:
        with torch.no_grad():
            net(torch.zeros(1, 3, input_size, input_size))
    finally:
        for h in hooks:
            h.remove()
    replaced = []
    for name, in_hw in seen.items():
        pool = net.get_submodule(name)
        size = pool.output_size
        out = (size, size) if isinstance(size, int) else tuple(s if s is not None else d for s, d in zip(size, in_hw))
        if in_hw[0] % out[0] == 0 and in_hw[1] % out[1] == 0:
            continue
        parent_name, _, attr = name.rpartition(".")
        setattr(net.get_submodule(parent_name) if parent_name else net, attr, FixedAdaptiveAvgPool(in_hw, out))
        replaced.append(name)
    return replaced


def export_metadata(meta: CheckpointMeta, sha256: str, registry: Model | None = None) -> dict:
    """What a deployer needs to preprocess inputs and read outputs, as plain JSON values."""
    p = meta.preprocess
    data = {
        "format": "xtalviewer-onnx",
        "arch": meta.arch,
        "classes": list(meta.classes),
        "crystal_classes": [k for k, c in zip(meta.classes, meta.crystal) if c],
        "label_scheme": meta.scheme_id,
        "input_name": INPUT_NAME,
        "output_name": OUTPUT_NAME,
        "output": "softmax probabilities, one column per entry of classes",
        "input_layout": "NCHW float32, RGB",
        "input_size": p.input_size,
        "fit": p.fit,
        "mean": list(p.mean),
        "std": list(p.std),
        "xtalviewer_version": xtalviewer.__version__,
        "source_checkpoint_sha256": sha256,
        "run_id": meta.run_id,
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "torch_version": str(torch.__version__),
    }
    if registry is not None:
        data.update(model_id=registry.id, model_name=registry.name)
    return data


def metadata_props(metadata: dict) -> dict[str, str]:
    """ONNX metadata values are strings: strings stay as they are, everything else is JSON."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items() if v is not None}


PREPROCESS_STEPS = {
    fit: f"decode to RGB; {how}; scale to [0, 1] (/255); subtract mean and divide by std per channel; "
         "HWC -> CHW; stack into an N x 3 x S x S float32 batch"
    for fit, how in (("resize", "resize to S x S ignoring the aspect ratio (area filter when shrinking)"),
                     ("pad", "shrink the long side to S keeping the aspect ratio and centre on a black S x S square"))
}


def usage_example(onnx_name: str, fit: str) -> list[str]:
    """Lines of a short Python recipe that scores one image with the exported file (numpy, Pillow, onnxruntime)."""
    if fit == "pad":
        fit_lines = [
            "# fit 'pad': shrink the long side to s keeping the aspect ratio, centre on black",
            "img.thumbnail((s, s), Image.Resampling.BOX)",
            "square = Image.new('RGB', (s, s))",
            "square.paste(img, ((s - img.width) // 2, (s - img.height) // 2))",
            "img = square",
        ]
    else:
        fit_lines = [
            "# fit 'resize': squash to s x s (area filter when shrinking)",
            "img = img.resize((s, s), Image.Resampling.BOX if min(img.size) >= s else Image.Resampling.BILINEAR)",
        ]
    return [
        "import json",
        "import numpy as np, onnxruntime as ort",
        "from PIL import Image",
        f"meta = json.load(open({onnx_name + '.json'!r}))",
        "s = meta['input_size']",
        "img = Image.open('drop.jpg').convert('RGB')",
        *fit_lines,
        "x = np.asarray(img, np.float32) / 255.0",
        "x = (x - np.float32(meta['mean'])) / np.float32(meta['std'])",
        "x = x.transpose(2, 0, 1)[None]  # HWC -> NCHW",
        f"session = ort.InferenceSession({onnx_name!r}, providers=['CPUExecutionProvider'])",
        "p = session.run([meta['output_name']], {meta['input_name']: x})[0][0]",
        "print([(meta['classes'][i], round(float(p[i]), 3)) for i in np.argsort(-p)[:3]])",
    ]


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ExportError(f"exporting to ONNX needs the onnx package: {INSTALL_HINT}") from None
    return onnx


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        return None
    return onnxruntime


def resolve_checkpoint(ref: str, db: str | Path | None = None) -> tuple[Path, Model | None, LabelScheme | None]:
    """(checkpoint path, registry row or None, scheme to check or None) for a registry id or a path.

    A path is exported as it is: unlike ``predict``, nothing is registered and no database is needed.
    """
    if not ref.isdigit():
        return Path(ref), None, None
    from xtalviewer.store.store import Store

    db = adopt_password(location_of(db or default_db_location()))
    if db.missing:
        raise ExportError(f"database {db} does not exist; pass --db, or --model with a checkpoint path")
    with Store(db, readonly=True) as store:  # exporting reads; a read-only medium is fine
        row = store.model(int(ref))
        if row is None:
            raise ExportError(f"no model {ref} in the registry of {db} (see `xtalviewer models`)")
        return Path(row.path), row, store.scheme


def export_onnx(checkpoint: str | Path, out: str | Path, *, opset: int = DEFAULT_OPSET, dynamic_batch: bool = True,
                registry: Model | None = None, scheme: LabelScheme | None = None, seed: int = 0) -> ExportResult:
    """Export ``checkpoint`` to ``out`` (+ ``out.json``), then check it against PyTorch with onnxruntime.

    Raises ExportError (status 2 for bad input, 1 when export or verification fails) or CheckpointError.
    """
    started = time.perf_counter()
    if not OPSET_RANGE[0] <= opset <= OPSET_RANGE[1]:
        raise ExportError(f"--opset {opset} is not supported (choose {OPSET_RANGE[0]}-{OPSET_RANGE[1]})")
    onnx = _onnx()
    checkpoint, out = Path(checkpoint), Path(out)
    sidecar = out.with_name(out.name + ".json")
    if not out.is_symlink():
        out.parent.mkdir(parents=True, exist_ok=True)
    try:  # a device, FIFO, socket or folder is refused (and left alone) before the export starts
        output_target(out)
        output_target(sidecar)
    except OutputFileError as exc:
        raise ExportError(str(exc)) from None
    meta, net = load_checkpoint(checkpoint, scheme)
    notes = []
    sha256 = file_sha256(checkpoint)
    if registry is not None and registry.sha256 and registry.sha256 != sha256:
        notes.append(f"checkpoint {checkpoint} changed since it was registered (sha256 differs); "
                     "the metadata records the file as it is now")
    size = meta.input_size

    # reference probabilities come from the untouched network, in float32, before any module swap
    generator = torch.Generator().manual_seed(seed)
    check_batch = 3 if dynamic_batch else 1  # not the traced batch of 2, so a fixed batch axis would show
    x_check = torch.randn(check_batch, 3, size, size, generator=generator)
    with torch.no_grad():
        reference = torch.softmax(net(x_check), dim=1).numpy()

    replaced = make_exportable(net, size)
    wrapper = _WithSoftmax(net).eval()
    dummy = torch.randn(2 if dynamic_batch else 1, 3, size, size, generator=generator)
    part = scratch_path(out)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning)  # the TorchScript exporter's notices
            torch.onnx.export(
                wrapper, (dummy,), str(part), **_TORCHSCRIPT_EXPORTER, opset_version=opset, input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME], do_constant_folding=True,
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None,
            )
        model = onnx.load(str(part))
        metadata = export_metadata(meta, sha256, registry)
        onnx.helper.set_model_props(model, metadata_props(metadata))
        model.doc_string = (f"xtalviewer {meta.arch} drop classifier ({len(meta.classes)} classes of scheme "
                            f"'{meta.scheme_id}'); see metadata_props")
        onnx.checker.check_model(model)
        onnx.save(model, str(part))
        place_output(part, out)  # through a symbolic link, never over it
    except Exception as exc:
        part.unlink(missing_ok=True)
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"ONNX export of {meta.arch}@{size} failed: {text}", EXIT_FAILED) from exc

    fit = meta.preprocess.fit
    usage = {"preprocess": PREPROCESS_STEPS.get(fit, fit), "python": usage_example(out.name, fit)}
    try:
        write_output(sidecar, json.dumps({**metadata, "usage": usage}, indent=2) + "\n")
    except (OutputFileError, OSError) as exc:
        raise ExportError(f"{sidecar}: cannot be written ({exc})") from None
    result = ExportResult(path=out, sidecar=sidecar, metadata=metadata, opset=opset, dynamic_batch=dynamic_batch,
                          seconds=0.0, replaced_pools=replaced, warnings=notes)
    ort = _onnxruntime()
    if ort is not None:
        try:
            session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
            got = session.run([OUTPUT_NAME], {INPUT_NAME: x_check.numpy()})[0]
        except Exception as exc:  # onnxruntime raises its own types (e.g. an opset newer than it knows)
            raise ExportError(f"onnxruntime {ort.__version__} cannot run {out}: {str(exc).strip()[:300]}",
                              EXIT_FAILED) from exc
        result.max_abs_diff = float(np.abs(got - reference).max())
        result.verify_batch = check_batch
        result.onnxruntime_version = ort.__version__
        if not result.max_abs_diff <= TOLERANCE:
            raise ExportError(f"{out} does not reproduce PyTorch: onnxruntime {ort.__version__} probabilities differ "
                              f"by up to {result.max_abs_diff:.2e} (allowed {TOLERANCE:.0e}); do not deploy it",
                              EXIT_FAILED)
    result.seconds = time.perf_counter() - started
    return result


def summary(result: ExportResult) -> str:
    m = result.metadata
    mb = result.path.stat().st_size / 1e6
    where = f"model {m['model_id']}" if "model_id" in m else "checkpoint"
    head = (f"Exported {where} ({m['arch']}@{m['input_size']}, {len(m['classes'])} classes) to {result.path} "
            f"({mb:.1f} MB, opset {result.opset}, {'dynamic' if result.dynamic_batch else 'fixed'} batch) "
            f"+ {result.sidecar.name} in {result.seconds:.1f} s; ")
    if result.max_abs_diff is None:
        return head + f"not verified: onnxruntime is not installed ({INSTALL_HINT})."
    return (head + f"onnxruntime {result.onnxruntime_version} matches PyTorch on {result.verify_batch} random inputs "
            f"(max |diff| {result.max_abs_diff:.1e}).")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xtal-train export-onnx",
                                description="Export a trained model to ONNX with its preprocessing and classes.")
    p.add_argument("--model", required=True, metavar="ID|PATH", help="registry id or checkpoint path")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="model.onnx",
                   help="ONNX file to write (a .json sidecar is written next to it)")
    p.add_argument("--db", type=Path, default=None, help="database for registry ids (default: the usual one)")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                   help=f"ONNX opset, {OPSET_RANGE[0]}-{OPSET_RANGE[1]} (default {DEFAULT_OPSET})")
    p.add_argument("--dynamic-batch", action=argparse.BooleanOptionalAction, default=True,
                   help="any batch size (default); --no-dynamic-batch fixes it at 1")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from xtalviewer.labels import SchemeError
    from xtalviewer.model.architectures import CheckpointError
    from xtalviewer.store.store import StoreError

    args = build_parser().parse_args(argv)
    try:
        path, row, scheme = resolve_checkpoint(str(args.model), args.db)
        result = export_onnx(path, args.output, opset=args.opset, dynamic_batch=args.dynamic_batch, registry=row,
                             scheme=scheme)
    except ExportError as exc:
        print(f"xtal-train export-onnx: error: {exc}", file=sys.stderr)
        return exc.status
    except (CheckpointError, SchemeError, StoreError) as exc:
        print(f"xtal-train export-onnx: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for note in result.warnings:
        print(f"xtal-train export-onnx: warning: {note}", file=sys.stderr)
    print(summary(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
