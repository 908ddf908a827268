#!/usr/bin/env bash
# Build the one-folder xtalviewer app with PyInstaller, write its .desktop file, and smoke-test it.
#
#   packaging/build.sh              build into /tmp/xtalviewer-dist/xtalviewer and test it
#   packaging/build.sh --no-test    build only
#
# PYTHON (default .venv/bin/python), DIST (/tmp/xtalviewer-dist) and WORK (/tmp/xtalviewer-build)
# override the defaults. The build stays outside the repository on purpose: it is gigabytes.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
DIST="${DIST:-/tmp/xtalviewer-dist}"
WORK="${WORK:-/tmp/xtalviewer-build}"
TEST=1
for arg in "$@"; do
    case "$arg" in
        --no-test) TEST=0 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "build.sh: unknown argument $arg" >&2; exit 2 ;;
    esac
done

if ! "$PY" -c "import PyInstaller" 2>/dev/null; then
    echo "Installing PyInstaller (the package extra: pip install -e '.[package]')"
    "$PY" -m pip install --quiet "pyinstaller>=6"
fi

cd "$ROOT"
start=$(date +%s)
"$PY" -m PyInstaller --noconfirm --log-level WARN --distpath "$DIST" --workpath "$WORK" packaging/xtalviewer.spec
APP="$DIST/xtalviewer"
BIN="$APP/xtalviewer"
echo "Built $APP in $(( $(date +%s) - start )) s"

# The launcher entry points at this build; after moving the folder, rewrite Exec/TryExec/Icon
# (see packaging/README.md) and copy it to ~/.local/share/applications/.
ICON="$APP/_internal/xtalviewer/resources/icons/xtalviewer.png"
sed -e "s|@EXEC@|$BIN|g" -e "s|@ICON@|$ICON|g" packaging/xtalviewer.desktop.in > "$APP/xtalviewer.desktop"
if command -v desktop-file-validate >/dev/null; then desktop-file-validate "$APP/xtalviewer.desktop"; fi

echo "Size: $(du -sh "$APP" | cut -f1), $(find "$APP" -type f | wc -l) files"
[ "$TEST" = 1 ] || exit 0

# Smoke test: no display needed. Each step is something a user or the app itself does.
HOME_DIR="$(mktemp -d)"
trap 'rm -rf "$HOME_DIR"' EXIT
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}" XTALVIEWER_HOME="$HOME_DIR"
seconds() { local t0=$EPOCHREALTIME; "$@" >/dev/null; awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }

echo "--version: $(seconds "$BIN" --version) s ($("$BIN" --version))"
"$BIN" --bundle-check
"$BIN" -m train --help >/dev/null                # the Retrain dialog runs `<app> -m train ...`
"$BIN" -m xtalviewer.predict --help >/dev/null
"$BIN" demo --db "$HOME_DIR/demo.db" --out "$HOME_DIR/plates" --plates 1 --no-train >/dev/null
echo "screenshot: $(seconds "$BIN" --db "$HOME_DIR/demo.db" --screenshot "$HOME_DIR/shot.png") s"
test -s "$HOME_DIR/shot.png"
echo "Smoke test passed"
