"""The workflow card's graph laid out for a server-rendered SVG in the card's six lanes.

Block steps are *real* (a block type runs them); the trigger, post actions and verify checks
are *declared* (the runner performs them from the workflow's spec). Success edges are solid,
``on_error`` edges dashed. The template only draws what :func:`layout` computes; every label
goes through Jinja2's autoescape.
"""

from __future__ import annotations

import itertools
from typing import Any

from orchestrator_blocks.app.explain import LANES

__all__ = ["layout"]

# Six lanes of 180 px fit the console's 1,100 px content box (a 1,280 px window); the SVG
# scales down below that instead of being cut off.
LANE_W, NODE_W, NODE_H, GAP_Y, TOP = 180, 150, 48, 26, 60
LABEL_CHARS, SUB_CHARS = 18, 22  # what fits a node's width at its font sizes


def _node(node_id: str, label: str, sub: str, lane: str, kind: str) -> dict[str, Any]:
    return {"id": node_id, "label": label, "sub": sub, "lane": lane, "kind": kind}


def layout(data: dict[str, Any]) -> dict[str, Any]:
    """Nodes with x/y, edges as SVG path strings, lane columns; from :func:`explain.card`."""
    nodes: list[dict[str, Any]] = []
    if data["trigger"]["kind"] != "cron":
        nodes.append(_node("__trigger", data["trigger"]["kind"], "trigger", "trigger", "declared"))
    for step in data["steps"]:
        kind = "handler" if step["on_error_handler"] else ("write" if step["writes"] else "real")
        nodes.append(_node(step["id"], step["id"], step["type"], step["lane"], kind))
    for action in data["post_actions"]:
        nodes.append(_node(f"__post_{action}", action, "post action", "post", "declared"))
    for check in data["verify"]:
        nodes.append(
            _node(f"__verify_{check['name']}", check["name"], "verify", "verify", "declared")
        )

    lane_index = {lane: i for i, (lane, _) in enumerate(LANES)}
    per_lane: dict[str, int] = {lane: 0 for lane, _ in LANES}
    pos: dict[str, dict[str, Any]] = {}
    for n in nodes:
        row = per_lane[n["lane"]]
        per_lane[n["lane"]] = row + 1
        n["x"] = lane_index[n["lane"]] * LANE_W + (LANE_W - NODE_W) // 2
        n["y"] = TOP + row * (NODE_H + GAP_Y)
        pos[n["id"]] = n

    edges = []
    step_ids = {s["id"] for s in data["steps"]}
    wiring = [(s, t, "success" if k == "success" else "error") for s, t, k in data["edges"]]
    entries = [s for s in step_ids if not any(t == s for _, t, _ in data["edges"])]
    exits = [s for s in step_ids if not any(src == s for src, _, _ in data["edges"])]
    if "__trigger" in pos:
        wiring += [("__trigger", e, "declared") for e in sorted(entries)]
    post = [n["id"] for n in nodes if n["lane"] == "post"]
    if post:
        wiring += [(e, post[0], "declared") for e in sorted(exits)]
        wiring += [(a, b, "declared") for a, b in itertools.pairwise(post)]
        wiring += [(post[-1], n["id"], "declared") for n in nodes if n["lane"] == "verify"]
    for source, target, kind in wiring:
        if source not in pos or target not in pos:
            continue
        edges.append({"kind": kind, "d": _path(pos[source], pos[target])})

    height = TOP + max([*per_lane.values(), 1]) * (NODE_H + GAP_Y) + 10
    lanes = [
        {
            "key": lane,
            "title": title,
            "number": title.split(" / ", 1)[0],
            "name": title.split(" / ", 1)[-1],
            "x": i * LANE_W,
            "count": per_lane[lane],
        }
        for i, (lane, title) in enumerate(LANES)
    ]
    for n in nodes:
        n["label"] = _fit(n["label"], LABEL_CHARS)
        n["sub"] = _fit(n["sub"], SUB_CHARS)
    return {
        "lanes": lanes,
        "nodes": nodes,
        "edges": edges,
        "width": LANE_W * len(LANES),
        "height": height,
        "node_w": NODE_W,
        "node_h": NODE_H,
        "lane_w": LANE_W,
    }


def _path(a: dict[str, Any], b: dict[str, Any]) -> str:
    ay, by = a["y"] + NODE_H / 2, b["y"] + NODE_H / 2
    if b["x"] > a["x"]:
        x1, x2 = a["x"] + NODE_W, b["x"]
        mid = (x1 + x2) / 2
        return f"M{x1},{ay} C{mid},{ay} {mid},{by} {x2},{by}"
    if b["x"] == a["x"]:
        x = a["x"] + NODE_W
        bulge = x + 28
        return f"M{x},{ay} C{bulge},{ay} {bulge},{by} {x},{by}"
    x1, x2 = a["x"], b["x"] + NODE_W
    return f"M{x1},{ay} C{x1 - 30},{ay} {x2 + 30},{by} {x2},{by}"


def _fit(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"
