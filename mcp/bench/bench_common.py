"""Helpers both MCP comparisons use: percentiles and the size of a result."""

import json
import math


def pct(xs, p):
    """The p-th percentile of xs (nearest rank)."""
    s = sorted(xs)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def text_of(res):
    """The text content a model receives from a tool result."""
    return "".join(c.text for c in res.content if c.type == "text")


def total_bytes(res):
    """The whole result's size as JSON."""
    return len(json.dumps(res.model_dump(mode="json", exclude_none=True)).encode())
