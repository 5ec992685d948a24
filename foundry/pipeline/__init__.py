"""Steps of a campaign: small, Ray-free objects with one method each (the executor in `cluster/` runs them)."""
