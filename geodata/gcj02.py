"""Convert between WGS84 and GCJ-02, China's obfuscated map datum.

Chinese web maps (Amap, Tencent, and the adcode dataset built from Amap) publish GCJ-02
coordinates; OpenStreetMap and GPS receivers use WGS84. The forward transform (WGS84 -> GCJ-02)
is the widely published reconstruction of the official algorithm (Krasovsky 1940 ellipsoid
constants, a fixed polynomial + sine offset); the inverse has no closed form and is computed by
fixed-point iteration of the forward transform, which converges to well under a millimetre.

Both directions take and return ``(lon, lat)`` in degrees, scalars or numpy arrays alike. Points
outside mainland China are returned unchanged, as the official transform does.
"""

from __future__ import annotations

import math
from typing import overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

# Krasovsky 1940 semi-major axis (m) and first eccentricity squared, as used by GCJ-02.
_A = 6378245.0
_EE = 0.00669342162296594323

# Rough bounding box of mainland China where the offset applies (the usual test).
_CHINA_LON = (72.004, 137.8347)
_CHINA_LAT = (0.8293, 55.8271)

# The inverse stops when the forward image is this close to the target (degrees, ~1 mm).
_INVERSE_TOLERANCE_DEG = 1e-8
_INVERSE_MAX_ITERATIONS = 30

FloatArray = NDArray[np.float64]


def _offsets(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return the GCJ-02 offset (dlon, dlat) in degrees at WGS84 points."""
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
    dlat += (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    dlat += (20.0 * np.sin(y * math.pi) + 40.0 * np.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * math.pi) + 320.0 * np.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x
    dlon += (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    dlon += (20.0 * np.sin(x * math.pi) + 40.0 * np.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * math.pi) + 300.0 * np.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    rad_lat = lat / 180.0 * math.pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * math.pi)
    return dlon, dlat


def in_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """Return whether points fall in the box where GCJ-02 differs from WGS84."""
    lon_a = np.asarray(lon, dtype=np.float64)
    lat_a = np.asarray(lat, dtype=np.float64)
    return (
        (lon_a >= _CHINA_LON[0]) & (lon_a <= _CHINA_LON[1])
        & (lat_a >= _CHINA_LAT[0]) & (lat_a <= _CHINA_LAT[1])
    )  # fmt: skip


def _check(lon: FloatArray, lat: FloatArray) -> None:
    if lon.shape != lat.shape:
        raise ValueError(f"lon and lat must have the same shape, got {lon.shape} and {lat.shape}")
    bad = ~(np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180.0) & (np.abs(lat) <= 90.0))
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        raise ValueError(
            f"lon, lat must be finite degrees within [-180, 180] x [-90, 90], "
            f"got ({lon.ravel()[i]}, {lat.ravel()[i]})"
        )


@overload
def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]: ...
def wgs84_to_gcj02(lon, lat):  # type: ignore[no-untyped-def]
    """Convert WGS84 ``(lon, lat)`` degrees to GCJ-02.

    Parameters
    ----------
    lon, lat
        Degrees, scalars or arrays of one shape.

    Returns
    -------
    tuple
        GCJ-02 ``(lon, lat)``, scalars for scalar input.

    Raises
    ------
    ValueError
        A coordinate is not finite or out of range; the message gives the first such point.
    """
    scalar = np.isscalar(lon) and np.isscalar(lat)
    lon_a = np.asarray(lon, dtype=np.float64)
    lat_a = np.asarray(lat, dtype=np.float64)
    _check(lon_a, lat_a)
    dlon, dlat = _offsets(lon_a, lat_a)
    inside = in_china(lon_a, lat_a)
    out_lon = np.where(inside, lon_a + dlon, lon_a)
    out_lat = np.where(inside, lat_a + dlat, lat_a)
    if scalar:
        return float(out_lon), float(out_lat)
    return out_lon, out_lat


@overload
def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]: ...
def gcj02_to_wgs84(lon, lat):  # type: ignore[no-untyped-def]
    """Convert GCJ-02 ``(lon, lat)`` degrees to WGS84 by iterating the forward transform.

    Starting from the GCJ-02 point, each step moves the estimate by the residual between its
    forward image and the target; the offset field is smooth, so a handful of steps reach
    ~1e-8 degrees (about a millimetre).

    Parameters
    ----------
    lon, lat
        GCJ-02 degrees, scalars or arrays of one shape.

    Returns
    -------
    tuple
        WGS84 ``(lon, lat)``, scalars for scalar input.

    Raises
    ------
    ValueError
        A coordinate is not finite or out of range; the message gives the first such point.
    """
    scalar = np.isscalar(lon) and np.isscalar(lat)
    g_lon = np.asarray(lon, dtype=np.float64)
    g_lat = np.asarray(lat, dtype=np.float64)
    _check(g_lon, g_lat)
    w_lon = g_lon.copy()
    w_lat = g_lat.copy()
    for _ in range(_INVERSE_MAX_ITERATIONS):
        f_lon, f_lat = wgs84_to_gcj02(w_lon, w_lat)
        r_lon = f_lon - g_lon
        r_lat = f_lat - g_lat
        w_lon = w_lon - r_lon
        w_lat = w_lat - r_lat
        if max(float(np.max(np.abs(r_lon), initial=0.0)), float(np.max(np.abs(r_lat), initial=0.0))) < (
            _INVERSE_TOLERANCE_DEG
        ):
            break
    if scalar:
        return float(w_lon), float(w_lat)
    return w_lon, w_lat


__all__ = ["gcj02_to_wgs84", "in_china", "wgs84_to_gcj02"]
