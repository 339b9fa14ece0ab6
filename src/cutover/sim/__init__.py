"""The portal simulator: the National Public Service Portal, its SSO, the agency e-ID registry
and the 34 provincial portals, driven by a scenario and able to inject faults."""
