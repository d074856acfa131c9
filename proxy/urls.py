"""Proxy routes under /v1/."""

from django.urls import path, re_path

from proxy import views

urlpatterns = [
    path("chat/completions", views.ChatCompletionsView.as_view()),
    path("responses", views.ResponsesView.as_view()),
    path("messages", views.MessagesView.as_view()),
    path("models", views.ModelsView.as_view()),
    re_path(r"^(?P<path>[\s\S]*)$", views.unknown_route),  # [\s\S], not ".": a path with a line break too
]
