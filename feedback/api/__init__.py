"""The token API for scripts and CMSs, under /api/v1."""
