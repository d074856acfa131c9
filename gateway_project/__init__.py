"""The LLM gateway's Django project: settings, URLs, ASGI application, shared errors."""
