#!/usr/bin/env bash
# Installs the Python package the way docs/python.md says, and uses it:
#   1. stage `cmake --install` of the build tree into a fresh prefix;
#   2. make a venv of Debian's python3 with --system-site-packages and
#      `pip install --no-build-isolation --no-index` a copy of python/ into it
#      (no compiler, no download);
#   3. with only PKG_CONFIG_PATH pointing at the staged hbeat.pc (no
#      HBEAT_LIBRARY), import hbeat from the venv, check it loaded the staged
#      library, and run the Jobmon-API test program against the install.
set -euo pipefail

python= source= build= work= libdir= cmake_cmd=cmake
while [ $# -ge 2 ]; do
    case "$1" in
    --python) python=$2 ;;
    --source) source=$2 ;;
    --build) build=$2 ;;
    --work) work=$2 ;;
    --libdir) libdir=$2 ;;
    --cmake) cmake_cmd=$2 ;;
    *) echo "install_test.sh: unknown option $1" >&2 && exit 2 ;;
    esac
    shift 2
done
[ -n "$python" ] && [ -n "$source" ] && [ -n "$build" ] && [ -n "$work" ] && [ -n "$libdir" ] || {
    echo "usage: install_test.sh --python PY --source DIR --build DIR --work DIR --libdir REL" >&2
    exit 2
}

rm -rf "$work"
mkdir -p "$work"
"$cmake_cmd" --install "$build" --prefix "$work/stage" >"$work/cmake-install.log"

# pip builds in the tree it is given: build a copy, not the source tree.
cp -r "$source" "$work/pkg"
rm -rf "$work/pkg/build" "$work/pkg"/src/*.egg-info
"$python" -m venv --system-site-packages "$work/venv"
"$work/venv/bin/pip" install --quiet --no-build-isolation --no-index "$work/pkg"

unset HBEAT_LIBRARY
export PKG_CONFIG_PATH="$work/stage/$libdir/pkgconfig"
export PYTHONDONTWRITEBYTECODE=1
cd "$work"
"$work/venv/bin/python" - "$work/stage" <<'PY'
import os, sys
import hbeat
stage = os.path.realpath(sys.argv[1])
assert os.path.realpath(hbeat.library_path).startswith(stage), hbeat.library_path
assert "site-packages" in hbeat.__file__, hbeat.__file__
assert os.path.exists(os.path.join(os.path.dirname(hbeat.__file__), "py.typed"))
with hbeat.FakeGateway(5) as gw, hbeat.HeartbeatService(gw, 1, 3.1, "R") as svc:
    gw.push_reply("C")
    assert svc.tick_sync().workflow_run_status == "C"
print("installed hbeat", hbeat.__version__, "on libhbeat", hbeat.library_version,
      "from", hbeat.library_path)
PY
# The test program written against Jobmon's API, on the installed package.
cp "$source/tests/test_jobmon_api.py" "$work/"
"$work/venv/bin/python" -m pytest -q -p no:cacheprovider -o asyncio_mode=auto \
    "$work/test_jobmon_api.py"
