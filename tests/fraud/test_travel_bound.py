"""The cheap distance bound that lets travel_sql skip trigonometry never undercuts haversine."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from reelmine.data.engine import sql_on_tables
from reelmine.fraud.travel import _UPPER_KM


def test_upper_bound_is_never_below_great_circle(rng: np.random.Generator) -> None:
    n = 20_000
    lat0, lat = rng.uniform(-89.9, 89.9, n), rng.uniform(-89.9, 89.9, n)
    lon0, lon = rng.uniform(-180, 180, n), rng.uniform(-180, 180, n)
    # Half the pairs close together (the common case: consecutive events at home).
    near = rng.random(n) < 0.5
    lat[near] = np.clip(lat0[near] + rng.normal(0, 0.05, near.sum()), -90, 90)
    lon[near] = lon0[near] + rng.normal(0, 0.05, near.sum())
    t = pa.table({"lat0": lat0, "lon0": lon0, "lat": lat, "lon": lon})
    out = sql_on_tables(
        f"""SELECT {_UPPER_KM} AS ub,
          2 * 6371.0 * ASIN(SQRT(LEAST(1.0,
            POWER(SIN(RADIANS(lat - lat0) / 2), 2)
            + COS(RADIANS(lat0)) * COS(RADIANS(lat)) * POWER(SIN(RADIANS(lon - lon0) / 2), 2)
          ))) AS km FROM t""",
        t=t,
    )
    ub, km = out["ub"].to_numpy(), out["km"].to_numpy()
    assert (ub >= km).all()
    # And it is tight enough to be useful: within a few km for nearby points.
    assert np.median((ub - km)[near]) < 10
