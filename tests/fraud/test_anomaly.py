"""Anomaly score: an automated account among ordinary ones stands out."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from reelmine.fraud import AnomalyParams, anomaly_flags, anomaly_scores, tables_runner
from tests.fraud._data import at, plays


def _population(rng: np.random.Generator) -> pa.Table:
    rows = []
    for u in range(60):  # ordinary members: 1-2 evening plays on some days, partly watched
        for d in range(14):
            if rng.random() < 0.5:
                continue
            for k in range(int(rng.integers(1, 3))):
                rows.append(
                    {
                        "user_id": f"h{u:02d}",
                        "started_at": at(d, 19 + 2 * k, int(rng.integers(0, 50))),
                        "watched_seconds": float(rng.uniform(600, 5000)),
                        "device_id": f"h{u}-tv",
                        "title_id": "t1",
                        "longitude": 13.4,
                        "country": "DE",
                    }
                )
    for d in range(14):  # a bot: a title every 48 minutes around the clock, played to the end
        for k in range(30):
            rows.append(
                {
                    "user_id": "bot",
                    "started_at": at(d, 0, 48 * k),
                    "watched_seconds": 2880.0,
                    "device_id": "bot-web",
                    "title_id": "t1",
                    "longitude": 13.4,
                    "country": "DE",
                }
            )
    return plays(*rows)


def test_bot_scores_highest_and_is_flagged(rng: np.random.Generator) -> None:
    titles = pa.table({"title_id": ["t1"], "name": ["T"], "runtime_minutes": [48.0]})
    run = tables_runner(plays=_population(rng), titles=titles)
    scored = anomaly_scores(run)
    assert scored.num_rows > 50 and min(scored["plays"].to_pylist()) >= 5
    users = scored["user_id"].to_pylist()
    score = scored["score"].to_numpy()
    assert users[int(np.argmax(score))] == "bot"
    bot = scored.filter(pa.compute.equal(scored["user_id"], "bot")).to_pylist()[0]
    # Local solar time is UTC + 13.4/15 h = UTC+0:54: starts at 00:00..04:48 and 23:12 UTC
    # fall in 00:00-06:00 local, 8 of 30 a day.
    assert bot["plays_per_day"] == 30 and abs(bot["night_share"] - 8 / 30) < 1e-9
    assert abs(bot["full_per_hour"] - 1.25) < 1e-9  # one full 48-min title per 0.8 h
    flags = anomaly_flags(run, params=AnomalyParams(contamination=0.02)).to_pylist()
    assert [f["user_id"] for f in flags] == ["bot"]
    assert "30.0 plays" in flags[0]["evidence"]


def test_accounts_with_too_few_plays_are_not_scored() -> None:
    t = plays(
        *[{"user_id": "a", "started_at": at(0, 20, i), "watched_seconds": 60.0} for i in range(3)]
    )
    assert anomaly_scores(tables_runner(plays=t)).num_rows == 0
    assert anomaly_flags(tables_runner(plays=t)).num_rows == 0
