"""Contrib app configs re-declared with ObjectId primary keys, as django-mongodb-backend requires."""

from django.contrib.admin.apps import AdminConfig
from django.contrib.auth.apps import AuthConfig
from django.contrib.contenttypes.apps import ContentTypesConfig

_OBJECT_ID = "django_mongodb_backend.fields.ObjectIdAutoField"


class MongoAdminConfig(AdminConfig):
    default_auto_field = _OBJECT_ID


class MongoAuthConfig(AuthConfig):
    default_auto_field = _OBJECT_ID


class MongoContentTypesConfig(ContentTypesConfig):
    default_auto_field = _OBJECT_ID
