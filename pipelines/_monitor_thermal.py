"""Thermal time for the early-warning collapse timing (:mod:`pipelines.monitor`): the clock lives in
:mod:`features.thermal` (phenology uses it too); re-exported here for the monitor's modules."""

from features.thermal import UPPER_C, ThermalClock, gdd_base

__all__ = ["ThermalClock", "gdd_base", "UPPER_C"]
