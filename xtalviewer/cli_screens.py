"""``xtalviewer screens`` (import, list, show, assign, rule, rules) and ``xtalviewer conditions``: the
crystallization screens behind the wells and which chemistry crystallises. ``cli`` adds these
parsers and runs the commands; an expected failure is a ``ScreenCommandError`` (one line, exit 2)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from xtalviewer.files.printable import printable
from xtalviewer.store.store import Store

OpenStore = Callable[..., Store]  # (readonly=..., create=...) -> the --db store


class ScreenCommandError(Exception):
    """A clear, expected failure of a screens or conditions command."""


def add_parsers(sub: argparse._SubParsersAction, db: argparse.ArgumentParser,
                screens: Callable[[argparse.Namespace], int], conditions: Callable[[argparse.Namespace], int]) -> None:
    """The ``screens`` and ``conditions`` subcommands, run by ``screens`` and ``conditions`` (cli's wrappers)."""
    p = sub.add_parser("screens", parents=[db], help="crystallization screens: import, list, show, assign to plates")
    p.set_defaults(func=screens, screens_action=None)
    actions = p.add_subparsers(dest="screens_action", metavar="ACTION")
    # --db after the action too, without its default undoing a --db given before it
    action_db = argparse.ArgumentParser(add_help=False)
    action_db.add_argument("--db", default=argparse.SUPPRESS,
                           help="the store: an SQLite file or a postgresql:// URL (as before the action)")
    a = actions.add_parser("import", parents=[action_db], help="store a screen file: HWI cocktail list CSV, a plain "
                           "well,condition CSV, or Rock Maker screen XML")
    a.add_argument("file", type=Path, metavar="FILE")
    a.add_argument("--name", help="the screen's name (default: the file name without suffix)")
    a.add_argument("--format", choices=["hwi", "csv", "rockmaker"], default=None,
                   help="the file's format (default: recognised from the file)")
    a.add_argument("--replace", action="store_true", help="replace the conditions of a screen of that name")
    actions.add_parser("list", parents=[action_db], help="the screens, with their conditions and plates")
    a = actions.add_parser("show", parents=[action_db], help="a screen's conditions by well, and its plates")
    a.add_argument("name", metavar="NAME")
    a = actions.add_parser("assign", parents=[action_db],
                           help="give a plate its screen by hand (--clear: rules decide again)")
    a.add_argument("plate", metavar="PLATE")
    a.add_argument("name", nargs="?", metavar="NAME")
    a.add_argument("--clear", action="store_true", help="clear the plate's hand assignment")
    a = actions.add_parser("rule", parents=[action_db],
                           help="plates whose barcode starts with PATTERN (or matches it whole: --regex) get "
                                "screen NAME")
    a.add_argument("pattern", nargs="?", metavar="PATTERN")
    a.add_argument("name", nargs="?", metavar="NAME")
    a.add_argument("--regex", action="store_true", help="PATTERN is a regular expression the whole barcode matches")
    a.add_argument("--wells", type=int, choices=[96, 384, 1536], help="only plates of this many wells")
    a.add_argument("--remove", type=int, metavar="ID", help="remove rule ID (see `screens rules`)")
    actions.add_parser("rules", parents=[action_db], help="the barcode rules, oldest (first to match) first")

    p = sub.add_parser("conditions", parents=[db], help="which chemistry crystallises: hits and best crystal "
                       "probability per component and pH bin over the plates of a screen")
    p.add_argument("--plate", action="append", default=[], metavar="BARCODE",
                   help="these plates (repeat it; all of one screen); default: every plate of the screen")
    p.add_argument("--screen", metavar="NAME", help="every plate of this screen")
    p.add_argument("--model", type=int, metavar="ID", help="this model's hits (default: the active one)")
    p.add_argument("--json", action="store_true", help="print the whole summary as JSON")
    p.set_defaults(func=conditions)


# -- screens ---------------------------------------------------------------------------------------------------


def run_screens(args: argparse.Namespace, open_store: OpenStore) -> int:
    action = args.screens_action
    if action is None:
        raise ScreenCommandError("say what to do: xtalviewer screens import|list|show|assign|rule|rules (-h for help)")
    if action == "import":
        return _import(args, open_store)
    readonly = action in ("list", "show", "rules")
    with open_store(readonly=readonly) as store:
        return {"list": _list, "show": _show, "assign": _assign, "rule": _rule, "rules": _rules}[action](args, store)


def _import(args: argparse.Namespace, open_store: OpenStore) -> int:
    from xtalviewer.importers.screens import ScreenFileError, read_screen_file
    from xtalviewer.store.screens import ScreenExistsError

    try:
        screen = read_screen_file(args.file, name=args.name, fmt=args.format)
    except ScreenFileError as exc:
        raise ScreenCommandError(str(exc)) from None
    with open_store(create=True) as store:
        try:
            screen_id = store.add_screen(screen, replace=args.replace)
        except ScreenExistsError as exc:
            raise ScreenCommandError(str(exc)) from None
        plates = store.plate_screens(screen_id)
    n = len(screen.conditions)
    print(f"Stored screen {printable(screen.name)}: {n} condition{'s' * (n != 1)} on a "
          f"{screen.rows * screen.cols}-well layout ({screen.rows} × {screen.cols}), "
          f"from {printable(screen.source or '')}.")
    if plates:
        print(f"Plates with this screen: {', '.join(printable(p.barcode) for p in plates)}")
    else:
        print(f"No plate has it yet: xtalviewer screens assign PLATE {printable(screen.name)!r}, or a barcode rule: "
              f"xtalviewer screens rule PREFIX {printable(screen.name)!r}")
    return 0


def _screen_or_fail(store: Store, name: str):
    found = store.screen(name)
    if found is None:
        known = ", ".join(printable(s.name) for s in store.screens()) or "none yet (xtalviewer screens import FILE)"
        raise ScreenCommandError(f"no screen '{name}'; screens: {known}")
    return found


def _list(args: argparse.Namespace, store: Store) -> int:
    found = store.screens()
    if not found:
        print("No screens. Import one: xtalviewer screens import FILE (HWI cocktail list, well,condition CSV or "
              "Rock Maker XML).")
        return 0
    print(f"{'screen':<32} {'conditions':>10} {'layout':>10} {'plates':>6}  source")
    for s in found:
        print(f"{printable(s.name)[:32]:<32} {s.conditions:>10} {f'{s.rows}×{s.cols}':>10} {s.plates:>6}  "
              f"{printable(s.source or '')}")
    return 0


def _show(args: argparse.Namespace, store: Store) -> int:
    s = _screen_or_fail(store, args.name)
    plates = store.plate_screens(s.id)
    print(f"Screen {printable(s.name)}: {s.conditions} conditions on {s.rows} × {s.cols}, from "
          f"{printable(s.source or '–')}")
    print(f"Plates: {', '.join(f'{printable(p.barcode)} ({p.source})' for p in plates) or 'none'}")
    print(f"{'well':<5} {'pos':>5} {'code':<12} {'pH':>5}  condition")
    for c in store.screen_conditions(s.id):
        ph = "" if c.ph_value is None else f"{c.ph_value:g}"
        print(f"{c.well:<5} {c.position:>5} {printable(c.code or '')[:12]:<12} {ph:>5}  {printable(c.description)}")
    return 0


def _plate_or_fail(store: Store, barcode: str):
    plate = store.plate_by_barcode(barcode)
    if plate is None:
        raise ScreenCommandError(f"no plate '{barcode}' in {store.location}")
    return plate


def _assign(args: argparse.Namespace, store: Store) -> int:
    plate = _plate_or_fail(store, args.plate)
    if args.clear == (args.name is not None):
        raise ScreenCommandError("name the screen (xtalviewer screens assign PLATE NAME) or --clear, not both")
    screen_id = None if args.clear else _screen_or_fail(store, args.name).id
    now = store.assign_screen(plate.id, screen_id)
    if now is None:
        print(f"Plate {printable(plate.barcode)} has no screen now (no rule or imager metadata names one).")
    else:
        how = {"hand": "by hand", "rule": f"by rule {now.rule_id}", "imager": "as its imager's metadata names it"}
        print(f"Plate {printable(plate.barcode)} has screen {printable(now.screen)} ({how[now.source]}).")
    return 0


def _rule(args: argparse.Namespace, store: Store) -> int:
    from xtalviewer.store.screens import check_rule

    if args.remove is not None:
        if args.pattern or args.name:
            raise ScreenCommandError("--remove ID takes no PATTERN or NAME")
        if not store.remove_screen_rule(args.remove):
            raise ScreenCommandError(f"no rule {args.remove} (xtalviewer screens rules lists them)")
        print(f"Removed rule {args.remove}.")
        return 0
    if not args.pattern or not args.name:
        raise ScreenCommandError("say which plates and which screen: xtalviewer screens rule PATTERN NAME")
    kind = "regex" if args.regex else "prefix"
    try:
        check_rule(kind, args.pattern)
    except ValueError as exc:
        raise ScreenCommandError(str(exc)) from None
    screen = _screen_or_fail(store, args.name)
    rule_id = store.add_screen_rule(kind, args.pattern, screen.id, args.wells)
    plates = [p for p in store.plate_screens(screen.id) if p.rule_id == rule_id]
    what = f"barcodes matching {args.pattern!r}" if args.regex else f"barcodes starting with {args.pattern!r}"
    size = f" on {args.wells}-well plates" if args.wells else ""
    listed = f" ({', '.join(printable(p.barcode) for p in plates[:10])}{' …' * (len(plates) > 10)})" if plates else ""
    print(f"Rule {rule_id}: {printable(what)}{size} get screen {printable(screen.name)}; "
          f"{len(plates)} plate{'s' * (len(plates) != 1)} follow it now{listed}.")
    return 0


def _rules(args: argparse.Namespace, store: Store) -> int:
    rules = store.screen_rules()
    if not rules:
        print("No barcode rules. Add one: xtalviewer screens rule PREFIX SCREEN (or --regex PATTERN).")
        return 0
    print(f"{'id':>3}  {'kind':<6} {'pattern':<24} {'wells':>5}  screen")
    for r in rules:
        print(f"{r.id:>3}  {r.kind:<6} {printable(r.pattern)[:24]:<24} {r.wells or 'any':>5}  {printable(r.screen)}")
    print("The first rule that matches a plate decides; a hand assignment or the imager's metadata comes first.")
    return 0


# -- conditions -------------------------------------------------------------------------------------------------


def run_conditions(args: argparse.Namespace, open_store: OpenStore) -> int:
    from xtalviewer.model.registry import current_model
    from xtalviewer.report.conditions import ConditionsError, summarize, summary_lines

    with open_store(readonly=True) as store:
        model = store.model(args.model) if args.model is not None else current_model(store)
        if args.model is not None and model is None:
            raise ScreenCommandError(f"no model {args.model} in the registry")
        try:
            summary = summarize(store, model, screen=args.screen, plates=args.plate)
        except ConditionsError as exc:
            raise ScreenCommandError(str(exc)) from None
    if args.json:
        json.dump(summary.to_json(), sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    print("\n".join(summary_lines(summary)))
    if summary.wells == 0:
        print("No drop of these plates has been imported in a well the screen lists.")
    return 0
