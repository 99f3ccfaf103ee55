#!/usr/bin/env bash
# The Dockerfile's build steps, run on this machine where docker is not available: wheels for
# ".[full,postgres,redis]" as the build stage makes them, installed with --no-index into a
# fresh virtualenv as the final stage does, then the image's command checked (--version,
# config check, serve --help). Needs the package index (as `docker build` does).
#   bash scripts/image_steps.sh [WORKDIR]
set -euo pipefail
PYTHON=${PYTHON:-python3}
work=${1:-$(mktemp -d -t goodstanding-image-XXXXXX)}
root=$(cd "$(dirname "$0")/.." && pwd)
"$PYTHON" -m venv "$work/build"
"$work/build/bin/pip" install -q --upgrade pip setuptools wheel
# build stage: RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[full,postgres,redis]"
(cd "$root" && "$work/build/bin/pip" wheel -q --no-cache-dir --wheel-dir "$work/wheels" ".[full,postgres,redis]")
# final stage: RUN pip install --no-cache-dir --no-index /wheels/*.whl
"$PYTHON" -m venv "$work/image"
"$work/image/bin/pip" install -q --no-cache-dir --no-index "$work"/wheels/*.whl
# ENTRYPOINT ["goodstanding"]
"$work/image/bin/goodstanding" --version
# the detectors' C module is in goodstanding's wheel (the build stage has a compiler)
"$work/image/bin/python" -c "from goodstanding.detect import compiled; assert compiled(), 'no C module'"
"$work/image/bin/goodstanding" serve --help >/dev/null
echo "limits: {end_user: {rpm: 5}}" > "$work/check.yaml"
"$work/image/bin/goodstanding" config check "$work/check.yaml"
du -sh "$work/image" | sed 's/^/installed size: /'
echo "image steps ok in $work"
