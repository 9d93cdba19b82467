"""Template context: the signed-in user's role, so navigation shows only what the role can use."""

from django.http import HttpRequest

from .roles import user_role


def roles(request: HttpRequest) -> dict:
    return {"current_role": user_role(request.user) if hasattr(request, "user") else None}
