"""Pareto frontier of learning vs forgetting (Biderman et al. 2024, "LoRA Learns Less and Forgets Less")."""
from __future__ import annotations


def pareto_frontier(points: list[tuple[float, float]], maximize_y: bool = True) -> list[int]:
    """Indices of points not dominated by any other, sorted by x. x is minimised (forgetting);
    y is maximised (task metric) unless maximize_y is False. A point dominates another when it is at
    least as good on both axes and strictly better on one."""
    def better_or_equal(a, b):
        return a[0] <= b[0] and (a[1] >= b[1] if maximize_y else a[1] <= b[1])

    front = []
    for i, p in enumerate(points):
        if not any(j != i and better_or_equal(q, p) and q != p for j, q in enumerate(points)):
            front.append(i)
    # identical points: keep the first of each
    seen, unique = set(), []
    for i in front:
        if points[i] not in seen:
            seen.add(points[i])
            unique.append(i)
    return sorted(unique, key=lambda i: points[i][0])


def dominated(points: list[tuple[float, float]], maximize_y: bool = True) -> dict[int, list[int]]:
    """For each point off the frontier, the frontier points that dominate it."""
    front = pareto_frontier(points, maximize_y)

    def dominates(a, b):
        ok = a[0] <= b[0] and (a[1] >= b[1] if maximize_y else a[1] <= b[1])
        return ok and a != b

    return {i: [j for j in front if dominates(points[j], points[i])]
            for i in range(len(points)) if i not in front}
