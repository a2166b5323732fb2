"""A simulated system under test: journals and client records from a policy and a fault profile.

Used by the oracle's tests (correct and deliberately defective SUTs) and by ``bench/``. The
simulator is vectorised by attempt round: all requests making their k-th attempt are drawn at
once with a seeded numpy ``Generator``. Budgeted policies need global time order, so they run
through a small event loop that reuses the same per-attempt draws.

Model of one request: the first attempt arrives at a Poisson time; each attempt gets a fault
from the profile (``fail_first_n`` and outages first, then reset / hang / status / success by one
uniform draw, a status from the mix, Retry-After on 429/503 when the profile sets it, latency
from the profile). A correct SUT then decides as the policy says (retry-on, methods, retries
left, deadline with or without precheck, budget) and waits the delay drawn from the jitter model
(or the honoured Retry-After), plus a measurement noise in [0, noise_s) for its own hops.
Each :class:`Defect` breaks exactly one rule.

Chaos: with ``kills`` the SUT spreads attempt k of request i over ``n_replicas`` replicas round
robin ((i + k) mod n, like nginx's next upstream), and an attempt sent to a replica while it is
killed fails to connect at once and reaches no journal (the SUT then decides as its policy says
for connect failures; a request that ends on one is answered 502). ``SimRun.down_windows`` holds
the windows as the run layer records them.

Upstream peers: with ``peers`` the SUT reaches only the first ``peers`` of ``n_replicas``
replicas, spreads attempts over them the same way, and (like nginx's next upstream) stops once
every one was tried in the request; ``peers=1`` is nginx proxying to one server of a larger run.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt
import orjson

from fake_backends.profile import RETRY_AFTER_STATUSES, FaultProfile, Faults
from harness.oracle.journal import NO_STATUS, AttemptTable, ClientTable, fault_code
from harness.oracle.records import DownWindow, FaultKind
from harness.policy.expectations import (
    Trigger,
    is_retryable_method,
    is_retryable_status,
    nominal_delay,
)
from harness.policy.jitter_laws import law_of
from harness.policy.model import RetryPolicy

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


class Defect(StrEnum):
    NONE = "none"
    EXTRA_RETRY = "extra_retry"
    TOO_FEW = "too_few"
    RETRY_NON_RETRYABLE_STATUS = "retry_non_retryable_status"
    RETRY_POST = "retry_post"
    NO_BACKOFF = "no_backoff"
    HALF_BACKOFF = "half_backoff"
    NO_CAP = "no_cap"
    NO_JITTER = "no_jitter"
    LINEAR = "linear"
    IGNORE_DEADLINE = "ignore_deadline"
    IGNORE_RETRY_AFTER = "ignore_retry_after"
    IGNORE_BUDGET = "ignore_budget"
    DUPLICATE_AFTER_SUCCESS = "duplicate_after_success"


@dataclass(frozen=True)
class Traffic:
    """The logical requests the simulated clients send."""

    n_requests: int
    rate_per_s: float = 200.0
    methods: dict[str, float] = field(default_factory=lambda: {"GET": 1.0})
    path: str = "/api/items"
    idempotency_share: float = 0.0
    start_s: float = 1_800_000_000.0


@dataclass(frozen=True)
class Kill:
    """Replica ``replica`` is killed from ``start_s`` to ``end_s`` (seconds after the traffic's
    start; ``None``: for good)."""

    replica: int
    start_s: float
    end_s: float | None = None


CONNECT_REFUSED_S = 0.0002  # how long a refused connect takes the SUT
_DEAD = 6  # internal fault index: sent to a killed replica (never journaled)


@dataclass(frozen=True)
class SimRun:
    attempts: AttemptTable
    clients: ClientTable
    retry_after_text: tuple[str | None, ...]  # per attempt: the header as sent
    down_windows: tuple[DownWindow, ...] = ()
    unjournaled: int = 0  # attempts sent to a killed replica
    gave_up: int = 0  # requests stopped on a retryable failure (no retry left, deadline, budget)


_KINDS = (
    FaultKind.NONE,
    FaultKind.STATUS,
    FaultKind.RESET,
    FaultKind.HANG,
    FaultKind.FIRST_N,
    FaultKind.OUTAGE,
)


@dataclass
class _Group:
    method: str
    idem: bool
    faults: Faults
    status_values: I64
    status_cum: F64
    ra_s: float | None  # profile's Retry-After in seconds (only delta-seconds supported here)


class _Sim:
    def __init__(
        self,
        policy: RetryPolicy,
        profile: FaultProfile,
        traffic: Traffic,
        seed: int,
        defect: Defect,
        noise_s: float,
        kills: Sequence[Kill] = (),
        n_replicas: int = 2,
        peers: int | None = None,
    ) -> None:
        self.kills = tuple(kills)
        self.peers = peers
        # per request: it ended on a failure the policy retries, stopped by the retries left,
        # the deadline or the budget (a SUT may answer those with its own give-up status)
        self.gave_up = np.zeros(traffic.n_requests, bool)
        self.n_replicas = n_replicas
        self.p = policy
        self.prof = profile
        self.tr = traffic
        self.rng = np.random.default_rng(seed)
        self.defect = defect
        self.noise = noise_s
        self.max_retries = policy.max_retries + (
            1 if defect is Defect.EXTRA_RETRY else -1 if defect is Defect.TOO_FEW else 0
        )
        n = traffic.n_requests
        rng = self.rng
        names = list(traffic.methods)
        w = np.array([traffic.methods[m] for m in names], float)
        self.method_names = names
        self.method = rng.choice(len(names), size=n, p=w / w.sum())
        self.idem = rng.random(n) < traffic.idempotency_share
        self.first = traffic.start_s + np.cumsum(rng.exponential(1 / traffic.rate_per_s, n))
        self.groups: list[_Group] = []
        gid = np.empty(n, np.int64)
        for m_idx, m in enumerate(names):
            for idem in (False, True):
                sel = (self.method == m_idx) & (self.idem == idem)
                _, faults = profile.faults_for(m, traffic.path)
                statuses = np.array(sorted(faults.failure_status), np.int64)
                cum = np.cumsum([faults.failure_status[int(s)] for s in statuses])
                ra = None
                if faults.retry_after is not None:
                    try:
                        ra = float(faults.retry_after)
                    except ValueError:
                        ra = None
                gid[sel] = len(self.groups)
                self.groups.append(_Group(m, idem, faults, statuses, cum, ra))
        self.gid = gid

    # ---- one attempt for many requests -----------------------------------------------------
    def attempt(self, idx: I64, k: int, arrival: F64) -> dict[str, np.ndarray]:
        """Draws the outcome of attempt ``k`` of requests ``idx`` arriving at ``arrival``."""
        rng = self.rng
        n = idx.size
        fault = np.zeros(n, np.int64)  # index into _KINDS
        status = np.full(n, 200, np.int64)
        latency = np.zeros(n)
        ra = np.full(n, np.nan)
        u = rng.random(n)
        u2 = rng.random(n)
        u3 = rng.random(n)
        z = rng.standard_normal(n)
        for g_idx, g in enumerate(self.groups):
            sel = self.gid[idx] == g_idx
            if not sel.any():
                continue
            f = g.faults
            lat = f.latency
            if lat.kind == "fixed":
                latency[sel] = lat.ms / 1e3
            elif lat.kind == "uniform":
                latency[sel] = (lat.min_ms + (lat.max_ms - lat.min_ms) * u3[sel]) / 1e3
            elif lat.kind == "lognormal":
                latency[sel] = lat.median_ms * np.exp(lat.sigma * z[sel]) / 1e3
            gu = u[sel]
            gf = np.zeros(gu.size, np.int64)
            gs = np.full(gu.size, 200, np.int64)
            reset = gu < f.reset_rate
            hang = ~reset & (gu < f.reset_rate + f.hang_rate)
            fail = ~reset & ~hang & (gu < f.reset_rate + f.hang_rate + f.failure_rate)
            gf[reset], gf[hang], gf[fail] = 2, 3, 1
            gs[reset | hang] = NO_STATUS
            pick = np.searchsorted(g.status_cum, u2[sel] * g.status_cum[-1], side="right")
            gs[fail] = g.status_values[np.minimum(pick[fail], g.status_values.size - 1)]
            if k < f.fail_first_n:
                gf[:] = 4
                gs[:] = f.fail_first_n_status
            if f.outage is not None:
                o = f.outage
                phase = np.mod(arrival[sel] - o.offset_s, o.period_s)
                out = phase < o.duration_s
                gf[out] = 5
                gs[out] = o.status
            fault[sel], status[sel] = gf, gs
            if g.ra_s is not None:
                has = np.isin(gs, list(RETRY_AFTER_STATUSES))
                gra = np.full(gs.size, np.nan)
                gra[has] = g.ra_s
                ra[sel] = gra
        end = arrival + latency
        hang = fault == 3
        gone = np.zeros(n, bool)
        if hang.any():
            bound = np.array([self.groups[g].faults.hang_s for g in self.gid[idx[hang]]])
            ptt = self.p.per_try_timeout_s
            held = (
                bound
                if ptt is None
                else np.minimum(bound, ptt + self.noise * rng.random(bound.size))
            )
            if self.p.deadline_s is not None and self.defect is not Defect.IGNORE_DEADLINE:
                held = np.minimum(held, self.first[idx[hang]] + self.p.deadline_s - arrival[hang])
                held = np.maximum(held, 0.0)
            gone[hang] = held < bound
            end[hang] = arrival[hang] + held
        if not self.kills and self.peers is None:
            replica = idx % 2
        else:
            replica = (idx + k) % (self.peers or self.n_replicas)
        if self.kills:
            dead = np.zeros(n, bool)
            for kl in self.kills:
                t0 = self.tr.start_s + kl.start_s
                t1 = math.inf if kl.end_s is None else self.tr.start_s + kl.end_s
                dead |= (replica == kl.replica) & (arrival >= t0) & (arrival < t1)
            fault[dead], status[dead] = _DEAD, NO_STATUS
            end[dead] = arrival[dead] + CONNECT_REFUSED_S
            ra[dead], gone[dead] = np.nan, False
        return {
            "fault": fault,
            "status": status,
            "end": end,
            "ra": ra,
            "gone": gone,
            "replica": replica,
        }

    # ---- decisions -------------------------------------------------------------------------
    def _method_ok(self, idx: I64, trigger: Trigger) -> B:
        if self.defect is Defect.RETRY_POST:
            return np.ones(idx.size, bool)
        table = np.array(
            [
                is_retryable_method(self.p, g.method, has_idempotency_key=g.idem, trigger=trigger)
                for g in self.groups
            ]
        )
        return np.asarray(table[self.gid[idx]])

    def wants_retry(self, idx: I64, out: dict[str, np.ndarray]) -> B:
        """The policy's retry-on and method rules (retries left and time are checked apart)."""
        status, fault = out["status"], out["fault"]
        has_ra = ~np.isnan(out["ra"])
        res = np.zeros(idx.size, bool)
        st = status != NO_STATUS
        fail = st & (status >= 400)
        if fail.any():
            keys = sorted(
                {(int(s), bool(h)) for s, h in zip(status[fail], has_ra[fail], strict=True)}
            )
            if self.defect is Defect.RETRY_NON_RETRYABLE_STATUS:
                ok = {key: True for key in keys}
            else:
                ok = {
                    key: is_retryable_status(self.p, key[0], has_retry_after=key[1]) for key in keys
                }
            res[fail] = [
                ok[(int(s), bool(h))] for s, h in zip(status[fail], has_ra[fail], strict=True)
            ]
            res &= ~fail | self._method_ok(idx, "status")
        reset = fault == 2
        if reset.any() and (
            self.p.retry_on.reset or self.defect is Defect.RETRY_NON_RETRYABLE_STATUS
        ):
            res[reset] = self._method_ok(idx, "reset")[reset]
        hang = fault == 3
        if hang.any() and self.p.per_try_timeout_s is not None and self.p.retry_on.per_try_timeout:
            res[hang] = self._method_ok(idx, "timeout")[hang]
        dead = fault == _DEAD
        if dead.any():
            res[dead] = self.p.retry_on.connect_failure & self._method_ok(idx, "connect")[dead]
        return res

    def nominal(self, j: int) -> float:
        p = self.p
        b = p.backoff
        if self.defect is Defect.LINEAR:
            if j == 1 and not b.first_retry_waits:
                return 0.0
            d = b.base_s * j
            return d if b.cap_s is None else min(d, b.cap_s)
        if self.defect is Defect.NO_CAP:
            return nominal_delay(
                p.model_copy(update={"backoff": b.model_copy(update={"cap_s": None})}), j
            )
        return nominal_delay(p, j)

    def delay(self, j: int, n: int, prev: F64, ra: F64, status: I64) -> F64:
        """Delays before retry ``j`` for ``n`` requests (jitter, Retry-After, defects)."""
        b = self.p.backoff
        d = self.nominal(j)
        u = self.rng.random(n)
        immediate = j == 1 and not b.first_retry_waits
        if immediate:
            out = np.zeros(n)
        elif self.defect is Defect.NO_JITTER:
            out = np.full(n, d)
        else:
            out = law_of(b).sample(b, d, u, prev)
        if self.defect is Defect.NO_BACKOFF:
            out = np.zeros(n)
        elif self.defect is Defect.HALF_BACKOFF:
            out = out / 2
        rule = self.p.retry_after
        if rule.honoured and self.defect is not Defect.IGNORE_RETRY_AFTER:
            applies = ~np.isnan(ra) & np.isin(status, list(rule.statuses))
            if applies.any():
                v = np.maximum(ra[applies], 0.0)
                if rule.max_s is not None:
                    v = np.minimum(v, rule.max_s)
                if rule.replaces_backoff:
                    out[applies] = np.where(v > 0, v, out[applies])
                else:
                    out[applies] = np.maximum(out[applies], v)
        return np.asarray(out, np.float64)

    def deadline_stops(self, idx: I64, j: int, end: F64, delay: F64) -> B:
        p = self.p
        if p.deadline_s is None or self.defect is Defect.IGNORE_DEADLINE:
            return np.zeros(idx.size, bool)
        limit = self.first[idx] + p.deadline_s
        if p.deadline_precheck:
            return np.asarray(end + self.nominal(j) > limit)
        return np.asarray(end + delay >= limit)


def _rows() -> dict[str, list[np.ndarray]]:
    keys = ("trace", "k", "arrival", "end", "fault", "status", "ra", "gone", "replica")
    return {k: [] for k in keys}


def simulate(
    policy: RetryPolicy,
    profile: FaultProfile,
    traffic: Traffic,
    *,
    seed: int,
    defect: Defect = Defect.NONE,
    noise_s: float = 0.0005,
    duplicate_share: float = 0.2,
    kills: Sequence[Kill] = (),
    n_replicas: int = 3,
    give_up_status: int | None = None,
    peers: int | None = None,
) -> SimRun:
    """Simulates ``traffic`` through a SUT following ``policy`` (or breaking it by ``defect``).

    ``kills``, ``n_replicas`` (used only with kills or peers) and ``peers``: see the module
    docstring.
    ``give_up_status``: the SUT answers a request with this status of its own when it stopped
    on a failure its policy retries (no retry left, deadline, budget), like urllib3's
    MaxRetryError under raise_on_status (answered 502); ``None`` relays the last answer.
    """
    if peers is not None and not 1 <= peers <= n_replicas:
        raise ValueError(f"peers must be in [1, n_replicas={n_replicas}] (got {peers})")
    sim = _Sim(policy, profile, traffic, seed, defect, noise_s, kills, n_replicas, peers)
    if policy.budget is not None and defect is not Defect.IGNORE_BUDGET:
        rows = _run_events(sim)
    else:
        rows = _run_rounds(sim, duplicate_share)
    return _assemble(sim, rows, give_up_status)


def _append(
    rows: dict[str, list[np.ndarray]], idx: I64, k: int, arr: F64, out: dict[str, np.ndarray]
) -> None:
    rows["trace"].append(idx)
    rows["k"].append(np.full(idx.size, k))
    rows["arrival"].append(arr)
    for key in ("end", "fault", "status", "ra", "gone", "replica"):
        rows[key].append(out[key])


def _run_rounds(sim: _Sim, duplicate_share: float) -> dict[str, list[np.ndarray]]:
    rows = _rows()
    n = sim.tr.n_requests
    idx = np.arange(n)
    arrival = sim.first.copy()
    prev_delay = np.full(n, sim.p.backoff.base_s)
    k = 0
    while idx.size:
        out = sim.attempt(idx, k, arrival)
        _append(rows, idx, k, arrival, out)
        if sim.defect is Defect.DUPLICATE_AFTER_SUCCESS:
            ok = (out["status"] >= 200) & (out["status"] < 400)
            dup = ok & (sim.rng.random(idx.size) < duplicate_share)
            if dup.any():
                d_idx = idx[dup]
                d_arr = out["end"][dup] + sim.noise * sim.rng.random(d_idx.size)
                d_out = sim.attempt(d_idx, k + 1, d_arr)
                _append(rows, d_idx, k + 1, d_arr, d_out)
        want = sim.wants_retry(idx, out)
        go = want & (k < sim.max_retries)
        j = k + 1
        delay = sim.delay(j, idx.size, prev_delay[idx], out["ra"], out["status"])
        go &= ~sim.deadline_stops(idx, j, out["end"], delay)
        sim.gave_up[idx[want & ~go]] = True
        if sim.peers is not None:
            go &= j < sim.peers  # every reachable peer tried: nginx relays the last answer
        if not go.any():
            break
        prev_delay[idx[go]] = delay[go]
        arrival = out["end"][go] + delay[go] + sim.noise * sim.rng.random(int(go.sum()))
        idx = idx[go]
        k = j
    return rows


def _run_events(sim: _Sim) -> dict[str, list[np.ndarray]]:
    """Event loop for budgeted policies: retries are admitted in global arrival order."""
    budget = sim.p.budget
    assert budget is not None
    rows = _rows()
    window = budget.window_s
    first_sorted = np.sort(sim.first)
    admitted: deque[float] = deque()
    heap: list[tuple[float, int, int, float]] = [
        (float(t), i, 0, sim.p.backoff.base_s) for i, t in enumerate(sim.first)
    ]
    heapq.heapify(heap)
    while heap:
        arrival, i, k, prev = heapq.heappop(heap)
        idx = np.array([i])
        if k > 0:
            while admitted and admitted[0] <= arrival - window:
                admitted.popleft()
            requests = int(
                np.searchsorted(first_sorted, arrival, "right")
                - np.searchsorted(first_sorted, arrival - window, "right")
            )
            ratio = budget.ratio or 0.0
            allowed = max(ratio * requests, budget.min_per_s * window)
            if budget.ratio is None and budget.min_per_s == 0:
                allowed = math.inf
            if len(admitted) + 1 > allowed:
                sim.gave_up[i] = True
                continue  # refused: the request ends with its previous answer
            admitted.append(arrival)
        arr = np.array([arrival])
        out = sim.attempt(idx, k, arr)
        _append(rows, idx, k, arr, out)
        j = k + 1
        if not sim.wants_retry(idx, out)[0]:
            continue
        if k >= sim.max_retries:
            sim.gave_up[i] = True
            continue
        if sim.peers is not None and j >= sim.peers:
            continue
        delay = sim.delay(j, 1, np.array([prev]), out["ra"], out["status"])
        if sim.deadline_stops(idx, j, out["end"], delay)[0]:
            sim.gave_up[i] = True
            continue
        nxt = float(out["end"][0] + delay[0] + sim.noise * sim.rng.random())
        heapq.heappush(heap, (nxt, i, j, float(delay[0])))
    return rows


def to_us(x: F64) -> I64:
    """Seconds to integer microseconds."""
    return np.asarray(np.round(x * 1e6), np.int64)


def _assemble(
    sim: _Sim, rows: dict[str, list[np.ndarray]], give_up_status: int | None = None
) -> SimRun:
    cat = {k: np.concatenate(v) for k, v in rows.items()}
    trace = cat["trace"].astype(np.int64)
    n = sim.tr.n_requests
    kinds = np.array([fault_code(k) for k in _KINDS], np.int32)
    methods = tuple(sim.method_names)
    request_ids = tuple(f"req-{i:07d}" for i in range(n))
    # attempts sent to a killed replica reach no journal
    kept = np.flatnonzero(cat["fault"] != _DEAD)
    k_trace = trace[kept]
    used = np.unique(k_trace)  # request ids with at least one journaled attempt
    ra = cat["ra"][kept]
    ra_text = tuple(None if math.isnan(v) else f"{v:g}" for v in ra)
    replicas = (
        tuple(f"r{j}" for j in range(sim.n_replicas))
        if sim.kills or sim.peers is not None
        else ("replica-0", "replica-1")
    )
    attempts = AttemptTable(
        rid=np.searchsorted(used, k_trace).astype(np.int32),
        method=sim.method[k_trace].astype(np.int32),
        path=np.zeros(k_trace.size, np.int32),
        status=cat["status"][kept].astype(np.int32),
        fault=kinds[cat["fault"][kept]],
        arrival_us=to_us(cat["arrival"][kept]),
        end_us=to_us(cat["end"][kept]),
        replica=cat["replica"][kept].astype(np.int32),
        retry_after_s=ra,
        idem=sim.idem[k_trace],
        attempt=cat["k"][kept].astype(np.int32),
        client_gone=cat["gone"][kept],
        request_ids=tuple(request_ids[int(i)] for i in used),
        methods=methods,
        paths=(sim.tr.path,),
        replicas=replicas,
    )
    # client view: the answer of the last attempt (by arrival) of each request
    order = np.lexsort((cat["arrival"], trace))
    last = order[np.flatnonzero(np.append(trace[order][1:] != trace[order][:-1], True))]
    status = cat["status"][last].astype(np.int32)
    status = np.where(status == NO_STATUS, np.where(cat["fault"][last] == 3, 504, 502), status)
    if give_up_status is not None:
        status = np.where(sim.gave_up[trace[last]], give_up_status, status)
    rng = sim.rng
    clients = ClientTable(
        request_ids=request_ids,
        method=sim.method.astype(np.int32),
        methods=methods,
        status=status.astype(np.int32),
        error=(None,) * n,
        start_us=to_us(sim.first - sim.noise * rng.random(n)),
        end_us=to_us(cat["end"][last] + sim.noise * rng.random(n)),
        idem=sim.idem,
    )
    if sim.defect is Defect.DUPLICATE_AFTER_SUCCESS:
        # the client got the first success, not the duplicate's answer
        first_ok = np.full(n, np.inf)
        ok = (cat["status"] >= 200) & (cat["status"] < 400)
        np.minimum.at(first_ok, trace[ok], cat["end"][ok])
        has = np.isfinite(first_ok)
        end_us = clients.end_us.copy()
        end_us[has] = to_us(first_ok[has])
        clients = ClientTable(**{**clients.__dict__, "end_us": end_us})
    windows = tuple(
        DownWindow(
            replica=replicas[kl.replica],
            kind="kill",
            start_us=int(to_us(np.array([sim.tr.start_s + kl.start_s]))[0]),
            end_us=None
            if kl.end_s is None
            else int(to_us(np.array([sim.tr.start_s + kl.end_s]))[0]),
        )
        for kl in sim.kills
    )
    return SimRun(
        attempts,
        clients,
        ra_text,
        windows,
        int(trace.size - kept.size),
        int(sim.gave_up.sum()),
    )


def journal_lines(run: SimRun) -> Iterator[bytes]:
    """The attempts as journal NDJSON lines (``AttemptRecord`` keys), in arrival order."""
    a = run.attempts
    from harness.oracle.journal import FAULT_KINDS

    order = np.argsort(a.arrival_us, kind="stable")
    for i in order:
        s = int(a.status[i])
        yield orjson.dumps(
            {
                "v": 1,
                "request_id": a.request_ids[a.rid[i]],
                "method": a.methods[a.method[i]],
                "path": a.paths[a.path[i]],
                "replica": a.replicas[a.replica[i]],
                "worker": 1000 + int(a.replica[i]),
                "attempt": int(a.attempt[i]),
                "arrival_us": int(a.arrival_us[i]),
                "end_us": int(a.end_us[i]),
                "status": None if s == NO_STATUS else s,
                "fault": str(FAULT_KINDS[a.fault[i]]),
                "retry_after": run.retry_after_text[i],
                "client_gone": bool(a.client_gone[i]),
                "idempotency_key": f"k-{a.request_ids[a.rid[i]]}" if a.idem[i] else None,
            }
        )


def client_lines(run: SimRun) -> Iterator[bytes]:
    """The client records as NDJSON lines (``ClientRecord`` keys)."""
    c = run.clients
    for i, rid in enumerate(c.request_ids):
        s = int(c.status[i])
        yield orjson.dumps(
            {
                "request_id": rid,
                "method": c.methods[c.method[i]],
                "path": run.attempts.paths[0],
                "status": None if s == NO_STATUS else s,
                "error": c.error[i],
                "start_us": int(c.start_us[i]),
                "end_us": int(c.end_us[i]),
                "idempotency_key": f"k-{rid}" if c.idem[i] else None,
            }
        )
