"""GCJ-02 <-> WGS84: round trip, size of the shift in Ningxiang, input checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.gcj02 import gcj02_to_wgs84, in_china, wgs84_to_gcj02
from simulation.ningxiang_build.common import haversine_m

# The county's extent (raw data README): about 111.896-112.784 E, 27.880-28.486 N.
NINGXIANG_LON = st.floats(111.85, 112.85)
NINGXIANG_LAT = st.floats(27.85, 28.55)
CHINA_LON = st.floats(75.0, 134.0)
CHINA_LAT = st.floats(18.0, 53.0)


@settings(max_examples=200, deadline=None)
@given(lon=CHINA_LON, lat=CHINA_LAT)
def test_round_trip_wgs84_gcj02_wgs84_within_1_m(lon: float, lat: float) -> None:
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    w_lon, w_lat = gcj02_to_wgs84(g_lon, g_lat)
    assert float(haversine_m(lon, lat, w_lon, w_lat)) < 1.0


@settings(max_examples=100, deadline=None)
@given(lon=NINGXIANG_LON, lat=NINGXIANG_LAT)
def test_shift_anywhere_in_the_county_is_a_few_hundred_metres(lon: float, lat: float) -> None:
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    shift = float(haversine_m(lon, lat, g_lon, g_lat))
    assert 400.0 < shift < 700.0


def test_shift_of_ningxiang_places_is_several_hundred_metres() -> None:
    # The county town, 流沙河镇, 龙田镇 and the People's Hospital as the raw data gives them
    # (GCJ-02). The raw data's README says "about 500-600 m"; the exact transform gives ~655 m.
    lon = np.array([112.551885, 112.114071, 111.944723, 112.547536])
    lat = np.array([28.277483, 27.993988, 28.01734, 28.265299])
    w_lon, w_lat = gcj02_to_wgs84(lon, lat)
    shift = haversine_m(lon, lat, w_lon, w_lat)
    assert np.all((shift > 500.0) & (shift < 700.0))


def test_arrays_convert_elementwise_like_scalars() -> None:
    lon = np.array([112.547536, 111.944723, 112.114071])
    lat = np.array([28.265299, 28.01734, 27.993988])
    a_lon, a_lat = gcj02_to_wgs84(lon, lat)
    for i in range(3):
        s_lon, s_lat = gcj02_to_wgs84(float(lon[i]), float(lat[i]))
        assert (s_lon, s_lat) == pytest.approx((a_lon[i], a_lat[i]), abs=1e-8)


def test_inverse_image_maps_forward_onto_the_gcj02_point() -> None:
    w_lon, w_lat = gcj02_to_wgs84(112.547536, 28.265299)
    assert wgs84_to_gcj02(w_lon, w_lat) == pytest.approx((112.547536, 28.265299), abs=1e-8)


def test_forward_matches_a_published_test_vector() -> None:
    # eviltransform's test vector (WGS84 31.1774276 N, 121.5272106 E).
    lon, lat = wgs84_to_gcj02(121.5272106, 31.1774276)
    assert (lon, lat) == pytest.approx((121.531541859215, 31.17530398364597), abs=1e-9)


def test_outside_china_is_unchanged() -> None:
    assert not in_china(2.35, 48.85)
    assert wgs84_to_gcj02(2.35, 48.85) == (2.35, 48.85)
    assert gcj02_to_wgs84(2.35, 48.85) == (2.35, 48.85)


@pytest.mark.parametrize(("lon", "lat"), [(float("nan"), 28.0), (112.0, 91.0), (181.0, 28.0)])
def test_bad_coordinates_name_the_point(lon: float, lat: float) -> None:
    with pytest.raises(ValueError, match="lon, lat must be finite"):
        gcj02_to_wgs84(lon, lat)


def test_shapes_must_match() -> None:
    with pytest.raises(ValueError, match="same shape"):
        wgs84_to_gcj02(np.zeros(2), np.zeros(3))
