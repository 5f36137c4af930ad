"""The RCA-RS reader: hand-written YAML subset and case CSVs."""

from __future__ import annotations

from pathlib import Path

import pytest

from reelmine.data.rca_rs import (
    element_to_string,
    rca_rs_attributes,
    read_rca_rs_case,
    read_rca_rs_labels,
)
from reelmine.errors import DataError

YAML = """\
- data: case1
  timestamp: 120
  cause: {'bitrate':2000,'p2p':1}
- data: 20200530 120238 9
  timestamp: 60
  cause: [{'bitrate':500}, {'isp':'联通', 'cdn':5}]
"""


def _folder(tmp_path: Path) -> Path:
    (tmp_path / "anomaly.yaml").write_text(YAML, encoding="utf-8")
    (tmp_path / "case1.csv").write_text(
        "min,value,cnt,cdn,bitrate,p2p\n60,1,10,7,500,1\n120,5,12,7,2000,1\n", encoding="utf-8"
    )
    return tmp_path


def test_labels_parse_single_and_multiple_elements(tmp_path: Path) -> None:
    cases = read_rca_rs_labels(_folder(tmp_path))
    assert [c.name for c in cases] == ["case1", "20200530 120238 9"]
    assert cases[0].timestamp == 120
    assert cases[0].cause == ({"bitrate": "2000", "p2p": "1"},)
    assert cases[0].label == "bitrate=2000&p2p=1"
    assert cases[1].label == "bitrate=500;cdn=5&isp=联通"
    assert element_to_string({"p2p": "1", "cdn": "7"}) == "cdn=7&p2p=1"


def test_case_csv_has_string_attributes(tmp_path: Path) -> None:
    table = read_rca_rs_case(_folder(tmp_path), "case1")
    assert rca_rs_attributes(table) == ["cdn", "bitrate", "p2p"]
    assert table.column("bitrate").to_pylist() == ["500", "2000"]
    assert table.column("cnt").to_pylist() == [10.0, 12.0]
    assert table.column("min").to_pylist() == [60, 120]


def test_errors_name_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "anomaly.yaml").write_text("- data: x\n  timestamp: soon\n  cause: {'a':1}\n")
    with pytest.raises(DataError, match=r"anomaly.yaml, line 2: timestamp 'soon'"):
        read_rca_rs_labels(tmp_path)
    (tmp_path / "anomaly.yaml").write_text("- data: x\n  timestamp: 1\n")
    with pytest.raises(DataError, match="without 'cause'"):
        read_rca_rs_labels(tmp_path)
    with pytest.raises(DataError, match="case file not found"):
        read_rca_rs_case(tmp_path, "missing")
    (tmp_path / "bad.csv").write_text("min,cnt,cdn\n1,2,3\n")
    with pytest.raises(DataError, match=r"bad.csv, line 1: missing columns \['value'\]"):
        read_rca_rs_case(tmp_path, "bad")


@pytest.mark.realdata
def test_real_labels(rca_rs_dir: Path) -> None:
    cases = read_rca_rs_labels(rca_rs_dir)
    assert len(cases) == 135
    assert sum(len(c.cause) == 2 for c in cases) == 8
    assert all((rca_rs_dir / f"{c.name}.csv").is_file() for c in cases)
