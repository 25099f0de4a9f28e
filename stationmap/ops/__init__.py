"""Running the registry: accounts, edits, the audit log, telemetry, usage."""
