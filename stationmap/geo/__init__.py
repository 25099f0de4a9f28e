"""Geography of Jieyang: datums, boundaries and townships, metric geometry."""
