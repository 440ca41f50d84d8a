"""Finding libhbeat: HBEAT_LIBRARY, when set, is the only place looked at."""
import os
import subprocess
import sys

import hbeat


def test_the_loaded_library_is_the_one_named():
    assert os.path.samefile(hbeat.library_path, os.environ["HBEAT_LIBRARY"])
    assert hbeat.library_version.count(".") == 2


def test_a_missing_library_is_a_clear_import_error(tmp_path):
    env = dict(os.environ, HBEAT_LIBRARY=str(tmp_path / "libhbeat.so"))
    proc = subprocess.run([sys.executable, "-c", "import hbeat"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: hbeat: cannot load libhbeat through HBEAT_LIBRARY=")
    assert "libhbeat.so" in last and "PKG_CONFIG_PATH" in last
