"""Hostile downloads, made as an attacker would: a zip whose entries climb out of the folder,
name an absolute path, are symbolic links, or unpack to far more than they weigh, is refused
whole with the entry and the reason, and nothing is written anywhere (inside --output nothing
of it is left either)."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import entry, main
from grader.course.handins import zipsafe
from tests.batchkit import toy

GOOD = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def _link_entry(name: str, target: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix: the mode's type bits are read
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def _escape(zf: zipfile.ZipFile, victim: Path) -> None:
    zf.writestr("ann_1_2_Toy.ipynb", GOOD)
    zf.writestr("../" * 12 + str(victim).lstrip("/"), GOOD)


def _absolute(zf: zipfile.ZipFile, victim: Path) -> None:
    zf.writestr("ann_1_2_Toy.ipynb", GOOD)
    info = zipfile.ZipInfo("x")
    info.filename = str(victim)  # ZipInfo strips a leading '/': set it as a crafted zip holds it
    zf.writestr(info, GOOD)


def _link(zf: zipfile.ZipFile, victim: Path) -> None:
    zf.writestr(_link_entry("ann_1_2_Toy.ipynb", str(victim)), str(victim))
    zf.writestr("bob_3_4_Toy.ipynb", GOOD)


def _link_then_write(zf: zipfile.ZipFile, victim: Path) -> None:
    # the classic: a link to the victim's folder, then a file "through" it
    zf.writestr(_link_entry("sub", str(victim.parent)), str(victim.parent))
    zf.writestr(f"sub/{victim.name}", GOOD)


def _bomb(zf: zipfile.ZipFile, victim: Path) -> None:
    zf.writestr("ann_1_2_Toy.ipynb", GOOD)
    zf.writestr("bob_3_4_Toy.ipynb", b"\0" * (64 << 20), compress_type=zipfile.ZIP_DEFLATED)


HOSTILE = {
    "escape": (_escape, "climbs out"),
    "absolute": (_absolute, "absolute path"),
    "link": (_link, "symbolic link"),
    "link-then-write": (_link_then_write, "symbolic link"),
    "bomb": (_bomb, "zip bomb"),
}


def _snapshot(root: Path) -> set[str]:
    return {str(p) for p in root.rglob("*")}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_hostile_zip_is_refused_and_writes_nothing(toy_root: Path, tmp_path: Path, kind: str) -> None:
    build, reason = HOSTILE[kind]
    victim = tmp_path / "victim" / "planted.ipynb"
    victim.parent.mkdir()
    download = tmp_path / "download.zip"
    with zipfile.ZipFile(download, "w") as zf:
        build(zf, victim)
    out = tmp_path / "out"
    before = _snapshot(tmp_path)
    res = CliRunner().invoke(main, ["run", str(download), "--fast", "-j", "1", "--output", str(out)])
    assert res.exit_code != 0
    assert isinstance(res.exception, zipsafe.ZipRefused) and reason in str(res.exception), res.exception
    assert "nothing was" in str(res.exception)
    assert not victim.exists()
    after = _snapshot(tmp_path)
    assert {p for p in after - before if not Path(p).is_relative_to(out)} == set()
    assert not (out / "handins" / "download").exists()  # nothing half-unpacked kept either


def test_the_command_line_says_why_in_one_line(
    toy_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    download = tmp_path / "download.zip"
    with zipfile.ZipFile(download, "w") as zf:
        _escape(zf, tmp_path / "x.ipynb")
    monkeypatch.setattr(
        "sys.argv", ["grader", "run", str(download), "--fast", "--output", str(tmp_path / "out")]
    )
    with pytest.raises(SystemExit) as exit_:
        entry()
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert err.startswith("error: ") and "climbs out" in err and err.count("\n") == 1


def test_a_header_that_lies_about_its_size_is_caught_while_writing(tmp_path: Path) -> None:
    download = tmp_path / "liar.zip"
    with zipfile.ZipFile(download, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("ann_1_2_Toy.ipynb", b"x" * 100_000)
    data = bytearray(download.read_bytes())
    # shrink the declared size in the central directory (what zipfile trusts) to 10 bytes
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")
    download.write_bytes(bytes(data))
    dest = tmp_path / "out" / "liar"
    with pytest.raises(zipsafe.ZipRefused):
        zipsafe.extract(download, dest)
    assert not dest.exists()


def test_limits_on_entries_and_total_size(tmp_path: Path) -> None:
    download = tmp_path / "many.zip"
    with zipfile.ZipFile(download, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(30):
            zf.writestr(f"f{i}.ipynb", GOOD)
    with pytest.raises(zipsafe.ZipRefused, match="30 entries"):
        zipsafe.extract(download, tmp_path / "a", zipsafe.Limits(entries=20))
    with pytest.raises(zipsafe.ZipRefused, match="unpacks to"):
        zipsafe.extract(download, tmp_path / "b", zipsafe.Limits(total_bytes=1000))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    assert sorted(p.name for p in zipsafe.extract(download, tmp_path / "c").iterdir())[:2] == [
        "f0.ipynb",
        "f1.ipynb",
    ]


def test_a_zip_is_graded_from_where_it_was_unpacked(toy_root: Path, tmp_path: Path) -> None:
    import json

    download = tmp_path / "download.zip"
    with zipfile.ZipFile(download, "w") as zf:
        zf.writestr("leeann_1001_5001_Toy.ipynb", json.dumps(toy()))
    out = tmp_path / "out"
    res = CliRunner().invoke(
        main, ["run", str(download), "--fast", "-j", "1", "--output", str(out), "--format", "json"]
    )
    assert res.exit_code == 0, res.output
    [report] = json.loads(res.stdout)
    assert report["score"] == 5.0
    assert report["submission"] == str(out / "handins" / "download" / "leeann_1001_5001_Toy.ipynb")
    mode = (out / "handins" / "download").stat().st_mode
    assert stat.S_IMODE(mode) == 0o700  # students' work: owner-only, like the reports
