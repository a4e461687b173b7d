#!/bin/sh
# The package as a user gets it. `python -m build` makes the sdist and, from it, the wheel (so a
# file missing from the sdist is missing from the wheel too); the wheel alone is installed into a
# fresh venv, and there, outside the checkout: `anonymiser --version`, `anonymiser doctor` (exit 0)
# and a blur of a sample photo (every face blurred). Then the installed face model is altered:
# blur must stop with exit 4 and one line before it reads any input.
#
#   sh scripts/smoke-wheel.sh [PYTHON for the fresh venv] [PYTHON that has `build`]
set -eu
PYTHON=${1:-python3}
BUILDER=${2:-.venv-test/bin/python}
repo=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "smoke test failed: $*" >&2; exit 1; }

echo "building the sdist and the wheel" >&2
"$BUILDER" -m build --outdir "$tmp/dist" "$repo" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log" >&2; fail "python -m build"; }
wheel=$(ls "$tmp"/dist/anonymiser-*.whl)
sdist=$(ls "$tmp"/dist/anonymiser-*.tar.gz)
tar tzf "$sdist" >"$tmp/sdist.txt"
"$BUILDER" -m zipfile -l "$wheel" >"$tmp/wheel.txt"
for f in anonymiser/weights/centerface.onnx anonymiser/weights/LICENSE-centerface.txt anonymiser/templates/review.html.j2 anonymiser/py.typed; do
    grep -q "/$f\$" "$tmp/sdist.txt" || fail "$f is not in $(basename "$sdist")"
    grep -q "^$f " "$tmp/wheel.txt" || fail "$f is not in $(basename "$wheel")"
done

echo "installing $(basename "$wheel") into a fresh venv" >&2
"$PYTHON" -m venv "$tmp/v"
"$tmp/v/bin/pip" install -q --disable-pip-version-check "$wheel" || fail "pip install of the wheel"

cd "$tmp"  # away from the checkout: only the installed package can be imported
export ANONYMISER_HOME="$tmp/home"
v/bin/anonymiser --version
v/bin/anonymiser doctor >doctor.txt 2>&1 || { code=$?; cat doctor.txt >&2; fail "anonymiser doctor exited $code"; }
grep -E '^(problem|note|optional)' doctor.txt >&2 || true
v/bin/anonymiser blur "$repo/samples/solvay-1927.jpg" -o out || fail "blur exited $?"
v/bin/python - <<'EOF' || fail "the safe copy or its report is wrong"
import json, pathlib
report = json.loads(pathlib.Path("out-report.json").read_text())
(image,) = report["images"]
blurred = [r for r in image["regions"] if r["kind"] == "face" and r["action"] == "blurred"]
assert image["status"] == "ok" and pathlib.Path(image["output"]).is_file(), image
assert len(blurred) >= 29, f"{len(blurred)} faces blurred, expected all 29"
print(f"safe copy {image['output']}: {len(blurred)} faces blurred")
EOF

model=$(v/bin/python -c "import anonymiser, pathlib; print(pathlib.Path(anonymiser.__file__).parent / 'weights' / 'centerface.onnx')")
printf 'x' >>"$model"
set +e
v/bin/anonymiser blur "$repo/samples/solvay-1927.jpg" -o out2 2>err.txt
code=$?
set -e
[ "$code" -eq 4 ] || { cat err.txt >&2; fail "blur with an altered model exited $code, not 4"; }
[ "$(wc -l <err.txt)" -eq 1 ] || { cat err.txt >&2; fail "more than one line for an altered model"; }
[ ! -e out2 ] && [ ! -e out2-report.json ] || fail "blur with an altered model wrote something"
echo "altered model: $(cat err.txt)" >&2
echo "wheel smoke test passed" >&2
