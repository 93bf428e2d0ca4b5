"""LeakSentinel's domain: fingerprints, the match index, the leak decision and its reports."""
