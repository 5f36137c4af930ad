"""A small contract dataset with a canary member, ingested through the real pipeline."""

from __future__ import annotations

import csv
from pathlib import Path

from reelmine.service.ingest import ingest
from reelmine.settings import Settings

CANARY = "canary-member-7f3a9c"
N_MEMBERS = 30
DEVICES = ("tv", "web", "mobile")
COUNTRIES = ("DE", "FR")


def settings_for(tmp: Path) -> Settings:
    """Settings rooted in a temporary folder (key from a fixed secret)."""
    return Settings(
        db=tmp / "w.duckdb",
        secret="privacy-test-secret-0123456789",
        key_file=tmp / "keys" / "pseudonym.key",
        artifacts=tmp / "artifacts",
    )


def _write(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def make_dataset(folder: Path) -> list[str]:
    """Write users, titles, plays, ratings; returns the raw member IDs (canary last)."""
    folder.mkdir(parents=True, exist_ok=True)
    members = [f"m{i:03d}" for i in range(N_MEMBERS)] + [CANARY]
    _write(
        folder / "users.csv",
        ["user_id", "country", "plan", "email"],
        [[m, COUNTRIES[i % 2], "basic", f"{m}@example.com"] for i, m in enumerate(members)],
    )
    _write(
        folder / "titles.csv",
        ["title_id", "name", "genres"],
        [[f"t{j}", f"Title {j}", "Drama"] for j in range(6)],
    )
    plays, ratings = [], []
    for i, m in enumerate(members):
        for j in range(3):
            t = (i + j) % 6
            plays.append(
                [
                    f"p{i}-{j}",
                    m,
                    f"t{t}",
                    f"2025-01-0{1 + j}T20:00:00Z",
                    600 * (j + 1),
                    DEVICES[(i + j) % 3],
                    COUNTRIES[i % 2],
                    f"dev-{m}",
                    f"10.0.{i}.{j + 1}",
                ]
            )
            ratings.append([m, f"t{t}", 1 + (i + j) % 5, f"2025-01-0{1 + j}T21:00:00Z"])
    # A row that fails validation (negative seconds) lands in quarantine, pseudonymised.
    plays.append(["p-bad", CANARY, "t1", "2025-01-05T20:00:00Z", -5, "tv", "DE", "d", "10.9.9.9"])
    _write(
        folder / "plays.csv",
        [
            "play_id",
            "user_id",
            "title_id",
            "started_at",
            "watched_seconds",
            "device_type",
            "country",
            "device_id",
            "ip",
        ],
        plays,
    )
    _write(folder / "ratings.csv", ["user_id", "title_id", "rating", "rated_at"], ratings)
    return members


def ingested(tmp: Path) -> tuple[Settings, list[str]]:
    """Settings of a warehouse holding the dataset, and the raw member IDs."""
    settings = settings_for(tmp)
    members = make_dataset(tmp / "src")
    ingest(settings, tmp / "src")
    return settings, members
