"""What a simulation measured: the figures of docs/trust.md.

* block precision — of all (honest agent, IP) blocks ever made, the share on
  real attackers; canary blocks — honest blocks of canary IPs;
* block recall — of (exposed honest agent, campaign) pairs for campaigns seen
  by >= 3 honest agents, the share where the agent blocked the attacker by the
  campaign's end (start + spread, plus the detector delay); network
  recall — the same over all honest agents (proactive blocks);
* time to block — per exposed honest agent, block time minus the campaign's
  first honest detection (p50/p90/p99; never-blocked counts as infinite), and
  `within_10s`, the share of those agents blocked no later than 10 s after it;
  `within_10s_bound`, the share any rule needing `min_reporters` (3) independent
  honest detections could reach: an agent's own detection within 10 s, or the
  campaign's 3rd honest detection within 10 s (message latency and trust ignored)
  — a slow campaign (a brute-forcer touching a few hosts over 15 min) cannot be
  blocked within 10 s by anyone who waits for a second opinion;
  `by_campaign_kind` breaks recall and time to block down per campaign kind;
* time to lift a false block; reputation separation (ROC AUC of honest vs
  malicious identities in honest agents' books); traitor detection delay;
  messages per IoC per agent; and Fides' `tdp`-style figure: the share of
  honest agents' decisions about campaign IPs that were correct.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from trust.aggregate import AggregationParams

if TYPE_CHECKING:
    from simnet.sim import Simulation

__all__ = ["auc", "compute", "percentile"]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    v = sorted(values)
    k = (len(v) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    if math.isinf(v[hi]) or math.isinf(v[lo]):
        return v[hi] if k - lo > 0 else v[lo]
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def auc(pos: list[float], neg: list[float]) -> float:
    """P(random honest score > random malicious score), ties counted half."""
    if not pos or not neg:
        return math.nan
    ranked = sorted([(x, 1) for x in pos] + [(x, 0) for x in neg])
    rank_sum = 0.0
    i = 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        avg = (i + 1 + j) / 2
        rank_sum += avg * sum(1 for k in range(i, j) if ranked[k][1] == 1)
        i = j
    return (rank_sum - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def _r(x: float, n: int = 4) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(x, n)


def compute(sim: Simulation) -> dict[str, Any]:
    honest = [a for a in sim.agents if a.honest]
    blocks = sim.block_log
    true_blocks = sum(1 for *_, mal in blocks if mal)
    canary = set(sim.canaries)
    # Canary blocks that peers caused; an honest agent's own false positive on a
    # canary is the detector's error (counted in local_false_positive_blocks).
    canary_blocks = sum(1 for _, _, ip, via, _ in blocks if ip in canary and via == "peers")
    local_fp = sum(1 for _, _, ip, via, mal in blocks if via == "local" and not mal)
    first_block: dict[tuple[int, str], float] = {}
    local_block: dict[tuple[int, str], float] = {}
    for t, i, ip, via, _ in blocks:
        first_block.setdefault((i, ip), t)
        if via == "local":
            local_block.setdefault((i, ip), t)
    k = AggregationParams().min_reporters
    bound: list[bool] = []
    hit = total = 0
    ttb: list[float] = []
    net_hit = net_total = 0
    correct = decisions = 0
    by_kind: dict[str, tuple[list[float], list[float]]] = {}
    for camp in sim.campaigns:
        if camp.start < sim.s.warmup:
            continue
        # Exposures too late for the detector to act before the run ends are not counted.
        horizon = sim.s.duration - sim.s.detector.delay
        exposed = [i for i, t in camp.exposures.items() if sim.agents[i].honest and t <= horizon]
        if len(exposed) < 3 or camp.first_detection is None:
            continue
        end = camp.end + sim.s.detector.delay
        kind_hits = by_kind.setdefault(camp.kind, ([], []))
        first = camp.first_detection
        detections = sorted(camp.detections)
        kth_soon = len(detections) >= k and detections[k - 1] - first <= 10.0
        for i in exposed:
            own = local_block.get((i, camp.ip))
            bound.append(kth_soon or (own is not None and own - first <= 10.0))
            total += 1
            t = first_block.get((i, camp.ip))
            ok = t is not None and t <= end
            hit += ok
            delay = t - camp.first_detection if t is not None else math.inf
            ttb.append(delay)
            kind_hits[0].append(float(ok))
            kind_hits[1].append(delay)
        for a in honest:
            net_total += 1
            net_hit += (a.index, camp.ip) in first_block
    for a in honest:
        for ip in a.blocked:
            decisions += 1
            correct += ip not in sim.benign_set
    observers = sim._observers()
    pos, neg = [], []
    for o in observers:
        for pid, kind in sim.identity_kind.items():
            if pid == o.identity.peer_id:
                continue
            (pos if kind == "honest" else neg).append(o.model.reputation(pid, sim.now))
    liars = [pid for pid, k in sim.identity_kind.items() if k in ("liar", "colluder", "slanderer")]
    liar_rep = (
        sum(o.model.reputation(p, sim.now) for o in observers for p in liars)
        / (len(observers) * len(liars))
        if liars and observers
        else math.nan
    )
    n = len(sim.agents)
    return {
        "model": sim.s.model,
        "agents": n,
        "seed": sim.s.seed,
        "block_precision": _r(true_blocks / len(blocks)) if blocks else None,
        "block_recall": _r(hit / total) if total else None,
        "network_recall": _r(net_hit / net_total) if net_total else None,
        "canary_blocks": canary_blocks,
        "false_blocks": len(blocks) - true_blocks,
        "local_false_positive_blocks": local_fp,
        "time_to_block_p50": _r(percentile(ttb, 0.5), 3),
        "time_to_block_p90": _r(percentile(ttb, 0.9), 3),
        "time_to_block_p99": _r(percentile(ttb, 0.99), 3),
        "within_10s": _r(sum(d <= 10.0 for d in ttb) / len(ttb)) if ttb else None,
        "within_10s_bound": _r(sum(bound) / len(bound)) if bound else None,
        "time_to_lift_false_block_p50": _r(percentile(sim.lifts, 0.5), 3),
        "reputation_auc": _r(auc(pos, neg)),
        "liar_reputation": _r(liar_rep),
        "traitor_detection_delay": (
            _r(sim.traitor_detected_at - sim.traitor_switch, 1) if sim.traitor_detected_at else None
        ),
        "messages_per_ioc": _r(sim.deliveries / max(sim.published_iocs, 1) / n, 3),
        "tdp": _r(correct / decisions) if decisions else None,
        "by_campaign_kind": {
            kind: {
                "pairs": len(oks),
                "block_recall": _r(sum(oks) / len(oks)),
                "time_to_block_p90": _r(percentile(delays, 0.9), 3),
                "within_10s": _r(sum(d <= 10.0 for d in delays) / len(delays)),
            }
            for kind, (oks, delays) in sorted(by_kind.items())
            if oks
        },
        "iocs_published": sim.published_iocs,
        "deliveries": sim.deliveries,
        "disputes": sim.disputes,
    }
