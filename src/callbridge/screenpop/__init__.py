"""The receptionist page: GET /screenpop, static files from the package (no CDN, no build)."""
