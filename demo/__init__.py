"""The demo's helpers: the embedded sample photos, the Debian photo gathering, the time estimate."""
