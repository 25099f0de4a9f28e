"""Where to build next: the maximal covering location problem (MCLP, Church & ReVelle 1974).

Choose n new sites among candidates (a grid on land, or a planner's list) to maximise the demand
(modelled population by default) that newly reaches `min_stations` stations within `reach_m`. For
min_stations=2 a point already reached by one station needs one new site, a point reached by none
needs two.

Solution, in steps, each reported:
1. greedy, then 1-swap local search: a good solution fast (lower bound LB);
2. the Lagrangian relaxation of the coverage constraints (Galvão & ReVelle 1996), minimised by
   subgradient steps: a valid upper bound UB, as strong as the LP relaxation at its optimum; each
   multiplier vector also bounds every solution that contains a given candidate, which rules out
   every candidate whose bound is below LB;
3. if a gap remains and the surviving problem is small enough, the MILP over the survivors with
   PuLP's bundled CBC (warm-started with LB). Any solution better than LB uses only survivors, so
   CBC proving optimality there proves it for the whole candidate set.
`optimality_gap` = (UB - total) / UB with the best proven UB; 0 means proven optimal.
While it works, `progress(doc)` (when given) hears the best plan so far after each step and whenever the
bound improves (at most every `PROGRESS_EVERY_S`): the sites, their value and the proven gap (`incumbent`).

Demand units reached by exactly the same candidates, with the same need, are merged (weights summed)
before solving: an exact reduction that leaves every plan's value unchanged. For min_stations=2 the
bound is the weak part: the relaxation may take half of a site in twice as many places, which counts
every point under two half sites as reached twice, so on the whole city the proven gap stays at a
few per cent (the MILP is then too big for the time limit) and the answer says so.

Sizes are kept in hand by the candidate spacing (reach/2, 250 m to 1 km) and, for reaches over 2.5 km,
by summing the 250 m demand into cells of reach/10; the gains reported are recomputed on the full
demand layer either way, with the same geometry as `coverage`.
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd
import pulp
import scipy.sparse as sp
from scipy.spatial import cKDTree

from ..cache import LruCache
from ..checks import whole_number
from ..errors import InvalidInput
from ..geo.metric import assign_units, metric_layers, to_metric, to_wgs84
from ..model import Station
from . import travel
from .coverage import check_min_stations, check_point, coverage, reach_counts, scale_factor
from .demand import Demand, default_demand, land_grid

MAX_CANDIDATES = 60_000
MILP_MAX_NNZ = 200_000
NNZ_TARGET = 2_500_000  # candidate-demand pairs kept in memory before demand is summed into coarser cells
TIME_LIMIT_S = 8.0
PROGRESS_EVERY_S = 0.5
STAGES_ZH = {"greedy": "已找到初步方案（贪心 + 交换），正在计算上界",
             "bound": "正在计算上界（拉格朗日松弛），以证明方案离最优有多近",
             "milp": "正在用整数规划（CBC）证明最优"}
STAGES_EN = {"greedy": "a first plan found (greedy + swap); computing the bound",
             "bound": "computing the bound (Lagrangian relaxation) to prove how close the plan is",
             "milp": "proving optimality with the integer program (CBC)"}


@dataclass(frozen=True)
class Site:
    lat: float
    lon: float
    district: str
    district_name: str
    township: str
    township_name: str
    gain: float  # newly covered demand added by this site, given the sites listed before it
    name: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"lat": round(self.lat, 6), "lon": round(self.lon, 6), "name": self.name,
                "district": self.district, "district_name": self.district_name,
                "township": self.township, "township_name": self.township_name,
                "gain": round(self.gain, 1)}


@dataclass
class SitingResult:
    sites: list[Site]
    total_gain: float
    method: str
    optimality_gap: float  # (upper_bound - model_total) / upper_bound; 0 = proven optimal
    upper_bound: float  # proven bound on the best total over the candidates, on the model solved
    model_total: float  # the chosen sites' total on the model solved (equals total_gain at 250 m demand)
    reach_m: float
    min_stations: int
    n: int
    candidates: int
    candidate_spacing_m: float | None
    demand_cell_m: float
    covered_before: float
    covered_after: float
    population_modelled: bool
    population_label: str
    seconds: float
    steps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n, "reach_m": round(self.reach_m, 1), "min_stations": self.min_stations,
            "sites": [s.to_dict() for s in self.sites], "total_gain": round(self.total_gain, 1),
            "method": self.method, "method_zh": method_zh(self.optimality_gap, self.candidates, self.candidate_spacing_m,
                                   self.min_stations),
            "proven_optimal": self.optimality_gap <= 0, "optimality_gap": round(self.optimality_gap, 6),
            "upper_bound": round(self.upper_bound, 1), "model_total": round(self.model_total, 1),
            "candidates": self.candidates,
            "candidate_spacing_m": self.candidate_spacing_m, "demand_cell_m": self.demand_cell_m,
            "covered_population_before": round(self.covered_before, 1),
            "covered_population_after": round(self.covered_after, 1),
            "population_modelled": self.population_modelled, "population_label": self.population_label,
            "seconds": round(self.seconds, 2), "steps": list(self.steps),
        }


BOUND_NOTE_2 = ("the bound is the Lagrangian (LP) relaxation, which for two-station coverage may take half of a "
                "site in twice as many places; the plan may be closer to the optimum than the gap says")


def method_zh(gap: float, candidates: int, spacing_m: float | None, min_stations: int = 1) -> str:
    """The method in plain Chinese, from the proven bound: optimal (proven), or within x % of the optimum
    and which bound that is (for two-station coverage the relaxation is loose, and the text says why)."""
    among = (f"在 {candidates:,} 个候选点（每 {spacing_m:,.0f} 米一个）中选择" if spacing_m
             else f"在 {candidates:,} 个给定候选点中选择")
    if gap <= 0:
        return f"最优方案，已证明（{among}，没有别的选法能覆盖更多人）"
    pct = math.ceil(gap * 1000) / 10  # rounded up: the claim must hold
    if min_stations >= 2:
        return (f"近似方案，与最优相差不超过 {pct:g}%（{among}；计算时限内未能证明最优。这个上界来自线性松弛："
                "两站覆盖时松弛可以把半个站点摆到两倍的地方，算出的上界偏高，实际方案可能比这更接近最优）")
    return f"近似方案，与最优相差不超过 {pct:g}%（{among}；计算时限内未能证明最优）"


def demand_cell_m(reach: float, n_candidates: int) -> float:
    """250 m (the grid itself) unless candidates x points in reach would pass NNZ_TARGET; then coarser."""
    est = n_candidates * math.pi * reach * reach / (250.0 * 250.0)
    if est <= NNZ_TARGET:
        return 250.0
    return float(math.ceil(250.0 * math.sqrt(est / NNZ_TARGET) / 50.0) * 50.0)


def check_n(n: Any) -> int:
    """n as a whole number of at least 1 (entry points bound it by the max_suggest setting)."""
    return whole_number(n, "number of sites", 1)


# -- candidates ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Candidates:
    x: np.ndarray  # METRIC_CRS
    y: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    names: tuple[str, ...]
    spacing_m: float | None  # None for a planner's list


def candidate_grid(spacing_m: float) -> Candidates:
    """Grid points on land every `spacing_m` (aligned to multiples of it in METRIC_CRS)."""
    gx, gy = land_grid(spacing_m)
    lon, lat = to_wgs84(gx, gy)
    return Candidates(gx, gy, lat, lon, ("",) * gx.size, spacing_m)


def candidate_list(points: Iterable[Any], crs: str = "wgs84") -> Candidates:
    """A planner's candidates: (lat, lon) pairs or {'lat', 'lon', 'name'} mappings, inside Jieyang."""
    lats, lons, names = [], [], []
    for i, p in enumerate(points, 1):
        try:
            lat, lon = check_point(p, crs)
        except InvalidInput as exc:
            raise InvalidInput(f"candidate {i}: {exc}") from None
        lats.append(lat), lons.append(lon)
        names.append(str(p.get("name", "")) if isinstance(p, dict) else "")
    if not lats:
        raise InvalidInput("the candidate list is empty")
    lat, lon = np.array(lats), np.array(lons)
    x, y = to_metric(lon, lat)
    return Candidates(x, y, lat, lon, tuple(names), None)


def load_candidates(path: str | Path, crs: str = "wgs84", sheet: str | None = None) -> Candidates:
    """Candidates from CSV/XLSX (lat/lon or 纬度/经度 columns, optional name/名称) or GeoJSON/GPKG points."""
    from ..files.tables import LAT_COLUMNS, LON_COLUMNS, find_column, read_geo, read_table

    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"candidate file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix in (".geojson", ".json", ".gpkg"):
        frame = read_geo(path, "candidates")
        if not (frame.geom_type == "Point").all():
            raise InvalidInput(f"{path.name}: candidates must be points")
        lats, lons = frame.geometry.y, frame.geometry.x
        cols = [str(c) for c in frame.columns]
    elif suffix in (".csv", ".txt", ".xlsx", ".xlsm"):
        frame = read_table(path, sheet).dropna(how="all")
        cols = [str(c) for c in frame.columns]
        frame.columns = cols
        lat_c, lon_c = find_column(cols, LAT_COLUMNS), find_column(cols, LON_COLUMNS)
        if not (lat_c and lon_c):
            raise InvalidInput(f"{path.name}: need latitude and longitude columns (lat/lon or 纬度/经度); found {', '.join(cols)}")
        lats, lons = frame[lat_c], frame[lon_c]
    else:
        raise InvalidInput(f"candidate file {path.name!r}: unknown type; use .csv, .xlsx, .geojson or .gpkg")
    name_c = find_column(cols, ("name", "名称", "站点名称", "地点", "网点名称"))
    names = frame[name_c] if name_c else [None] * len(frame)
    points = [{"lat": la, "lon": lo, "name": "" if nm is None or pd.isna(nm) else nm}
              for la, lo, nm in zip(lats, lons, names)]
    try:
        return candidate_list(points, crs)
    except InvalidInput as exc:
        raise InvalidInput(f"{path.name}: {exc}") from None


# -- the problem -----------------------------------------------------------------------------------

@dataclass
class _Problem:
    A: sp.csr_matrix  # candidates x demand units, 1 where the candidate reaches the unit
    w: np.ndarray  # weight per demand unit
    need: np.ndarray  # new sites needed per demand unit (1 or 2)
    n: int

    def value(self, chosen: Sequence[int]) -> float:
        if not len(chosen):
            return 0.0
        cur = np.asarray(self.A[list(chosen)].sum(axis=0)).ravel()
        return float(self.w[cur >= self.need].sum())

    def cover_counts(self, chosen: Sequence[int]) -> np.ndarray:
        if not len(chosen):
            return np.zeros(self.w.size)
        return np.asarray(self.A[list(chosen)].sum(axis=0)).ravel()

    def gains(self, cur: np.ndarray) -> np.ndarray:
        """Exact gain of adding each candidate, given current new-site counts per unit."""
        return self.A @ (self.w * (cur + 1 == self.need))


def _aggregate(demand: Demand, sel: np.ndarray, need: np.ndarray, cell_m: float):
    """Sum the selected demand points (and their needs) into cells of `cell_m`; weighted centres."""
    if cell_m <= 250.0:
        return demand.x[sel], demand.y[sel], demand.weight[sel], need[sel]
    gx = np.floor(demand.x[sel] / cell_m).astype(np.int64)
    gy = np.floor(demand.y[sel] / cell_m).astype(np.int64)
    key = pd.MultiIndex.from_arrays([gx, gy, need[sel]])
    codes, uniq = pd.factorize(key)
    w = demand.weight[sel]
    tw = np.bincount(codes, weights=w)
    cx = np.bincount(codes, weights=w * demand.x[sel]) / tw
    cy = np.bincount(codes, weights=w * demand.y[sel]) / tw
    nd = np.array([u[2] for u in uniq])
    return cx, cy, tw, nd


def _build(cands: Candidates, demand: Demand, counts: np.ndarray, reach: float, k: int, n: int,
           cell_m: float) -> tuple[_Problem, np.ndarray]:
    need_all = np.maximum(0, k - counts)
    sel = np.flatnonzero((need_all > 0) & (demand.weight > 0))
    dx, dy, dw, dneed = _aggregate(demand, sel, need_all, cell_m)
    radius = reach * scale_factor(cands.lon, cands.lat)
    if dx.size == 0:
        return _Problem(sp.csr_matrix((0, 0)), np.zeros(0), np.zeros(0), n), np.zeros(0, dtype=np.int64)
    tree = cKDTree(np.column_stack((dx, dy)))
    lists = tree.query_ball_point(np.column_stack((cands.x, cands.y)), radius, return_sorted=False)
    lengths = np.fromiter((len(v) for v in lists), dtype=np.int64, count=len(lists))
    keep = np.flatnonzero(lengths > 0)
    indptr = np.concatenate(([0], np.cumsum(lengths[keep])))
    indices = np.fromiter((i for j in keep for i in lists[j]), dtype=np.int32, count=int(indptr[-1]))
    A = sp.csr_matrix((np.ones(indices.size, dtype=np.float64), indices, indptr), shape=(keep.size, dx.size))
    return _merge(_Problem(A, dw, dneed.astype(float), n)), keep


def _merge(p: _Problem) -> _Problem:
    """Merge demand units reached by the same candidates with the same need (weights summed): exact."""
    if p.w.size == 0:
        return p
    At = p.A.T.tocsr()
    At.sort_indices()
    groups: dict[tuple[float, bytes], int] = {}
    code = np.fromiter((groups.setdefault((p.need[i], At.indices[At.indptr[i]:At.indptr[i + 1]].tobytes()), len(groups))
                        for i in range(At.shape[0])), dtype=np.int64, count=At.shape[0])
    if len(groups) == p.w.size:
        return p
    first = np.full(len(groups), -1, dtype=np.int64)
    first[code[::-1]] = np.arange(code.size)[::-1]
    return _Problem(At[first].T.tocsr(), np.bincount(code, weights=p.w, minlength=len(groups)), p.need[first], p.n)


# -- solvers ---------------------------------------------------------------------------------------

def _greedy(p: _Problem) -> list[int]:
    """Greedy by exact gain; ties (and the first step towards a 2-site need) by half credit."""
    chosen: list[int] = []
    cur = np.zeros(p.w.size)
    for _ in range(min(p.n, p.A.shape[0])):
        exact = p.gains(cur)
        partial = p.A @ (p.w * (cur + 1 < p.need)) * 0.5
        score = exact + partial
        score[chosen] = -1
        j = int(np.argmax(score))
        if score[j] <= 0:
            break
        chosen.append(j)
        cur += np.asarray(p.A[j].todense()).ravel()
    return chosen


def _swap(p: _Problem, chosen: list[int], deadline: float) -> list[int]:
    """1-swap local search: replace a site by the best other candidate while that gains."""
    chosen = list(chosen)
    best = p.value(chosen)
    improved = True
    while improved and time.perf_counter() < deadline:
        improved = False
        for pos in range(len(chosen)):
            rest = chosen[:pos] + chosen[pos + 1:]
            cur = p.cover_counts(rest)
            g = p.gains(cur)
            g[rest] = -1
            j = int(np.argmax(g))
            value = p.value(rest + [j])
            if value > best + 1e-9:
                chosen, best, improved = rest + [j], value, True
                break
    return chosen


def _lagrangian(p: _Problem, lb: float, deadline: float, iterations: int = 400,
                on_bound: Callable[[float], None] | None = None) -> tuple[float, np.ndarray]:
    """Best Lagrangian upper bound found, and the mask of candidates that cannot be in a better solution;
    `on_bound` hears each better bound."""
    m = p.A.shape[0]
    n = min(p.n, m)
    cap = p.w / p.need
    lam = cap.copy()
    At = p.A.T.tocsr()
    best = math.inf
    pruned = np.zeros(m, dtype=bool)
    theta, stall = 2.0, 0
    for _ in range(iterations):
        vals = p.A @ lam
        top = np.argpartition(-vals, n - 1)[:n] if n < m else np.arange(m)
        c0 = float(np.maximum(p.w - p.need * lam, 0).sum())
        value = c0 + float(vals[top].sum())
        vn = float(vals[top].min())
        ub_j = value - vn + vals
        ub_j[top] = value
        pruned |= ub_j < lb - 1e-6
        if value < best - 1e-9:
            best, stall = value, 0
            if on_bound is not None:
                on_bound(best)
        else:
            stall += 1
            if stall >= 15:
                theta, stall = theta / 2, 0
        if best - lb <= 1e-6 * max(best, 1.0) or time.perf_counter() > deadline or theta < 1e-4:
            break
        sel = np.zeros(m)
        sel[top] = 1.0
        grad = -p.need * (p.w - p.need * lam > 0) + At @ sel
        norm = float(grad @ grad)
        if norm == 0:
            break
        lam = np.clip(lam - theta * (value - lb) / norm * grad, 0, cap)
    return best, pruned


def _milp(p: _Problem, allowed: np.ndarray, start: list[int], time_limit: float) -> tuple[list[int], bool, float]:
    """CBC over the allowed candidates; returns (chosen, proven optimal, objective).

    Units reached by the same allowed candidates are merged again first (exact, as in `_merge`)."""
    q = _merge(_Problem(p.A[allowed].tocsr(), p.w, p.need, p.n))
    sub = q.A.tocsc()
    units = np.flatnonzero(sub.getnnz(axis=0) > 0)
    sub = sub[:, units]
    prob = pulp.LpProblem("mclp", pulp.LpMaximize)
    xs = [prob.add_variable(f"x{j}", 0, 1, cat="Binary") for j in range(len(allowed))]
    ys = [prob.add_variable(f"y{i}", 0, 1, cat="Binary" if q.need[u] > 1 else "Continuous")
          for i, u in enumerate(units)]
    prob += pulp.LpAffineExpression([(ys[i], float(q.w[u])) for i, u in enumerate(units)])
    prob += pulp.LpAffineExpression([(x, 1.0) for x in xs]) <= min(p.n, len(allowed)), "sites"
    for i, u in enumerate(units):
        js = sub.indices[sub.indptr[i]:sub.indptr[i + 1]]
        expr = pulp.LpAffineExpression([(xs[j], 1.0) for j in js] + [(ys[i], -float(q.need[u]))])
        prob.addConstraint(pulp.LpConstraint(expr, pulp.LpConstraintGE, rhs=0), name=f"c{i}")
    pos = {int(c): j for j, c in enumerate(allowed)}
    start_set = {pos[c] for c in start if c in pos}
    for j, x in enumerate(xs):
        x.setInitialValue(1 if j in start_set else 0)
    cur = q.cover_counts(sorted(start_set))
    for i, u in enumerate(units):
        ys[i].setInitialValue(1 if cur[u] >= q.need[u] else 0)
    with warnings.catch_warnings():  # PuLP 3 flags its bundled CBC for removal in PuLP 4; it is what we pin
        warnings.simplefilter("ignore", DeprecationWarning)
        solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=max(1, int(time_limit)), warmStart=True, threads=2)
        try:
            prob.solve(solver)
        except pulp.PulpSolverError:
            return [], False, 0.0
    if prob.sol_status not in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
        return [], False, 0.0
    chosen = [int(allowed[j]) for j, x in enumerate(xs) if (x.value() or 0) > 0.5]
    optimal = prob.sol_status == pulp.LpSolutionOptimal
    return chosen, optimal, float(pulp.value(prob.objective) or 0.0)


# -- the public entry ------------------------------------------------------------------------------

_SUGGESTIONS: LruCache[SitingResult] = LruCache(8)


def suggest(stations: Sequence[Station], n: int, reach_m: float, min_stations: int = 1,
            candidates: Any = None, demand: Demand | None = None, status: Any = "open",
            time_limit_s: float = TIME_LIMIT_S, crs: str = "wgs84",
            progress: Callable[[dict[str, Any]], None] | None = None) -> SitingResult:
    """n new sites maximising newly covered demand within `reach_m` of >= `min_stations` stations.

    `candidates`: None (a grid on land), a list of (lat, lon) / {'lat', 'lon', 'name'} in `crs`, a
    Candidates, or a file path (CSV/XLSX/GeoJSON/GPKG). Answers on the default grid are kept for the
    same registry and arguments: a solve stopped by the time limit is not repeatable, and the planner
    page and its downloads must show the same sites. `progress(doc)` hears the best plan so far (`Incumbent`).
    """
    if candidates is not None:
        return _suggest(stations, n, reach_m, min_stations, candidates, demand, status, time_limit_s, crs, progress)
    demand = demand or default_demand()
    key = (travel.check_reach_m(reach_m), check_min_stations(min_stations), check_n(n), demand.key, repr(status),
           float(time_limit_s), tuple((s.id, s.lat, s.lon, s.status) for s in stations))
    return _SUGGESTIONS.get_or_compute(key, lambda: _suggest(stations, n, reach_m, min_stations, None, demand,
                                                              status, time_limit_s, crs, progress))


class Incumbent:
    """Tells `progress` the best plan so far: its sites (WGS-84), value on the model solved, the best proven
    upper bound and the gap between them, the step under way. A listener that fails is dropped: the
    answer matters more than the news of it."""

    def __init__(self, listener: Callable[[dict[str, Any]], None] | None, cands: "Candidates", keep: np.ndarray,
                 t0: float):
        self.listener, self.cands, self.keep, self.t0 = listener, cands, keep, t0
        self.chosen: list[int] = []
        self.value, self.bound, self.stage, self.sent = 0.0, math.inf, "greedy", -math.inf

    def tell(self, stage: str | None = None, chosen: list[int] | None = None, value: float | None = None,
             bound: float | None = None) -> None:
        if chosen is not None:
            self.chosen, self.value = list(chosen), float(value or 0.0)
        if bound is not None:
            self.bound = min(self.bound, max(bound, self.value))
        now = time.perf_counter()
        if self.listener is None or (stage in (None, self.stage) and now - self.sent < PROGRESS_EVERY_S):
            return
        self.stage, self.sent = stage or self.stage, now
        try:
            self.listener(self.doc())
        except Exception:  # e.g. the job database locked for longer than its timeout
            self.listener = None

    def doc(self) -> dict[str, Any]:
        idx = [int(self.keep[j]) for j in self.chosen]
        gap = None
        if math.isfinite(self.bound) and self.bound > 0:
            gap = round(max(0.0, (self.bound - self.value) / self.bound), 6)
        return {"stage": self.stage, "stage_zh": STAGES_ZH[self.stage], "stage_en": STAGES_EN[self.stage],
                "sites": [{"lat": round(float(self.cands.lat[j]), 6), "lon": round(float(self.cands.lon[j]), 6)}
                          for j in idx],
                "value": round(self.value, 1), "upper_bound": round(self.bound, 1) if math.isfinite(self.bound) else None,
                "optimality_gap": gap, "seconds": round(time.perf_counter() - self.t0, 1)}


def _suggest(stations: Sequence[Station], n: int, reach_m: float, min_stations: int, candidates: Any,
             demand: Demand | None, status: Any, time_limit_s: float, crs: str,
             progress: Callable[[dict[str, Any]], None] | None = None) -> SitingResult:
    t0 = time.perf_counter()
    deadline = t0 + time_limit_s
    reach = travel.check_reach_m(reach_m)
    k = check_min_stations(min_stations)
    n = check_n(n)
    demand = demand or default_demand()
    if candidates is None:
        spacing = float(min(1000.0, max(250.0, round(reach / 2 / 50) * 50)))
        cands = candidate_grid(spacing)
    elif isinstance(candidates, Candidates):
        cands = candidates
    elif isinstance(candidates, (str, Path)):
        cands = load_candidates(candidates, crs)
    else:
        cands = candidate_list(candidates, crs)
    if cands.x.size > MAX_CANDIDATES:
        raise InvalidInput(f"{cands.x.size} candidates; at most {MAX_CANDIDATES}")
    base = coverage(stations, reach, k, demand, status=status)
    cell_m = demand_cell_m(reach, cands.x.size)
    p, keep = _build(cands, demand, base.counts, reach, k, n, cell_m)
    steps = [f"{cands.x.size} candidates, {keep.size} reach unmet demand; {p.w.size} demand units"
             + (f" (250 m demand summed into {cell_m:.0f} m cells)" if cell_m > 250 else "")]
    if keep.size == 0:
        return _result([], p, cands, keep, demand, base, stations, reach, k, n, "none: no unmet demand within reach of a candidate",
                       0.0, 0.0, cell_m, t0, steps, status)
    chosen = _swap(p, _greedy(p), deadline)
    lb = p.value(chosen)
    steps.append(f"greedy + 1-swap: {lb:,.0f}")
    news = Incumbent(progress, cands, keep, t0)
    method = "greedy + 1-swap local search"
    if keep.size <= n:
        ub, proven = lb, True
        steps.append("no more candidates than sites: all taken")
    else:
        news.tell("greedy", chosen, lb)
        # Two-station problems of city size are far beyond the MILP's reach: the bound gets the time.
        share = 0.85 if k >= 2 and p.A.nnz > 4 * MILP_MAX_NNZ else 0.4
        ub, pruned = _lagrangian(p, lb, t0 + time_limit_s * share, iterations=400 if share < 0.5 else 2000,
                                 on_bound=lambda b: news.tell("bound", bound=b))
        ub = max(ub, lb)
        proven = ub - lb <= 1e-6 * max(ub, 1.0)
        allowed = np.flatnonzero(~pruned)
        steps.append(f"Lagrangian bound {ub:,.0f}; {allowed.size} candidates can still improve")
        if not proven:
            nnz = int(p.A[allowed].nnz)
            remaining = deadline - time.perf_counter()
            if nnz <= MILP_MAX_NNZ and remaining > 1:
                news.tell("milp", bound=ub)
                got, optimal, obj = _milp(p, allowed, chosen, remaining)
                value = p.value(got) if got else 0.0
                if value >= lb:
                    chosen, lb = got, value
                if optimal:
                    ub, proven = lb, True
                if got:
                    method = "MILP (CBC) over candidates not ruled out by the Lagrangian bound"
                steps.append(f"CBC on {allowed.size} candidates / {nnz} nonzeros: "
                             + (f"{value:,.0f}" + (", proven optimal" if optimal else ", stopped at the time limit")
                                if got else "no solution within the time limit; greedy kept"))
            else:
                steps.append(f"MILP skipped ({nnz} nonzeros, {remaining:.1f} s left)")
        if proven and method.startswith("greedy"):
            method += " (proven optimal by the Lagrangian bound)"
        elif not proven and k >= 2:
            method += f"; {BOUND_NOTE_2}"
    gap = 0.0 if proven or ub <= 0 else max(0.0, (ub - lb) / ub)
    return _result(chosen, p, cands, keep, demand, base, stations, reach, k, n, method, gap, ub if not proven else lb,
                   cell_m, t0, steps, status)


def _result(chosen, p, cands: Candidates, keep, demand: Demand, base, stations, reach, k, n, method, gap, ub,
            cell_m, t0, steps, status) -> SitingResult:
    layers = metric_layers()
    idx = [int(keep[j]) for j in chosen]
    # Exact gains on the full demand layer, sites ordered greedily by their marginal gain.
    x, y = cands.x[idx], cands.y[idx]
    radius = reach * scale_factor(cands.lon[idx], cands.lat[idx])
    counts0 = base.counts
    order: list[int] = []
    gains: list[float] = []
    cur = counts0.copy()
    per_site = [reach_counts(demand, x[i:i + 1], y[i:i + 1], radius[i:i + 1]) for i in range(len(idx))]
    remaining = list(range(len(idx)))
    while remaining:
        g = [float(demand.weight[(cur < k) & (cur + per_site[i] >= k)].sum()) for i in remaining]
        best = int(np.argmax(g))
        i = remaining.pop(best)
        order.append(i)
        gains.append(g[best])
        cur = cur + per_site[i]
    district, township = assign_units(x, y) if idx else (np.array([]), np.array([]))
    sites = []
    for i, gain in zip(order, gains):
        j = idx[i]
        sites.append(Site(float(cands.lat[j]), float(cands.lon[j]), str(district[i]), layers.district_names.get(str(district[i]), ""),
                          str(township[i]), layers.township_names.get(str(township[i]), ""), gain, cands.names[j]))
    total = float(sum(gains))
    before = base.city["covered_population"]
    model_total = p.value(chosen) if len(chosen) else 0.0
    return SitingResult(sites, total, method, gap, ub, model_total, reach, k, n, int(cands.x.size), cands.spacing_m,
                        cell_m, before, before + total, demand.modelled, demand.label,
                        time.perf_counter() - t0, steps)
