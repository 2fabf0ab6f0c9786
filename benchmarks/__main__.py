"""Run every benchmark script in this folder, each in its own process, in name order."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    here = Path(__file__).parent
    failed = []
    for script in sorted(here.glob("bench_*.py")):
        print(f"# {script.stem}", flush=True)
        module = f"benchmarks.{script.stem}"
        if subprocess.run([sys.executable, "-m", module], check=False).returncode != 0:
            failed.append(script.stem)
    if failed:
        print(f"# failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
