"""Migrations for MongoDB (ObjectId primary keys); made by scripts/makemigrations."""
