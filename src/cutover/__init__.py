"""cutover: province-by-province readiness of an IT switchover, proved by probes and evidence."""

__version__ = "0.1.0"
