"""Peak memory of `validate` and `send --dry-run` on hostile inputs (PRODUCT.md §3.2, issue 16).

    python bench/hostile_input_bench.py                       # this checkout
    python bench/hostile_input_bench.py --repo /work/main     # another checkout (before/after)
    python bench/hostile_input_bench.py --bomb-mb 4096 --seconds 16 --cap-mb 0

Writes a gzip of `--bomb-mb` MB of NUL bytes and no newline (streamed through zlib: the file is a
few MB), then runs, as child processes measured by bench/measure.py (peak RSS summed over the
process tree, sampled every 100 ms, and never below the kernel's figure):

    cdpcli validate BOMB
    cdpcli send BOMB --config <mixpanel-only config> --dry-run --output /dev/null
    cdpcli validate /dev/zero                                          (killed after --seconds)
    cdpcli send /dev/zero --config ... --dry-run --output /dev/null    (killed after --seconds)

and prints each command, how it ended (exit code, or killed at the time bound), its wall time and
peak RSS, and the last line of its stderr. The bound of PRODUCT.md §3.2: under 150 MB for each.

The children's address space is capped at `--cap-mb` (default 3 GB; 0: no cap) so that a reader
that holds the line, as one before issue 16 did, stops with a MemoryError at the cap instead of
taking the machine's memory: its peak then shows the cap, not how far it would have gone.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import sys
import tempfile
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import run

BOUND_MB = 150
CONFIG = """version: 1
destinations:
  mixpanel: {kind: mixpanel, project_id: "1", region: us}
routes:
  - {name: all, to: mixpanel}
"""


def write_bomb(path: Path, megabytes: int) -> None:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    zeros = bytes(1 << 20)
    with open(path, "wb") as handle:
        for _ in range(megabytes * 1000 * 1000 >> 20):
            handle.write(packer.compress(zeros))
        handle.write(packer.flush())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--bomb-mb", type=int, default=1000, help="NUL bytes in the gzip, MB")
    parser.add_argument("--seconds", type=float, default=10, help="time bound of each run")
    parser.add_argument("--cap-mb", type=int, default=3000, help="address-space cap, 0: none")
    args = parser.parse_args()
    repo = args.repo.resolve()
    env = {**os.environ, "PYTHONPATH": str(repo)}
    cap = args.cap_mb * 1000 * 1000

    def capped() -> None:
        if cap:
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    with tempfile.TemporaryDirectory() as tmp:
        bomb = Path(tmp) / "bomb.jsonl.gz"
        write_bomb(bomb, args.bomb_mb)
        config = Path(tmp) / "routes.yaml"
        config.write_text(CONFIG)
        err = Path(tmp) / "stderr"
        print(f"cdpcli from {repo}")
        print(
            f"bomb: {args.bomb_mb:,} MB of NULs, no newline, {bomb.stat().st_size:,} bytes gzipped"
        )
        print(f"time bound {args.seconds:g} s, address-space cap {args.cap_mb or 'none'} MB")
        send = ["--config", str(config), "--dry-run", "--output", "/dev/null"]
        for label, target in (("gzip bomb", str(bomb)), ("/dev/zero", "/dev/zero")):
            for command in (["validate", target], ["send", target, *send]):
                argv = [sys.executable, "-m", "cdpcli", *command]
                with open(err, "wb") as stderr:
                    result = run(
                        argv,
                        stderr=stderr.fileno(),
                        env=env,
                        cwd=repo,
                        seconds=args.seconds,
                        preexec_fn=capped,
                    )
                lines = err.read_bytes().decode("utf-8", "replace").strip().splitlines()
                ended = (
                    f"killed after {args.seconds:g} s"
                    if result.killed
                    else f"exit {result.returncode}"
                )
                verdict = "ok" if result.peak_rss_mb < BOUND_MB else f"OVER {BOUND_MB} MB"
                print(f"\n{label}: {shlex.join(['cdpcli', *command])}")
                print(
                    f"  {ended}, {result.seconds:.1f} s, peak RSS {result.peak_rss_mb:,.1f} MB"
                    f" ({verdict})"
                )
                if lines:
                    print(f"  stderr: {lines[-1][:160]}")


if __name__ == "__main__":
    main()
