"""The platform simulator: determinism, the data contract, and that every planted truth is
really in the data (and absent where it should be)."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from reelmine.data.schema import TABLES, arrow_type
from reelmine.data.simulator import SimulationConfig, simulate
from reelmine.data.simulator._util import haversine_km, sequential_starts
from reelmine.errors import ConfigError

US = 1_000_000


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim_small")
    simulate(SimulationConfig(users=300, days=14, seed=7), out)
    return out


@pytest.fixture(scope="module")
def medium(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Big enough for incidents, bursts and experiments to show (about a second)."""
    out = tmp_path_factory.mktemp("sim_medium")
    simulate(SimulationConfig(users=2000, days=28, seed=11, chunk_users=700), out)
    return out


def _read(d: Path, name: str) -> pa.Table:
    return pq.read_table(d / f"{name}.parquet")


def _np(t: pa.Table, col: str) -> np.ndarray:
    c = t.column(col)
    if pa.types.is_timestamp(c.type):
        return c.cast(pa.int64()).to_numpy()
    return c.to_numpy(zero_copy_only=False)


def _dedup(t: pa.Table, key: str) -> pa.Table:
    _, first = np.unique(_np(t, key), return_index=True)
    return t.take(pa.array(np.sort(first)))


# -- helpers -----------------------------------------------------------------------------------


def test_sequential_starts_known_answer() -> None:
    group = np.array([0, 0, 0, 1, 1])
    wanted = np.array([0, 5, 100, 3, 4])
    dur = np.array([10, 10, 10, 2, 2])
    assert sequential_starts(group, wanted, dur).tolist() == [0, 10, 100, 3, 5]


def test_haversine_known_distance() -> None:
    # Berlin -> Paris is about 878 km.
    d = haversine_km(np.array([52.52]), np.array([13.40]), np.array([48.86]), np.array([2.35]))
    assert 860 < d[0] < 895


def test_config_rejects_bad_values(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="users"):
        SimulationConfig(users=3)
    with pytest.raises(ConfigError, match="format"):
        SimulationConfig(format="xlsx")
    with pytest.raises(ConfigError, match="catalog"):
        SimulationConfig(catalog=str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="unknown"):
        SimulationConfig.from_dict({"users": 100, "colour": "red"})
    cfg = SimulationConfig(users=100, days=9, seed=4)
    assert SimulationConfig.from_dict(cfg.to_dict()) == cfg


# -- determinism and the contract -------------------------------------------------------------


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path: Path, small: Path) -> None:
    again = tmp_path / "again"
    simulate(SimulationConfig(users=300, days=14, seed=7), again)
    files = sorted(p.relative_to(small) for p in small.rglob("*") if p.is_file())
    assert len(files) > 20
    for f in files:
        assert (
            hashlib.sha256((small / f).read_bytes()).digest()
            == hashlib.sha256((again / f).read_bytes()).digest()
        ), f
    other = tmp_path / "other"
    simulate(SimulationConfig(users=300, days=14, seed=8), other)
    assert (other / "plays.parquet").read_bytes() != (small / "plays.parquet").read_bytes()


def test_small_run_is_fast(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    simulate(SimulationConfig(users=300, days=14, seed=1), tmp_path / "fast")
    # A couple of seconds on an idle machine; generous bound for a shared CI box.
    assert time.perf_counter() - t0 < 15


def test_no_browse_sessions_gives_an_empty_ui_events_table(tmp_path: Path) -> None:
    simulate(SimulationConfig(users=60, days=7, seed=3, ui_fraction=0.0), tmp_path)
    ui = pq.read_table(tmp_path / "ui_events.parquet")
    assert ui.num_rows == 0 and ui.schema.field("row_name").type == pa.string()
    assert pq.read_table(tmp_path / "plays.parquet").num_rows > 0


def test_every_table_follows_the_contract(small: Path) -> None:
    manifest = json.loads((small / "manifest.json").read_text())
    for name, spec in TABLES.items():
        t = _read(small, name)
        assert manifest["rows"][name] == t.num_rows
        assert t.num_rows > 0, name
        for field in t.schema:
            col = spec.column(field.name)  # KeyError: not a contract column
            assert field.type == arrow_type(col.type), (name, field.name, field.type)
        for req in spec.required:
            assert req in t.column_names, (name, req)
            assert t.column(req).null_count == 0, (name, req)
        for group in spec.one_of:
            assert any(c in t.column_names for c in group)


def test_ids_and_values_look_right(small: Path) -> None:
    users, plays, titles = _read(small, "users"), _read(small, "plays"), _read(small, "titles")
    assert pc.all(pc.match_substring_regex(users["user_id"], r"^u\d{6}$")).as_py()
    assert pc.all(pc.match_substring_regex(plays["play_id"], r"^p\d{9}$")).as_py()
    assert pc.all(pc.match_substring_regex(titles["title_id"], r"^t\d{5}$")).as_py()
    assert set(plays["title_id"].to_pylist()) <= set(titles["title_id"].to_pylist())
    assert set(plays["user_id"].to_pylist()) <= set(users["user_id"].to_pylist())
    assert set(users["plan"].to_pylist()) == {"basic", "standard", "premium"}
    streams = dict(zip(users["plan"].to_pylist(), users["max_streams"].to_pylist(), strict=True))
    assert streams == {"basic": 1, "standard": 2, "premium": 4}
    assert len(set(users["country"].to_pylist())) >= 8
    kinds = set(titles["kind"].to_pylist())
    assert kinds == {"movie", "series", "episode"}
    ep = titles.filter(pc.equal(titles["kind"], "episode"))
    assert ep["series_id"].null_count == 0
    ratings = _np(_read(small, "ratings"), "rating")
    assert set(np.unique(ratings * 2)) <= set(range(2, 11))
    # Watch time never exceeds the session and the session never exceeds runtime by much.
    p = _dedup(plays, "play_id")
    span = (_np(p, "ended_at") - _np(p, "started_at")) / US
    assert (span + 1e-6 >= _np(p, "watched_seconds")).all()
    assert (_np(p, "startup_ms") > 0).all()


def test_events_include_duplicates_and_disorder(small: Path) -> None:
    plays = _read(small, "plays")
    ids = _np(plays, "play_id")
    assert len(np.unique(ids)) < len(ids)  # a few duplicated rows
    manifest = json.loads((small / "manifest.json").read_text())
    assert len(np.unique(ids)) == manifest["distinct_ids"]["plays"]
    key = np.char.add(_np(plays, "user_id").astype(str), "")
    started = _np(plays, "started_at")
    same_user = key[1:] == key[:-1]
    assert (np.diff(started)[same_user] < 0).any()  # and some rows out of time order


# -- truth consistency ---------------------------------------------------------------------------


def _peak_concurrency(plays: pa.Table) -> dict[str, int]:
    p = _dedup(plays, "play_id")
    u = _np(p, "user_id").astype(str)
    s, e = _np(p, "started_at"), _np(p, "ended_at")
    users = np.concatenate([u, u])
    t = np.concatenate([s, e])
    d = np.concatenate([np.ones(len(s), int), -np.ones(len(e), int)])
    order = np.lexsort((d, t, users))
    users, d = users[order], d[order]
    run = np.cumsum(d)
    first = np.r_[True, users[1:] != users[:-1]]
    base = np.maximum.accumulate(np.where(first, np.arange(len(run)), 0))
    run = run - np.r_[0, run][base]  # restart the running sum at each user
    out: dict[str, int] = {}
    uniq, start_idx = np.unique(users, return_index=True)
    peaks = np.maximum.reduceat(run, np.sort(start_idx))
    for name, pk in zip(users[np.sort(start_idx)], peaks, strict=True):
        out[name] = int(pk)
    assert len(out) == len(uniq)
    return out


def test_concurrent_streams_only_where_planted(small: Path) -> None:
    users, fraud = _read(small, "users"), _read(small / "truth", "fraud")
    limit = dict(zip(users["user_id"].to_pylist(), users["max_streams"].to_pylist(), strict=True))
    peaks = _peak_concurrency(_read(small, "plays"))
    planted = set(
        fraud.filter(pc.equal(fraud["type"], "concurrent_streams"))["user_id"].to_pylist()
    )
    assert len(planted) >= 3
    for u, pk in peaks.items():
        if u in planted:
            assert pk > limit[u], u
        else:
            assert pk <= limit[u], (u, pk, limit[u])


def _fast_moves(d: Path) -> set[str]:
    """Accounts with consecutive events > 500 km apart at > 900 km/h (logins and plays)."""
    plays, logins = _dedup(_read(d, "plays"), "play_id"), _read(d, "logins")
    logins = logins.filter(logins["success"])
    u = np.concatenate([_np(plays, "user_id"), _np(logins, "user_id")]).astype(str)
    t = np.concatenate([_np(plays, "started_at"), _np(logins, "at")])
    la = np.concatenate([_np(plays, "latitude"), _np(logins, "latitude")])
    lo = np.concatenate([_np(plays, "longitude"), _np(logins, "longitude")])
    o = np.lexsort((t, u))
    u, t, la, lo = u[o], t[o], la[o], lo[o]
    same = u[1:] == u[:-1]
    km = haversine_km(la[:-1], lo[:-1], la[1:], lo[1:])
    hours = np.maximum((t[1:] - t[:-1]) / 3600 / US, 1e-6)
    fast = same & (km > 500) & (km / hours > 900)
    return set(u[1:][fast].tolist())


def test_impossible_travel_only_where_planted(small: Path) -> None:
    fraud = _read(small / "truth", "fraud")
    planted = set(fraud.filter(pc.equal(fraud["type"], "impossible_travel"))["user_id"].to_pylist())
    benign = _read(small / "truth", "benign")
    trips = benign.filter(pc.equal(benign["type"], "plane_trip"))
    assert trips.num_rows >= 1
    assert _fast_moves(small) == planted
    # A plane trip is far away, yet slow enough: the traveller really played abroad.
    plays = _dedup(_read(small, "plays"), "play_id")
    users = _read(small, "users")
    home = dict(zip(users["user_id"].to_pylist(), users["country"].to_pylist(), strict=True))
    for u in trips["user_id"].to_pylist():
        mine = plays.filter(pc.equal(plays["user_id"], u))
        assert any(c != home[u] for c in mine["country"].to_pylist())


def test_household_sharing_uses_extra_places_and_networks(small: Path) -> None:
    truth = small / "truth"
    fraud, benign = _read(truth, "fraud"), _read(truth, "benign")
    plays = _dedup(_read(small, "plays"), "play_id")
    u = _np(plays, "user_id").astype(str)
    lat, lon = _np(plays, "latitude"), _np(plays, "longitude")
    fixed = ~pc.equal(plays["device_type"], "mobile").to_numpy(zero_copy_only=False)
    nets = np.array([ip.rsplit(".", 1)[0] for ip in plays["ip"].to_pylist()])
    planted = set(fraud.filter(pc.equal(fraud["type"], "household_sharing"))["user_id"].to_pylist())
    trips = benign.filter(pc.equal(benign["type"], "plane_trip"))["user_id"].to_pylist()
    other = (set(fraud["user_id"].to_pylist()) | set(trips)) - planted
    spread: dict[str, float] = {}
    for name in np.unique(u):  # per account (a few hundred)
        m = u == name
        d = haversine_km(lat[m], lon[m], np.median(lat[m]), np.median(lon[m]))
        spread[name] = float(d.max())
        if name in planted:
            assert spread[name] > 25, name  # an extra household far from home
            assert len(set(nets[m & fixed])) >= 1
    ordinary = [n for n in spread if n not in planted and n not in other]
    assert len(ordinary) > 100
    assert max(spread[n] for n in ordinary) < 25  # everyone else watches from one place
    assert all(len(set(nets[(u == n) & fixed])) <= 1 for n in ordinary)


def test_credential_stuffing_burst_and_takeover(small: Path) -> None:
    fraud = _read(small / "truth", "fraud")
    stuffed = fraud.filter(pc.equal(fraud["type"], "credential_stuffing"))
    details = [json.loads(x) for x in stuffed["details"].to_pylist()]
    network = details[0]["network"].rsplit(".", 1)[0]
    logins = _read(small, "logins")
    from_net = logins.filter(pc.starts_with(logins["ip"], network + "."))
    failed = from_net.filter(pc.invert(from_net["success"]))
    assert len(set(failed["user_id"].to_pylist())) == stuffed.num_rows >= 10
    at = _np(failed, "at")
    assert (at.max() - at.min()) <= 30 * 60 * US
    compromised = {
        u for u, d in zip(stuffed["user_id"].to_pylist(), details, strict=True) if d["compromised"]
    }
    ok = from_net.filter(from_net["success"])
    assert set(ok["user_id"].to_pylist()) == compromised


def test_automated_playback_accounts(small: Path) -> None:
    fraud = _read(small / "truth", "fraud")
    bots = set(fraud.filter(pc.equal(fraud["type"], "automated_playback"))["user_id"].to_pylist())
    plays = _dedup(_read(small, "plays"), "play_id")
    titles = _read(small, "titles")
    rt = dict(
        zip(titles["title_id"].to_pylist(), titles["runtime_minutes"].to_pylist(), strict=True)
    )
    u = _np(plays, "user_id").astype(str)
    per_user = {x: c for x, c in zip(*np.unique(u, return_counts=True), strict=True)}
    normal = np.median([c for x, c in per_user.items() if x not in bots])
    for b in bots:
        assert per_user[b] > 10 * normal
        mine = plays.filter(pc.equal(plays["user_id"], b))
        frac = _np(mine, "watched_seconds") / (
            np.array([rt[t] for t in mine["title_id"].to_pylist()]) * 60
        )
        ok = pc.is_null(mine["error_code"]).to_numpy(zero_copy_only=False) & (frac > 0)
        assert (frac[ok] > 0.99).all()  # every play that ran, ran to the end
        assert ok.mean() > 0.9
        hours = (_np(mine, "started_at") // (3600 * US)) % 24
        assert len(np.unique(hours)) == 24  # around the clock


def test_churners_cancel_and_stop_playing(small: Path) -> None:
    users, churn = _read(small, "users"), _read(small / "truth", "churners")
    cancelled = users.filter(pc.is_valid(users["cancelled_at"]))
    assert churn.num_rows == cancelled.num_rows > 0
    truth = dict(zip(churn["user_id"].to_pylist(), _np(churn, "cancelled_at"), strict=True))
    got = dict(zip(cancelled["user_id"].to_pylist(), _np(cancelled, "cancelled_at"), strict=True))
    assert truth == got
    plays = _read(small, "plays")
    for u, t in truth.items():
        mine = plays.filter(pc.equal(plays["user_id"], u))
        assert (_np(mine, "started_at") < t).all()
    tastes = _read(small / "truth", "user_tastes")
    hz = dict(zip(tastes["user_id"].to_pylist(), tastes["churn_hazard"].to_pylist(), strict=True))
    assert np.mean([hz[u] for u in truth]) > np.mean(list(hz.values()))


def test_new_titles_not_played_before_added(small: Path) -> None:
    new, titles = _read(small / "truth", "new_titles"), _read(small, "titles")
    assert new.num_rows > 0
    added = dict(zip(new["title_id"].to_pylist(), _np(new, "added_at"), strict=True))
    series = dict(zip(titles["title_id"].to_pylist(), titles["series_id"].to_pylist(), strict=True))
    plays = _read(small, "plays")
    show = [series[t] or t for t in plays["title_id"].to_pylist()]
    started = _np(plays, "started_at")
    for s, t in zip(show, started, strict=True):
        if s in added:
            assert t >= added[s]


def test_trending_bursts_show_in_daily_views(medium: Path) -> None:
    trend = _read(medium / "truth", "trending")
    plays = _dedup(_read(medium, "plays"), "play_id")
    tid = _np(plays, "title_id").astype(str)
    t = _np(plays, "started_at")
    window = (t.max() - t.min()) / (86400 * US)
    for title, s, e in zip(
        trend["title_id"].to_pylist(), _np(trend, "start"), _np(trend, "end"), strict=True
    ):
        mine = t[tid == title]
        inside = ((mine >= s) & (mine < e)).sum() / ((e - s) / (86400 * US))
        outside = ((mine < s) | (mine >= e)).sum() / (window - (e - s) / (86400 * US))
        assert inside > 2 * outside, title


def test_incidents_degrade_their_slice_only_in_window(medium: Path) -> None:
    inc = _read(medium / "truth", "incidents")
    plays = _dedup(_read(medium, "plays"), "play_id")
    # Bots never abandon a slow start; judge the slice on members' own plays.
    fraud = _read(medium / "truth", "fraud")
    bots = fraud.filter(pc.equal(fraud["type"], "automated_playback"))["user_id"]
    plays = plays.filter(pc.invert(pc.is_in(plays["user_id"], bots)))
    cols = {
        a: _np(plays, a).astype(str)
        for a in ("cdn", "isp", "country", "device_type", "os", "app_version")
    }
    t = _np(plays, "started_at")
    startup = _np(plays, "startup_ms")
    rb = _np(plays, "rebuffer_ms") / np.maximum(_np(plays, "watched_seconds") * 1000, 1)
    err = pc.is_valid(plays["error_code"]).to_numpy(zero_copy_only=False)
    ebs = _np(plays, "exit_before_start").astype(bool)
    value = {
        "startup_ms": startup,
        "rebuffer_ratio": rb,
        "error_count": err.astype(float),
        "exit_before_start": ebs.astype(float),
    }
    checked = 0
    for row in inc.to_pylist():
        in_time = (t >= row["start"].timestamp() * US) & (t < row["end"].timestamp() * US)
        in_slice = np.zeros(len(t), bool)
        for combo in row["root_cause"]:
            m = np.ones(len(t), bool)
            for el in combo.split("&"):
                a, v = el.split("=")
                m &= cols[a] == v
            in_slice |= m
        hit, out_slice, before = in_time & in_slice, in_time & ~in_slice, ~in_time & in_slice
        if hit.sum() < 15:
            continue
        v = value[row["metric"]]
        agg = np.median if row["metric"] == "startup_ms" else np.mean
        assert agg(v[hit]) > 2 * agg(v[out_slice]), row["incident_id"]
        assert agg(v[hit]) > 2 * agg(v[before]), row["incident_id"]
        checked += 1
    assert checked >= 2
    starts = np.sort(_np(inc, "start"))
    ends = _np(inc, "end")[np.argsort(_np(inc, "start"))]
    assert (starts[1:] >= ends[:-1]).all()  # non-overlapping


def test_experiments_match_truth_and_srm_is_broken(medium: Path) -> None:
    exp, truth = _read(medium, "experiments"), _read(medium / "truth", "experiments")
    assert set(exp["experiment_id"].to_pylist()) == set(truth["experiment_id"].to_pylist())
    tr = truth.filter(pc.equal(truth["metric"], "plays_per_member")).to_pylist()
    counts: dict[tuple[str, str], int] = {}
    for e, v in zip(exp["experiment_id"].to_pylist(), exp["variant"].to_pylist(), strict=True):
        counts[(e, v)] = counts.get((e, v), 0) + 1
    for r in tr:
        assert counts[(r["experiment_id"], r["variant"])] == r["logged"]
    srm = [r for r in tr if r["broken_sample_ratio"]]
    assert {r["experiment_id"] for r in srm} == {"exp-srm"}
    ctrl = next(r for r in srm if r["variant"] == "control")["logged"]
    trt = next(r for r in srm if r["variant"] == "treatment")["logged"]
    assert trt / ctrl < 0.93
    aa = [r for r in tr if r["is_aa"]]
    assert all(r["true_relative_effect"] == 0 for r in aa)
    # The planted effect moves plays: among members present the whole window, the post/pre
    # ratio of plays is higher in treatment (planted +8%; the estimate's sd is about 2%).
    plays = _dedup(_read(medium, "plays"), "play_id")
    users = _read(medium, "users")
    start = json.loads((medium / "manifest.json").read_text())["config"]["start"]
    t0 = int(np.datetime64(start, "us").astype(np.int64))
    stay = users.filter(
        pc.and_(
            pc.less(pc.cast(users["signup_at"], pa.int64()), t0), pc.is_null(users["cancelled_at"])
        )
    )["user_id"]
    arm = exp.filter(pc.equal(exp["experiment_id"], "exp-row-order"))
    arm = arm.filter(pc.is_in(arm["user_id"], stay))
    variant = dict(zip(arm["user_id"].to_pylist(), arm["variant"].to_pylist(), strict=True))
    since = dict(zip(arm["user_id"].to_pylist(), _np(arm, "assigned_at"), strict=True))
    day = 86400 * US
    pre = {"control": 0, "treatment": 0}
    post = {"control": 0, "treatment": 0}
    for u, t in zip(plays["user_id"].to_pylist(), _np(plays, "started_at"), strict=True):
        if u in variant:
            target = post if t >= since[u] - since[u] % day else pre
            target[variant[u]] += 1
    lift = (post["treatment"] / pre["treatment"]) / (post["control"] / pre["control"])
    assert 1.0 < lift < 1.16


def test_campaign_uplift_only_in_segment(medium: Path) -> None:
    camp, users = _read(medium, "campaigns"), _read(medium, "users")
    truth = {r["campaign_id"]: r for r in _read(medium / "truth", "campaign_uplift").to_pylist()}
    assert truth["upsell-premium"]["segment"] == "age < 30"
    age = dict(zip(users["user_id"].to_pylist(), users["age"].to_pylist(), strict=True))
    c = camp.filter(pc.equal(camp["campaign_id"], "upsell-premium"))
    young = np.array([age[u] < 30 for u in c["user_id"].to_pylist()])
    treated = _np(c, "treated").astype(bool)
    conv = pc.is_valid(c["converted_at"]).to_numpy(zero_copy_only=False)
    lift_in = conv[young & treated].mean() - conv[young & ~treated].mean()
    lift_out = conv[~young & treated].mean() - conv[~young & ~treated].mean()
    assert lift_in > 0.04
    assert lift_in > lift_out + 0.03


def test_ui_position_bias_artwork_and_search_gaps(medium: Path) -> None:
    ui = _read(medium, "ui_events")
    home = ui.filter(pc.equal(ui["page"], "home"))
    imp = home.filter(pc.equal(home["event_type"], "impression"))
    clk = home.filter(pc.equal(home["event_type"], "click"))

    def ctr(row: int, col: int) -> float:
        def n(t: pa.Table) -> int:
            m = pc.and_(pc.equal(t["row_position"], row), pc.equal(t["column_position"], col))
            return int(pc.sum(m).as_py())

        return n(clk) / n(imp)

    assert ctr(0, 0) > 2 * ctr(3, 4)
    props = _np(imp, "propensity")
    assert set(np.round(1 / props).astype(int)) <= {3, 4}
    gaps = set(_read(medium / "truth", "search_gaps")["query"].to_pylist())
    titles = {n.lower() for n in _read(medium, "titles")["name"].to_pylist()}
    assert not gaps & titles
    queries = set(ui.filter(pc.equal(ui["event_type"], "search"))["query"].to_pylist())
    assert len(gaps & queries) >= 5
    # The planted best artwork for a member's age segment is clicked more often.
    art = _read(medium / "truth", "artwork")
    best = set(
        zip(
            art["title_id"].to_pylist(),
            art["segment"].to_pylist(),
            art["best_artwork_id"].to_pylist(),
            strict=True,
        )
    )
    users = _read(medium, "users")
    age = dict(zip(users["user_id"].to_pylist(), users["age"].to_pylist(), strict=True))

    def seg(a: int) -> str:
        return "age<30" if a < 30 else ("30<=age<50" if a < 50 else "age>=50")

    def is_best(t: pa.Table) -> np.ndarray:
        return np.array(
            [
                (ti, seg(age[u]), a) in best
                for ti, u, a in zip(
                    t["title_id"].to_pylist(),
                    t["user_id"].to_pylist(),
                    t["artwork_id"].to_pylist(),
                    strict=True,
                )
            ]
        )

    bi, bc = is_best(imp), is_best(clk)
    assert bc.mean() > bi.mean() * 1.2


def test_taste_beats_popularity(medium: Path) -> None:
    """A simple EASE model on the simulated plays beats popularity on held-out shows."""
    import scipy.sparse as sp

    plays = _dedup(_read(medium, "plays"), "play_id")
    titles = _read(medium, "titles")
    series = dict(zip(titles["title_id"].to_pylist(), titles["series_id"].to_pylist(), strict=True))
    show = np.array([series[t] or t for t in plays["title_id"].to_pylist()])
    u = _np(plays, "user_id").astype(str)
    t = _np(plays, "started_at")
    cut = np.quantile(t, 0.8)
    su, ui_ = np.unique(u, return_inverse=True)
    ss, si = np.unique(show, return_inverse=True)
    train = t < cut
    x = sp.csr_matrix((np.ones(train.sum()), (ui_[train], si[train])), shape=(len(su), len(ss)))
    x.data[:] = 1.0
    x.sum_duplicates()
    x.data[:] = 1.0
    test = sp.csr_matrix((np.ones((~train).sum()), (ui_[~train], si[~train])), shape=x.shape)
    test = test - test.multiply(x)  # only new shows count
    test.eliminate_zeros()
    users = np.flatnonzero((np.diff(test.indptr) > 0) & (np.diff(x.indptr) >= 3))
    gram = (x.T @ x).toarray()
    gram[np.diag_indices_from(gram)] += 50.0
    inv = np.linalg.inv(gram)
    ease = -inv / np.diag(inv)  # EASE: closed-form item-item regression
    np.fill_diagonal(ease, 0)
    knn = np.asarray(x[users] @ ease)
    pop = np.tile(np.asarray(x.sum(0)).ravel(), (len(users), 1))

    def hit_rate(scores: np.ndarray) -> float:
        scores = np.where(x[users].toarray() > 0, -np.inf, scores)
        top = np.argsort(-scores, axis=1)[:, :10]
        truth = test[users].toarray() > 0
        return float(np.take_along_axis(truth, top, axis=1).any(1).mean())

    assert hit_rate(knn) > 1.15 * hit_rate(pop)
