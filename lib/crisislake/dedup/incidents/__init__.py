"""Incidents: reports grouped into real-world incidents, placed on a map and corroborated."""
