"""Compare `cdpcli send --dry-run` with the npm package mixpanel-import in dry-run mode.

    python bench/dryrun_bench.py                  # 200k events, then our dry run on 2M for RSS
    python bench/dryrun_bench.py --large 0        # skip the 2M run
    python bench/dryrun_bench.py --modes stream,path-hw --npm-dir /tmp/mpi   # reuse an install
    python bench/dryrun_bench.py --against /work/base --large 0   # and another checkout's dry run

One input file of N events (bench/generate.py). Our side: `cdpcli send FILE --config CFG
--dry-run --output /dev/null` with a config holding only a Mixpanel destination and a route for
track/page/screen. Their side: mixpanel-import (3.1.x, installed with npm into a temp dir) run by
a small Node driver written next to it, with `dryRun: true` and a `transformFunc` that mirrors our
default track mapping (event name, time in ms, distinct_id, $insert_id, $device_id, $user_id, ip,
utm_*, $browser from the user agent, the properties); identify/group return `{}` (skipped), as our
route skips them. On generate.py's events it yields the same records as ours, key for key.
mixpanel-import is run in several input modes and compared at its best:

    stream      an object-mode stream of parsed events (the driver reads the file in 64 KiB chunks)
    stream-hw   the same stream with `highWater: 16384`
    path-hw     the file path with `highWater: 16384`
    path        the file path, default options: a file under half the free RAM is read whole into
                memory; a larger one is streamed 100-500 bytes per read (its `highWater`), the
                slow case the issue warns about

Each command runs `--rounds` times (default 5), one of each in turn per round, so that a slow
spell of the machine (its wall times vary by about 15 % from run to run) hits every tool; the
table shows each command's median run and the rate of every round, and the ratio is that of the
medians (the ratio of each round is printed too). Every run is measured with bench/measure.py: wall
time, CPU time (including worker processes), and peak memory of the whole process tree, as the sum
of RSS (shared pages counted in every process) and the sum of PSS (shared pages split); events/s =
input events / wall seconds, start-up included (cdpcli's bytecode is written first, as `pip
install` does: see `measure.compile_package`). Ours runs with the default `--jobs` (the CPUs) and
again with `-j 1`. Targets: ours >= 2x its best events/s, our peak RSS <= 100 MB, and flat (within
10 %) when the input grows 10x.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import write
from measure import Run, compile_package, run

PACKAGE = "mixpanel-import@3.1"
MODES = ("stream", "stream-hw", "path-hw", "path")
DEFAULT_MODES = ("stream", "stream-hw", "path-hw")
RATIO_TARGET, RSS_TARGET_MB, FLAT_TOLERANCE = 2.0, 100.0, 0.10

CONFIG = """\
version: 1
destinations:
  mixpanel:
    kind: mixpanel
    project_id: "3141592"
    region: us
routes:
  - name: analytics
    to: mixpanel
    when: {type: [track, page, screen]}
"""

# The Node driver: `node driver.js MODE INPUT SUMMARY_JSON`. It writes a small summary (counts
# and its own timing) to SUMMARY_JSON; the dry-run records themselves stay in mixpanel-import's
# result, as they do for any caller of its dry run.
DRIVER = r"""
'use strict';
const fs = require('fs');
const crypto = require('crypto');
const readline = require('readline');
const { Readable } = require('stream');
const mpImport = require('mixpanel-import');

const [mode, input, summaryPath] = process.argv.slice(2);

const INSERT_ID_OK = /^[A-Za-z0-9-]{1,36}$/;
const BROWSERS = [
  // [name, test, version marker] in the order our mapping (Segment's Actions rules) tries them
  ['Opera', / OPR\//, /(?:OPR\/|Opera\/)(\d+(?:\.\d+)+)/],
  ['Microsoft Edge', /Edge|Edg\//, /(?:Edge\/|Edg\/)(\d+(?:\.\d+)+)/],
  ['Chrome iOS', /CriOS/, /CriOS\/(\d+(?:\.\d+)+)/],
  ['Firefox iOS', /FxiOS/, /FxiOS\/(\d+(?:\.\d+)+)/],
  ['Chrome', /Chrome/, /Chrome\/(\d+(?:\.\d+)+)/],
  ['Mobile Safari', /Apple.*Mobile/, /Version\/(\d+(?:\.\d+)+)/],
  ['Safari', /Apple/, /Version\/(\d+(?:\.\d+)+)/],
  ['Firefox', /Firefox/, /Firefox\/(\d+(?:\.\d+)+)/],
];

function browser(ua) {
  for (const [name, test, version] of BROWSERS) {
    if (test.test(ua)) {
      const match = version.exec(ua);
      return [name, match ? match[1] : undefined];
    }
  }
  return ['', undefined];
}

function put(props, key, value) {
  if (value !== undefined && value !== null && value !== '') props[key] = value;
}

// Our default track mapping, in spirit: track/page/screen -> one /import record.
function transform(e) {
  const type = e.type;
  if (type !== 'track' && type !== 'page' && type !== 'screen') return {};
  let name = e.event;
  if (type !== 'track') {
    name = e.name ? 'Viewed ' + e.name : (type === 'page' ? 'Loaded a Page' : 'Loaded a Screen');
  }
  if (!name) return {};
  const ctx = e.context || {};
  const campaign = ctx.campaign || {};
  const page = ctx.page || {};
  const library = ctx.library || {};
  const userId = e.userId || undefined;
  const anonId = e.anonymousId || undefined;
  const did = userId || (anonId ? '$device:' + anonId : '');
  const messageId = String(e.messageId);
  const insertId = INSERT_ID_OK.test(messageId)
    ? messageId
    : crypto.createHash('sha256').update(messageId).digest('hex').slice(0, 36);
  const props = { time: Date.parse(e.timestamp), ip: ctx.ip || '0' };
  put(props, 'id', did);
  put(props, '$anon_id', anonId);
  props.distinct_id = did;
  if (ctx.userAgent) {
    const [b, v] = browser(ctx.userAgent);
    props.$browser = b;
    put(props, '$browser_version', v);
  }
  put(props, '$current_url', page.url);
  put(props, '$device_id', anonId);
  put(props, '$identified_id', userId);
  props.$insert_id = insertId;
  put(props, '$lib_version', library.version);
  put(props, '$locale', ctx.locale);
  put(props, '$referrer', page.referrer);
  props.$source = 'segment';
  put(props, '$user_id', userId);
  props.mp_lib = 'Segment Actions: ' + (library.name || '');
  put(props, 'utm_campaign', campaign.name);
  put(props, 'utm_content', campaign.content);
  put(props, 'utm_medium', campaign.medium);
  put(props, 'utm_source', campaign.source);
  put(props, 'utm_term', campaign.term);
  put(props, 'timezone', ctx.timezone);
  put(props, 'event_original_name', e.event || e.name);
  const own = e.properties || {};
  for (const key of Object.keys(own)) {
    if (!(key in STRIPPED)) props[key] = own[key];
  }
  return { event: name, properties: props };
}
const STRIPPED = { time: 1, id: 1, $anon_id: 1, distinct_id: 1, $group_id: 1, $insert_id: 1,
  $user_id: 1 };

async function* parsedLines(path) {
  const rl = readline.createInterface({
    input: fs.createReadStream(path, { highWaterMark: 64 * 1024 }),
    crlfDelay: Infinity,
  });
  for await (const line of rl) {
    if (line) yield JSON.parse(line);
  }
}

async function main() {
  const creds = { acct: 'bench', pass: 'not-a-secret', project: '3141592', token: 'fake' };
  const opts = {
    recordType: 'event',
    dryRun: true,
    transformFunc: transform,
    streamFormat: 'jsonl',
    verbose: false,
    showProgress: false,
    logs: false,
  };
  let data;
  if (mode === 'stream' || mode === 'stream-hw') {
    data = Readable.from(parsedLines(input), { objectMode: true, highWaterMark: 16384 });
  } else if (mode === 'path' || mode === 'path-hw') {
    data = input;
  } else {
    throw new Error('unknown mode ' + mode);
  }
  if (mode.endsWith('-hw')) opts.highWater = 16384;
  const started = Date.now();
  const result = await mpImport(creds, data, opts);
  const summary = {
    mode,
    total: result.total,
    success: result.success,
    failed: result.failed,
    empty: result.empty,
    records: Array.isArray(result.dryRun) ? result.dryRun.length : 0,
    batches: result.batches,
    wasStream: result.wasStream,
    ms: Date.now() - started,
    version: result.version,
  };
  fs.writeFileSync(summaryPath, JSON.stringify(summary));
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
"""


@dataclass(frozen=True)
class Row:
    """One command's runs, one per round; its figures are those of its median run (by wall
    time; of an even number, the faster middle one), its memory the highest peak of any run."""

    tool: str
    events: int
    runs: tuple[Run, ...]
    records: int | None = None

    @property
    def run(self) -> Run:
        ordered = sorted(self.runs, key=lambda r: r.seconds)
        return ordered[(len(ordered) - 1) // 2]

    @property
    def rate(self) -> float:
        return self.events / self.run.seconds

    @property
    def rates(self) -> list[float]:
        return [self.events / r.seconds for r in self.runs]

    @property
    def cpu_rate(self) -> float:
        """Events per CPU second: steadier than wall time when other work shares the cores."""
        return self.events / self.run.cpu_seconds

    @property
    def peak_rss_mb(self) -> float:
        return max(r.peak_rss_mb for r in self.runs)

    @property
    def peak_pss_mb(self) -> float:
        return max(r.peak_pss_mb for r in self.runs)

    def more(self, other: Row) -> Row:
        return replace(self, runs=self.runs + other.runs)


def install(npm_dir: Path) -> str:
    """Install mixpanel-import into `npm_dir` (unless already there); returns its version."""
    package_json = npm_dir / "node_modules" / "mixpanel-import" / "package.json"
    if not package_json.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("npm is not on PATH: install Node.js (with npm) to run this bench")
        npm_dir.mkdir(parents=True, exist_ok=True)
        (npm_dir / "package.json").write_text('{"name": "dryrun-bench", "private": true}\n')
        argv = [npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", PACKAGE]
        print(f"installing {PACKAGE} into {npm_dir} ...", flush=True)
        done = subprocess.run(argv, cwd=npm_dir, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
            raise SystemExit(f"`{shlex.join(argv)}` failed (exit {done.returncode}):\n{tail}")
    version: str = json.loads(package_json.read_text())["version"]
    return version


def run_cdpcli(
    path: Path, config: Path, events: int, jobs: int | None = None, repo: Path | None = None
) -> tuple[Row, list[str]]:
    """Our dry run, of the installed cdpcli or (`repo`) of another checkout's."""
    argv = [sys.executable, "-m", "cdpcli", "send", str(path), "--config", str(config)]
    argv += ["--dry-run", "--output", "/dev/null", "--quiet"]
    if jobs is not None:
        argv += ["--jobs", str(jobs)]
    env = None if repo is None else {**os.environ, "PYTHONPATH": str(repo)}
    result = run(argv, env=env)
    if result.returncode != 0:
        raise SystemExit(f"cdpcli exited {result.returncode}: {shlex.join(argv)}")
    label = "cdpcli send --dry-run" + (f" -j {jobs}" if jobs is not None else "")
    if repo is not None:
        label += f" ({repo})"
    return Row(label, events, (result,)), argv


def run_node(npm_dir: Path, mode: str, path: Path, events: int) -> tuple[Row, list[str]]:
    node = shutil.which("node") or "node"
    summary = npm_dir / f"summary-{mode}.json"
    summary.unlink(missing_ok=True)
    argv = [node, str(npm_dir / "driver.js"), mode, str(path), str(summary)]
    result = run(argv)
    if result.returncode != 0 or not summary.exists():
        detail = subprocess.run(argv, capture_output=True, text=True, check=False).stderr
        raise SystemExit(f"mixpanel-import ({mode}) exited {result.returncode}:\n{detail[-2000:]}")
    counts = json.loads(summary.read_text())
    if counts["total"] != events:
        raise SystemExit(f"mixpanel-import ({mode}) read {counts['total']} of {events} events")
    return Row(f"mixpanel-import {mode}", events, (result,), counts["records"]), argv


def count_records(path: Path, config: Path) -> int:
    """Records our dry run emits (a separate, unmeasured run writing the request lines)."""
    out = path.with_name("requests.jsonl")
    argv = [sys.executable, "-m", "cdpcli", "send", str(path), "--config", str(config)]
    subprocess.run([*argv, "--dry-run", "--output", str(out), "--quiet"], check=False)
    total = 0
    with open(out, "rb") as handle:
        for line in handle:
            total += len(json.loads(line)["body"])
    out.unlink()
    return total


def table(rows: list[Row]) -> None:
    head = (
        f"{'':30} {'events/s':>10} {'ev/CPU-s':>10} {'wall s':>8} {'CPU s':>8} "
        f"{'procs':>5} {'RSS MB':>8} {'PSS MB':>8} {'records':>9}  events/s of each round"
    )
    print(head)
    print("-" * len(head))
    for row in rows:
        records = f"{row.records:,}" if row.records is not None else "-"
        print(
            f"{row.tool:30} {row.rate:>10,.0f} {row.cpu_rate:>10,.0f} {row.run.seconds:>8.2f} "
            f"{row.run.cpu_seconds:>8.2f} {row.run.processes:>5} {row.peak_rss_mb:>8.1f} "
            f"{row.peak_pss_mb:>8.1f} {records:>9}  {', '.join(f'{r:,.0f}' for r in row.rates)}"
        )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--large", type=int, default=2_000_000, help="0 skips the RSS run")
    parser.add_argument("--modes", default=",".join(DEFAULT_MODES), help=f"of {', '.join(MODES)}")
    parser.add_argument("--npm-dir", type=Path, help="install/reuse mixpanel-import here")
    parser.add_argument(
        "--rounds", type=int, default=5, help="runs of each command, in turn (the median counts)"
    )
    parser.add_argument(
        "--against",
        type=Path,
        action="append",
        default=[],
        help="another checkout of cdpcli (e.g. an older commit's worktree) whose dry run runs in"
        " the same rounds, compared with ours (repeatable)",
    )
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    modes = [m for m in args.modes.split(",") if m]
    if unknown := set(modes) - set(MODES):
        parser.error(f"unknown modes {sorted(unknown)}; choose from {', '.join(MODES)}")
    with tempfile.TemporaryDirectory(prefix="dryrun-bench-") as tmp:
        work = Path(tmp)
        npm_dir = args.npm_dir or work / "mpi"
        version = install(npm_dir)
        (npm_dir / "driver.js").write_text(DRIVER)
        config = work / "cdpcli.yaml"
        config.write_text(CONFIG)
        path = work / "events.jsonl"
        with open(path, "wb") as handle:
            size = write(args.events, handle)
        print(f"input: {args.events:,} events, {size / args.events:.0f} bytes/event, {path}")
        print(compile_package())
        for repo in args.against:
            compileall.compile_dir(repo / "cdpcli", quiet=1)
        print(f"mixpanel-import {version}, node {node_version()}", flush=True)
        print(f"load average before: {load()} ({os.cpu_count()} cores)\n", flush=True)

        rows: dict[str, Row] = {}
        commands: dict[str, list[str]] = {}
        for round_ in range(1, args.rounds + 1):
            # One of each per round, in turn: a slow spell of the machine hits every tool.
            print(f"round {round_} of {args.rounds} ...", flush=True)
            measured = [run_cdpcli(path, config, args.events)]
            measured.append(run_cdpcli(path, config, args.events, jobs=1))
            for repo in args.against:
                measured.append(run_cdpcli(path, config, args.events, repo=repo))
                measured.append(run_cdpcli(path, config, args.events, jobs=1, repo=repo))
            measured += [run_node(npm_dir, mode, path, args.events) for mode in modes]
            for row, argv in measured:
                rows[row.tool] = rows[row.tool].more(row) if row.tool in rows else row
                commands[row.tool] = argv
        ours, single, *others = rows.values()
        checkouts, theirs = others[: 2 * len(args.against)], others[2 * len(args.against) :]
        ours = replace(ours, records=count_records(path, config))
        print()
        table([ours, single, *checkouts, *theirs])
        compare(ours, single, theirs)
        compare_checkouts(ours, single, checkouts)
        if args.large:
            big = work / "large.jsonl"
            with open(big, "wb") as handle:
                write(args.large, handle)
            path.unlink()
            print(f"\nour dry run on {args.large:,} events ...", flush=True)
            large, _ = run_cdpcli(big, config, args.large)
            for name, small_mb, large_mb in (
                ("sum of RSS", ours.peak_rss_mb, large.peak_rss_mb),
                ("sum of PSS", ours.peak_pss_mb, large.peak_pss_mb),
            ):
                growth = large_mb / small_mb - 1
                flat = abs(growth) <= FLAT_TOLERANCE and large_mb <= RSS_TARGET_MB
                print(
                    f"peak memory ({name}) at {args.events:,}: {small_mb:.1f} MB; at "
                    f"{args.large:,}: {large_mb:.1f} MB ({growth:+.1%})  "
                    f"flat (±{FLAT_TOLERANCE:.0%}, <= {RSS_TARGET_MB:.0f} MB): {verdict(flat)}"
                )
            print(f"rate at {args.large:,}: {large.rate:,.0f} events/s")

        print(f"load average after: {load()} (others' work on the cores skews wall time)")
        print("\ncommands (their temp dir is removed at exit; the config is below):")
        for tool, argv in commands.items():
            print(f"  {tool}:\n    {shlex.join(argv)}")
        print(f"\n{config.name}:\n{CONFIG}")


def compare_checkouts(ours: Row, single: Row, checkouts: list[Row]) -> None:
    """Ours against each `--against` checkout's run of the same jobs."""
    for other in checkouts:
        mine = single if "-j 1" in other.tool else ours
        print(
            f"{mine.tool} vs {other.tool}: {mine.rate / other.rate - 1:+.1%} events/s "
            f"(medians {mine.rate:,.0f} vs {other.rate:,.0f}), "
            f"{mine.cpu_rate / other.cpu_rate - 1:+.1%} events per CPU second"
        )


def compare(ours: Row, single: Row, theirs: list[Row]) -> None:
    """The ratio and memory verdicts."""
    print()
    if not theirs:
        return
    best = max(theirs, key=lambda r: r.rate)
    ratio = ours.rate / best.rate
    each = [mine / their for mine, their in zip(ours.rates, best.rates, strict=True)]
    print(
        f"ratio of the medians: {ratio:.2f}x  ({ours.rate:,.0f} vs {best.rate:,.0f} "
        f"events/s, best of mixpanel-import = {best.tool.split()[-1]})  "
        f"target >= {RATIO_TARGET:.0f}x: {verdict(ratio >= RATIO_TARGET)}"
    )
    print(
        f"ratio in each round: {', '.join(f'{r:.2f}x' for r in each)} "
        f"({sum(r >= RATIO_TARGET for r in each)} of {len(each)} at >= "
        f"{RATIO_TARGET:.0f}x)"
    )
    print(
        f"ratio per CPU second: {ours.cpu_rate / best.cpu_rate:.2f}x  "
        f"({ours.cpu_rate:,.0f} vs {best.cpu_rate:,.0f} events per CPU second)"
    )
    print(f"ratio with -j 1: {single.rate / best.rate:.2f}x")
    print(
        f"peak memory, ours ({ours.run.processes} processes): sum of RSS "
        f"{ours.peak_rss_mb:.1f} MB ({verdict(ours.peak_rss_mb <= RSS_TARGET_MB)}),"
        f" sum of PSS {ours.peak_pss_mb:.1f} MB "
        f"({verdict(ours.peak_pss_mb <= RSS_TARGET_MB)}); with -j 1: "
        f"{single.peak_rss_mb:.1f} MB "
        f"({verdict(single.peak_rss_mb <= RSS_TARGET_MB)}); theirs (best) "
        f"{best.peak_rss_mb:.1f} MB; target <= {RSS_TARGET_MB:.0f} MB"
    )


def load() -> str:
    return ", ".join(f"{n:.2f}" for n in os.getloadavg())


def node_version() -> str:
    node = shutil.which("node")
    if node is None:
        raise SystemExit("node is not on PATH: install Node.js to run this bench")
    done = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    return done.stdout.strip()


if __name__ == "__main__":
    main()
