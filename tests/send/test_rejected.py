"""The rejected file across runs: a resumed run appends whole records, whatever was left."""

from __future__ import annotations

import json
from pathlib import Path

from cdpcli import jsonio
from cdpcli.events.model import Origin
from cdpcli.send import rejected


def test_an_append_after_a_torn_record_starts_a_new_line(tmp_path: Path) -> None:
    path = tmp_path / "rejected.jsonl"
    whole = rejected.record(event={"a": 1}, origin=Origin("in.jsonl", 1), reason="r1")
    path.write_bytes(jsonio.dumps_bytes(whole) + b"\n" + b'{"kind":"rejected","ver')  # killed
    out = rejected.RejectedFile(path, append=True)
    out.write(rejected.record(event={"b": 2}, origin=Origin("in.jsonl", 7), reason="r2"))
    out.close()
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    assert lines[1] == b'{"kind":"rejected","ver'  # the torn record, left as it was
    assert json.loads(lines[0])["reason"] == "r1"
    assert json.loads(lines[2])["event"] == {"b": 2}  # the new record is whole


def test_an_append_to_a_whole_file_adds_no_blank_line(tmp_path: Path) -> None:
    path = tmp_path / "rejected.jsonl"
    first = rejected.record(event={"a": 1}, origin=Origin("in.jsonl", 1), reason="r1")
    path.write_bytes(jsonio.dumps_bytes(first) + b"\n")
    out = rejected.RejectedFile(path, append=True)
    out.write(rejected.record(event={"b": 2}, origin=Origin("in.jsonl", 7), reason="r2"))
    out.close()
    assert [json.loads(line)["reason"] for line in path.read_bytes().splitlines()] == ["r1", "r2"]
