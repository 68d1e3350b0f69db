"""The notes example: a FastAPI app on tenantkit (see README.md beside this file)."""
