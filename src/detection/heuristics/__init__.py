"""Heuristic detectors, one per module. `REGISTRY` lists them in run order."""

from __future__ import annotations

from detection.heuristics.base import Detector
from detection.heuristics.horizontal_port_scan import HorizontalPortScan
from detection.heuristics.long_connection import LongConnection
from detection.heuristics.vertical_port_scan import VerticalPortScan

REGISTRY: tuple[type[Detector], ...] = (LongConnection, HorizontalPortScan, VerticalPortScan)

__all__ = ["REGISTRY", "Detector"]
