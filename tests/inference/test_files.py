"""Folders of photos as a table: any file name is written, even one that is not valid UTF-8."""

from __future__ import annotations

import csv
import json
import os

from core.cli import predict
from tests.conftest import SHIPPED_STARTER


def test_a_file_name_that_is_not_utf8_is_written_to_the_csv_as_its_own_bytes(shared_faces, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    name = b"caf\xe9-portrait.jpg"  # Latin-1, as an old camera or a Windows share names it
    with open(os.path.join(os.fsencode(folder), name), "wb") as out:
        out.write(min(shared_faces.glob("*.jpg")).read_bytes())
    out = tmp_path / "faces.csv"
    assert predict.main([str(SHIPPED_STARTER), str(folder), "--out", str(out), "--if-no-face", "whole-image"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["faces"] == 1
    with open(out, newline="", encoding="utf-8", errors="surrogateescape") as table:
        (face,) = csv.DictReader(table)
    assert os.fsencode(face["image"]) == os.path.join(os.fsencode(folder), name), "the name as the file system holds it"
    assert float(face["age"]) > 0
