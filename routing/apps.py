"""App config for routing: public model names in front of deployments, with retries and fallbacks."""

from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "routing"
    verbose_name = "Routing"
