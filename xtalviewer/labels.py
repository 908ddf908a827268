"""Label schemes: the ordered classes a lab labels drops with, loaded from JSON and validated.

A scheme file names its classes, their hotkeys and colours, which of them count as crystal hits
and which MARCO-4 class each belongs to. Every problem in a file is reported as one message that
names the file, so a lab editing its own scheme sees exactly what to fix.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from xtalviewer.paths import resources_dir, user_schemes_dir
from xtalviewer.files.regular import read_regular_text

DEFAULT_SCHEME = "xtal10"
MARCO_CLASSES = ("Crystals", "Precipitate", "Clear", "Other")

_TOP_FIELDS = {"name", "description", "aliases", "classes"}
_CLASS_REQUIRED = {"key": str, "name": str, "hotkey": str, "color": str, "crystal": bool, "marco": str}
_CLASS_OPTIONAL = {"description": str}
_KEY_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")


class SchemeError(ValueError):
    """A label-scheme file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class LabelClass:
    key: str
    name: str
    hotkey: str
    color: str
    crystal: bool
    marco: str
    description: str = ""


@dataclass(frozen=True)
class LabelScheme:
    """An ordered list of classes; the order is the order of a model's outputs."""

    id: str
    name: str
    classes: tuple[LabelClass, ...]
    description: str = ""
    aliases: dict[str, str] = field(default_factory=dict)
    path: Path | None = None

    @property
    def keys(self) -> list[str]:
        return [c.key for c in self.classes]

    @property
    def crystal_keys(self) -> set[str]:
        return {c.key for c in self.classes if c.crystal}

    @property
    def crystal_mask(self) -> list[bool]:
        return [c.crystal for c in self.classes]

    def index(self, key: str) -> int:
        return self.keys.index(key)

    def get(self, key: str) -> LabelClass:
        for c in self.classes:
            if c.key == key:
                return c
        raise KeyError(key)

    def by_hotkey(self, hotkey: str) -> LabelClass | None:
        for c in self.classes:
            if c.hotkey.lower() == hotkey.lower():
                return c
        return None

    def resolve(self, text: str) -> str | None:
        """Map a label as people write it (key, display name, alias such as a MARCO class) to a key."""
        wanted = text.strip().casefold()
        if not wanted:
            return None
        for c in self.classes:
            if wanted in (c.key.casefold(), c.name.casefold()):
                return c.key
        for alias, key in self.aliases.items():
            if alias.casefold() == wanted:
                return key
        return None

    def marco_of(self, key: str) -> str:
        return self.get(key).marco

    def label_hint(self, text: str, shown: int = 4) -> str:
        """For a message about a label that is not one of ours: the closest classes and a few others,
        never all of a long scheme (the message repeats for every bad line of a CSV)."""
        close = difflib.get_close_matches(text.strip().casefold(), self.keys, n=2, cutoff=0.6)
        hint = f"did you mean {' or '.join(repr(k) for k in close)}? " if close else ""
        more = f", ... ({len(self.keys)} classes)" if len(self.keys) > shown else ""
        return f"({hint}scheme {self.id}: {', '.join(self.keys[:shown])}{more})"


def _fail(path: Path | str, problem: str) -> SchemeError:
    return SchemeError(f"label scheme {path}: {problem}")


def _class_label(i: int, raw: object) -> str:
    key = raw.get("key") if isinstance(raw, dict) else None
    return f"class {i + 1}" + (f" ('{key}')" if isinstance(key, str) else "")


def parse_scheme(doc: object, scheme_id: str, path: Path | str) -> LabelScheme:
    """Validate a decoded scheme document; raise SchemeError naming the first problem found."""
    if not isinstance(doc, dict):
        raise _fail(path, "the file must hold a JSON object with a 'classes' list")
    unknown = sorted(set(doc) - _TOP_FIELDS)
    if unknown:
        raise _fail(path, f"unknown field '{unknown[0]}' (allowed: {', '.join(sorted(_TOP_FIELDS))})")
    raw_classes = doc.get("classes")
    if raw_classes is None:
        raise _fail(path, "missing the 'classes' list")
    if not isinstance(raw_classes, list):
        raise _fail(path, "'classes' must be a list")
    if not raw_classes:
        raise _fail(path, "the class list is empty; a scheme needs at least two classes")
    if len(raw_classes) < 2:
        raise _fail(path, "a scheme needs at least two classes")

    classes: list[LabelClass] = []
    seen_keys: dict[str, str] = {}
    seen_hotkeys: dict[str, str] = {}
    for i, raw in enumerate(raw_classes):
        where = _class_label(i, raw)
        if not isinstance(raw, dict):
            raise _fail(path, f"{where} must be a JSON object")
        unknown = sorted(set(raw) - set(_CLASS_REQUIRED) - set(_CLASS_OPTIONAL))
        if unknown:
            allowed = ", ".join([*_CLASS_REQUIRED, *_CLASS_OPTIONAL])
            raise _fail(path, f"{where}: unknown field '{unknown[0]}' (allowed: {allowed})")
        for name, typ in {**_CLASS_REQUIRED, **_CLASS_OPTIONAL}.items():
            if name not in raw:
                if name in _CLASS_REQUIRED:
                    raise _fail(path, f"{where}: missing field '{name}'")
                continue
            if not isinstance(raw[name], typ):
                raise _fail(path, f"{where}: '{name}' must be a {'true/false' if typ is bool else 'string'}")
        key, hotkey = raw["key"], raw["hotkey"]
        if not _KEY_RE.match(key):
            raise _fail(path, f"{where}: key '{key}' must be lower-case letters, digits and '_'")
        if len(hotkey) != 1 or not hotkey.isprintable() or hotkey.isspace():
            raise _fail(path, f"{where}: hotkey '{hotkey}' must be a single printable character")
        if not _COLOR_RE.match(raw["color"]):
            raise _fail(path, f"{where}: color '{raw['color']}' must look like #rrggbb")
        if raw["marco"] not in MARCO_CLASSES:
            raise _fail(path, f"{where}: marco '{raw['marco']}' must be one of {', '.join(MARCO_CLASSES)}")
        if key in seen_keys:
            raise _fail(path, f"{where}: duplicate key '{key}' (already used by {seen_keys[key]})")
        if hotkey.lower() in seen_hotkeys:
            raise _fail(path, f"{where}: duplicate hotkey '{hotkey}' (already used by {seen_hotkeys[hotkey.lower()]})")
        seen_keys[key] = where
        seen_hotkeys[hotkey.lower()] = where
        classes.append(LabelClass(**{k: raw[k] for k in raw}))

    if not any(c.crystal for c in classes):
        raise _fail(path, "no class is marked \"crystal\": true, so crystal hits could never be counted")

    aliases = doc.get("aliases", {})
    if not isinstance(aliases, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in aliases.items()):
        raise _fail(path, "'aliases' must map names to class keys")
    for alias, key in aliases.items():
        if key not in seen_keys:
            raise _fail(path, f"alias '{alias}' points to unknown class key '{key}'")
    for name_field in ("name", "description"):
        if name_field in doc and not isinstance(doc[name_field], str):
            raise _fail(path, f"'{name_field}' must be a string")

    return LabelScheme(
        id=scheme_id,
        name=doc.get("name", scheme_id),
        description=doc.get("description", ""),
        classes=tuple(classes),
        aliases=dict(aliases),
        path=Path(path) if path else None,
    )


def scheme_document(scheme: LabelScheme) -> dict:
    """The scheme as a scheme file holds it, so a copy can travel inside a database."""
    doc: dict = {"name": scheme.name, "classes": [
        {"key": c.key, "name": c.name, "hotkey": c.hotkey, "color": c.color, "crystal": c.crystal, "marco": c.marco,
         **({"description": c.description} if c.description else {})} for c in scheme.classes]}
    if scheme.description:
        doc["description"] = scheme.description
    if scheme.aliases:
        doc["aliases"] = dict(scheme.aliases)
    return doc


def scheme_from_document(doc: object, scheme_id: str, source: str) -> LabelScheme:
    """A scheme from a stored document (``scheme_document``); ``source`` names it in messages."""
    return parse_scheme(doc, scheme_id, source)


def load_scheme_file(path: Path | str) -> LabelScheme:
    """Load and validate one scheme file; its id is the file name without .json."""
    path = Path(path)
    try:
        text = read_regular_text(path)
    except FileNotFoundError:
        raise _fail(path, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(path, f"cannot be read ({exc})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(path, f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except RecursionError:  # lists or objects nested thousands deep: no scheme looks like that
        raise _fail(path, "nests lists or objects more deeply than a label scheme ever does") from None
    return parse_scheme(doc, path.stem, path)


def scheme_dirs() -> list[Path]:
    """Folders searched for schemes by id: the user's own first, then the bundled ones."""
    return [user_schemes_dir(), resources_dir() / "label_schemes"]


def find_scheme_file(scheme_id: str) -> Path | None:
    for folder in scheme_dirs():
        candidate = folder / f"{scheme_id}.json"
        if candidate.is_file():
            return candidate
    return None


def load_scheme(name_or_path: str | Path = DEFAULT_SCHEME) -> LabelScheme:
    """Load a scheme by id (``xtal10``) or by the path of a JSON file."""
    text = str(name_or_path)
    if text.endswith(".json") or "/" in text or "\\" in text:
        return load_scheme_file(text)
    found = find_scheme_file(text)
    if found is None:
        known = ", ".join(available_schemes()) or "none"
        raise SchemeError(f"label scheme '{text}' not found (known schemes: {known})")
    return load_scheme_file(found)


def available_schemes() -> list[str]:
    """Ids of every scheme file in the search folders (valid or not)."""
    ids: set[str] = set()
    for folder in scheme_dirs():
        if folder.is_dir():
            ids.update(p.stem for p in folder.glob("*.json"))
    return sorted(ids)
