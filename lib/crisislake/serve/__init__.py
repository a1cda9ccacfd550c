"""``crisislake serve``: the HTTP API over the warehouse (incidents, marts, review queue, decisions)."""
