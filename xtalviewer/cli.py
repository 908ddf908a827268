"""The ``xtalviewer`` command. Every subcommand takes ``--db``; scripts rely on the exit codes:
0 done (even when some files were unreadable), 2 for bad arguments, paths or files of ours."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from xtalviewer import __version__
from xtalviewer.crystal_call import pct
from xtalviewer.store.db import ALLOW_NETWORK_ENV, explain
from xtalviewer.labels import SchemeError
from xtalviewer.files.printable import printable
from xtalviewer.store.location import location_of
from xtalviewer.store.store import Store, StoreError
from xtalviewer.store.annotations import default_annotator
from xtalviewer.predict import add_predict_arguments
from xtalviewer.model.devices import DEVICES
from xtalviewer.cli_common import (  # noqa: F401  (CommandError and open_store are part of this module's interface)
    DB_HELP, CommandError, add_network_flag, checked_output, db_location_of, db_parent, db_path_of, open_store,
    remove_if_empty, writing_output,
)
from xtalviewer.cli_hits import cmd_hits, cmd_report, cmd_watch
from xtalviewer.cli_models import cmd_demo, cmd_models, cmd_predict


# -- subcommands -------------------------------------------------------------------------------


def cmd_import(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from xtalviewer.importers import ImportPathError, import_paths

    missing = [p for p in args.paths if not Path(p).exists() and not Path(p).is_symlink()]
    if missing:
        raise CommandError(f"{printable(missing[0])}: no such file or folder")
    db = db_path_of(args)
    created = db is not None and not db.exists() and not db.is_symlink()
    try:
        with open_store(args, args.scheme, create=True) as store, \
                tqdm(desc="import", unit="img", disable=None, leave=False) as bar:
            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.n = done
                bar.refresh()

            try:
                report = import_paths(store, args.paths, progress=progress, repoint=args.repoint)
            except ImportPathError as exc:
                raise CommandError(str(exc)) from None
            had_models = bool(store.models())
            from xtalviewer.model.registry import ensure_base_model

            day_one = None if had_models else ensure_base_model(store)
    except BaseException:
        if created:
            remove_if_empty(db)  # a failed import leaves no new, empty database behind
        raise
    print(report.summary())
    if day_one is not None:
        print(f"Model: the shipped base model is registered and active ({day_one.name}, id {day_one.id}); "
              "the app scores each plate as it opens, `xtalviewer predict` scores them all now.")
    if report.layouts:
        print("Layouts: " + ", ".join(f"{k} {v}" for k, v in sorted(report.layouts.items())))
    for note in report.notes:
        print(f"Note: {printable(note)}")
    if report.unreadable:
        print(f"Could not read {len(report.unreadable)} file{'s' * (len(report.unreadable) != 1)}:")
        for path, reason in report.unreadable:
            print(f"  {printable(path)}: {printable(reason)}")
    if report.skipped and args.verbose:
        print(f"Skipped {len(report.skipped)}:")
        for path, reason in report.skipped:
            print(f"  {printable(path)}: {printable(reason)}")
    elif report.skipped:
        print(f"Skipped {len(report.skipped)} file(s) (thumbnails or second images of a drop); --verbose lists them.")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from xtalviewer.importers.label_csv import export_csv

    checked_output(args.output, db_path_of(args))
    with open_store(args, readonly=True) as store:
        if args.plate and store.plate_by_barcode(args.plate) is None:
            raise CommandError(f"no plate '{args.plate}' in {store.location}")
        if args.model is not None and store.model(args.model) is None:
            raise CommandError(f"no model {args.model} in the registry")
        with writing_output(args.output):
            n = export_csv(store, args.output, plate=args.plate, model_id=args.model)
    print(f"Wrote {n} row{'s' * (n != 1)} to {printable(args.output)}")
    return 0


def cmd_import_labels(args: argparse.Namespace) -> int:
    from xtalviewer.importers.label_csv import LabelCsvError, read_label_csv, store_labels

    with open_store(args) as store:
        try:
            report, wanted = read_label_csv(store, args.file, annotator=args.annotator,
                                            default_annotator=default_annotator())
        except LabelCsvError as exc:
            raise CommandError(str(exc)) from None
        try:
            store_labels(store, wanted, report)
        except StoreError as exc:
            done = report.stored + report.unchanged
            if not done:
                raise
            raise CommandError(f"{exc} {done} of {len(wanted)} labels were stored or unchanged before that; the same "
                               "command stores the rest.") from None
    print(report.summary())
    for mapping, count in sorted(report.mapped.items()):
        print(f"Mapped {count} label{'s' * (count != 1)}: {printable(mapping)}")
    for line, problem in report.problems:
        print(f"  line {line}: {printable(problem)}")
    for line, later in report.superseded:
        print(f"  line {line}: the same image again on line {later}; the later line counts")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    with open_store(args, readonly=True) as store:
        from xtalviewer.model.registry import current_model

        active = current_model(store)
        plates = store.plate_summaries(active.id if active else None)
        counts = store.label_counts()
        scheme = store.scheme
        version = f"schema {store.schema_version}" if store.upgraded_from is None else (
            f"schema {store.upgraded_from}, read through an upgraded copy in memory: it cannot be written here, and "
            f"is upgraded to schema {store.schema_version} when first opened where it can be")
        print(f"Database {printable(str(store.location))} (label scheme {scheme.id}, {version})")
        print(f"Active model: {active.name + ' (' + str(active.id) + ')' if active else 'none'}")
        header = f"{'plate':<16} {'type':<20} {'insp':>5} {'images':>7} {'labelled':>9} {'crystal':>8} " \
                 f"{'predicted':>10} {'pred. hits':>10} {'unreadable':>10} {'UV/SHG':>7}"
        print(header)
        for p in plates:
            kind = f"{p.rows * p.cols}-well, {p.drops} drop"
            print(f"{printable(p.barcode):<16} {kind:<20} {p.inspections:>5} {p.images:>7} {p.labelled or 0:>9} "
                  f"{p.crystal_labels or 0:>8} {p.predicted or 0:>10} {p.predicted_hits or 0:>10} "
                  f"{p.unreadable or 0:>10} {p.other_mode_images or 0:>7}")
        print("An inspection is one imaging: its UV and SHG images (UV/SHG) are other modes of its drops, "
              "counted apart from the (visible) images.")
        total = sum(counts.values())
        print(f"Labels ({total} images):")
        for c in scheme.classes:
            n = counts.get(c.key, 0)
            print(f"  {c.hotkey}  {c.key:<20} {n:>8}  {pct(n / total if total else 0):>6}{'  crystal' if c.crystal else ''}")
        n = counts.get(None, 0)
        print(f"     {'(unlabelled)':<20} {n:>8}  {pct(n / total if total else 0):>6}")
    return 0


def cmd_screens(args: argparse.Namespace) -> int:
    from xtalviewer.cli_screens import ScreenCommandError, run_screens

    try:
        return run_screens(args, lambda **how: open_store(args, **how))
    except ScreenCommandError as exc:
        raise CommandError(str(exc)) from None


def cmd_conditions(args: argparse.Namespace) -> int:
    from xtalviewer.cli_screens import ScreenCommandError, run_conditions

    try:
        return run_conditions(args, lambda **how: open_store(args, **how))
    except ScreenCommandError as exc:
        raise CommandError(str(exc)) from None


def open_app(args: argparse.Namespace) -> int:
    """No subcommand: the review application on --db (default database)."""
    db = db_location_of(args)
    try:
        Store(db).close()  # a clear message for a database we cannot use, before any window opens
    except (StoreError, SchemeError) as exc:
        if not (isinstance(exc, StoreError) and location_of(db).is_server and args.screenshot is None):
            print(f"xtalviewer: error: {printable(str(exc))}", file=sys.stderr)
            return 2
        # a server out of reach or a wrong password: the app says so in one line and offers Retry or Quit
    from xtalviewer.gui.app.launch import run_app

    return run_app(db, screenshot=args.screenshot, plate=args.plate)


# -- parser ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    db = db_parent()
    parser = argparse.ArgumentParser(
        prog="xtalviewer",
        description="Review crystallization plate images with live CNN predictions, correct labels, retrain.",
    )
    parser.add_argument("--version", action="version", version=f"xtalviewer {__version__}")
    parser.add_argument("--db", default=None, help=f"database to open in the app: {DB_HELP}")
    parser.add_argument("--screenshot", type=Path, default=None, metavar="FILE.png",
                        help="render the main window after loading to this PNG and exit")
    parser.add_argument("--plate", default=None, metavar="BARCODE", help="open this plate first")
    add_network_flag(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("import", parents=[db], help="record plate image folders as the imagers wrote them")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image folders or files")
    p.add_argument("--scheme", default=None, help="label scheme for a new database (default xtal10)")
    p.add_argument("-v", "--verbose", action="store_true", help="also list skipped files")
    p.add_argument("--repoint", action="store_true",
                   help="a drop recorded from another copy of its folder takes this copy's file (without it the "
                        "first copy is kept while its files exist)")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("export", parents=[db], help="write one CSV row per image: labels and top-3 predictions")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="FILE.csv")
    p.add_argument("--plate", metavar="BARCODE", help="only this plate")
    p.add_argument("--model", type=int, metavar="ID", help="predictions of this model (default: the active one)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("import-labels", parents=[db], help="store labels from a CSV (export format or image_path,label)")
    p.add_argument("file", type=Path, metavar="FILE.csv")
    p.add_argument("--annotator", help="who the labels are credited to (default: the CSV's annotator column, "
                                       "else your user name)")
    p.set_defaults(func=cmd_import_labels)

    p = sub.add_parser("stats", parents=[db], help="counts per plate and per label")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("hits", parents=[db], help="drops across all plates that are (or were) hits, best first")
    p.add_argument("--plate", metavar="BARCODE", help="only this plate")
    p.add_argument("--since", metavar="DATE", help="only drops whose latest inspection was imaged on or after DATE")
    p.add_argument("--new", action="store_true", help="only drops whose first hit is their latest inspection")
    p.add_argument("--component", metavar="NAME", help="only drops whose well's screen condition contains NAME "
                   "(a chemical, e.g. 'PEG 3350'; case and spacing do not count)")
    p.add_argument("--model", type=int, metavar="ID", help="this model's hits (default: the active one)")
    p.add_argument("-o", "--output", type=Path, metavar="FILE", help="write every row to FILE (as --format, else "
                   "by its suffix: .md, .html, anything else CSV)")
    p.add_argument("--format", choices=["md", "html", "csv"], default=None,
                   help="Markdown or HTML (one line per plate, then the drops) or CSV; without -o printed alone, "
                        "for a mail from a cron job")
    p.set_defaults(func=cmd_hits)

    p = sub.add_parser("watch", parents=[db], help="import and score new inspections as the imagers write them")
    p.add_argument("folders", nargs="*", type=Path, metavar="FOLDER",
                   help="imager folders to follow (default: watch_folders in the Preferences)")
    p.add_argument("--settle", type=float, default=30.0, metavar="SECONDS",
                   help="an inspection is imported when none of its files changed for SECONDS and each has its "
                        "end marker (default 30)")
    p.add_argument("--poll", type=float, default=None, metavar="SECONDS",
                   help="poll the folders every SECONDS instead of waiting for change events (automatic, every "
                        "10 s, on network shares)")
    p.add_argument("--once", action="store_true",
                   help="one pass: import and score what is complete now, then exit (for a scheduled task)")
    p.add_argument("--summary", type=Path, default=None, metavar="FILE",
                   help="rewrite FILE (.md, .html or .csv) with the new hits since yesterday after each inspection "
                        "(default: watch_summary in the Preferences)")
    p.add_argument("--device", default=None, choices=DEVICES, help="auto: CUDA, then Apple MPS, then CPU "
                   "(default: the Preferences' device)")
    p.add_argument("--batch-size", type=int, default=16)
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("predict", parents=[db], help="score drops with a trained model (top-3 per drop)")
    add_predict_arguments(p)  # the predict command owns its options (also for its --nproc workers)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("models", parents=[db], help="list the model registry, or activate a model")
    p.add_argument("action", nargs="?", choices=["list", "activate"], default="list")
    p.add_argument("id", nargs="?", type=int, help="model id (for activate)")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("report", parents=[db], help="write a one-file HTML report of a plate inspection")
    p.add_argument("--plate", required=True, metavar="BARCODE")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="FILE.html")
    p.add_argument("--inspection", default=None, metavar="KEY", help="inspection key or imaging date (default: latest)")
    p.set_defaults(func=cmd_report)

    from xtalviewer.cli_db import add_parser as add_db_parser

    add_db_parser(sub)

    p = sub.add_parser("demo", parents=[db], help="write synthetic demo plates, import them, label a share")
    p.add_argument("--out", type=Path, default=None, help="folder for the plate images (default: user data folder)")
    p.add_argument("--plates", type=int, default=4, help="number of 96-well plates (default 4)")
    p.add_argument("--inspections", type=int, default=3, help="inspections per plate (default 3)")
    p.add_argument("--labelled", type=float, default=0.6, help="share of images with an earlier human label (0.6)")
    p.add_argument("--size", default="1224x1024", help="image size WIDTHxHEIGHT (default 1224x1024)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-train", action="store_true", help="skip the quick ResNet training at the end")
    p.add_argument("--train-minutes", type=float, default=1.0, help="time limit of the demo's fine-tuning (1.0)")
    p.set_defaults(func=cmd_demo)

    from xtalviewer.cli_screens import add_parsers as add_screen_parsers

    add_screen_parsers(sub, db, screens=cmd_screens, conditions=cmd_conditions)
    from xtalviewer.cli_roots import add_parser as add_roots_parser

    add_roots_parser(sub, db)
    return parser


EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for `grep` or `cat` whose reader left early


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. When the reader of our output leaves early (``xtalviewer stats | head -1``),
    stop quietly with EXIT_BROKEN_PIPE: the work was done and committed before anything was printed,
    and only the rest of the text is lost."""
    try:
        code = run_command(argv)
        sys.stdout.flush()  # a reader that left is found here, not by the flush at interpreter exit
        return code
    except BrokenPipeError:
        try:  # what is still buffered goes nowhere, so the flush at exit says nothing either
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_BROKEN_PIPE


def run_command(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "db", None) is not None:  # a URL's password goes to PGPASSWORD before anything shows or passes it on
        args.db = db_location_of(args)
    if args.allow_network_db:  # child processes (training from the app, torchrun workers) inherit it
        os.environ[ALLOW_NETWORK_ENV] = "1"
    if args.command is None:
        return open_app(args)
    try:
        return args.func(args)
    except (CommandError, StoreError, SchemeError) as exc:  # names from outside inside: shown escaped
        print(f"xtalviewer {args.command}: error: {printable(str(exc))}", file=sys.stderr)
        return 2
    except sqlite3.OperationalError as exc:  # busy past the timeout, read-only: one line, exit 2
        path = db_path_of(args)
        explained = explain(exc, path) if path is not None else None
        if explained is None:
            raise
        print(f"xtalviewer {args.command}: error: {printable(str(explained))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"xtalviewer {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
