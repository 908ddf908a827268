"""What a training run has told the Retrain dialog so far (its JSON-lines events, ``train/events.py``)
and the sentences the dialog shows about it. Plain data, no widgets: the dialog draws, this keeps
count, so what the reviewer reads can be tested without a trainer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from xtalviewer.crystal_call import pct
from xtalviewer.gui.retrain.training_curves import as_number


@dataclass
class RunState:
    """One run of the trainer, as its events describe it."""

    run: dict = field(default_factory=dict)  # the "run" event: folder, archs, split sizes, device
    arch: str | None = None  # training, not yet registered
    epochs: int = 0
    metrics: dict[str, dict] = field(default_factory=dict)  # arch -> its test metrics
    inits: dict[str, str] = field(default_factory=dict)  # arch -> how its weights started
    error: str | None = None  # the trainer's own error message, when it sent one
    last_stderr: str = ""  # the last line the trainer wrote to stderr: the reason when it dies silently
    cancelling: bool = False
    close_when_stopped: bool = False

    def follow(self, ev: dict) -> str | None:
        """Take in one event; the status line it calls for (None: keep the current one). Unknown kinds
        are ignored (a newer trainer)."""
        kind, arch = ev.get("event"), ev.get("arch")
        if kind == "run":
            self.run = ev
            return (f"Run {ev.get('run')}: {ev.get('train')} training, {ev.get('val')} validation and "
                    f"{ev.get('test')} test images (split by {ev.get('split_unit')}) on {ev.get('device')}. "
                    "Decoding images…")
        if kind == "start":
            self.arch, self.epochs = arch, int(ev.get("epochs") or 0)
            self.inits[arch] = ev.get("init")
            return f"{arch}: starting, {ev.get('train')} training images at {ev.get('image_size')} px, {ev.get('init')}"
        if kind == "epoch_start":
            self.epochs = int(ev.get("epochs") or self.epochs)
            return f"{arch}: epoch {ev.get('epoch')}/{self.epochs}"
        if kind == "batch":
            return f"{arch}: epoch {int(ev['epoch'])}/{self.epochs}, batch {int(ev['batch'])}/{int(ev['batches'])}"
        if kind == "epoch_end":
            loss = as_number(ev.get("val_loss"))
            loss_text = "–" if loss is None else f"{loss:.4f}"
            return (f"{arch}: epoch {ev['epoch']}/{self.epochs} done, validation loss {loss_text}, "
                    f"accuracy {pct(as_number(ev.get('val_accuracy')))}")
        if kind == "metrics":
            self.metrics[arch] = ev.get("metrics") or {}
            return f"{arch}: testing done, registering the model…"
        if kind == "registered":
            if self.arch == arch:
                self.arch = None
            return None
        if kind == "run_done":
            archs = self.run.get("archs") or []
            rest = archs[archs.index(arch) + 1:] if arch in archs else []
            return f"{arch}: finished, model {ev.get('model_id')}." + (f" Preparing {rest[0]}…" if rest else "")
        if kind == "error" and not ev.get("cancelled"):
            self.error = ev.get("message") or "unknown error"
        return None

    @staticmethod
    def registered_text(rows: Sequence[dict]) -> str:
        done = [f"{r['arch']} (model {r['model_id']})" for r in rows]
        return ("Registered in this run: " + ", ".join(done) + ".") if done else "No model was registered."

    def cancelled_text(self, rows: Sequence[dict]) -> str:
        if self.arch:
            text = f"Cancelled. Nothing was registered for {self.arch}, the unfinished architecture."
        else:
            text = "Cancelled before training began; nothing was registered."
        if rows:
            text += " " + self.registered_text(rows)
        if self.run.get("folder"):
            text += f" Resume from the command line: xtal-train --resume {self.run['folder']}"
        return text

    def done_text(self, rows: Sequence[dict], best: int | None) -> str:
        if best is None:
            return "Done, but no architecture could be scored on the test images. " + self.registered_text(rows)
        row = rows[best]
        return (f"Done: {len(rows)} model(s) registered. Best: {row['arch']} (model {row['model_id']}), "
                "marked ★. Select a row and press Activate to predict with it.")

    def failed_text(self, how: str) -> tuple[str, str]:
        """(the error shown in red, the status line) for a trainer that ``how`` ended badly."""
        why = self.error or self.last_stderr or "see the log"
        return f"Training {how}: {why}", f"Training failed{f' during {self.arch}' if self.arch else ''}. "

    def stop_question(self) -> str:
        what = f" Nothing will be registered for {self.arch}." if self.arch else ""
        return "Training is still running. Stop it?" + what
