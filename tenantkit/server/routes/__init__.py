"""The backend API's routers, one module per concept."""
