"""The demo's cast: one user per role, with known passwords (demo only)."""

from django.contrib.auth import get_user_model

from audience_ops.accounts.roles import Role
from audience_ops.accounts.services import user_create

DEMO_USERS: list[tuple[str, str, str]] = [
    ("maria", Role.MARKETER, "glow-maria"),
    ("omar", Role.OPS, "glow-omar"),
    ("ada", Role.ADMIN, "glow-ada"),
]
DEMO_NAMES = {"maria": ("Maria", "Marketer"), "omar": ("Omar", "Ops"), "ada": ("Ada", "Admin")}


def ensure_demo_users() -> None:
    """Create the demo users if they do not exist yet (never changes existing accounts)."""
    User = get_user_model()
    for username, role, password in DEMO_USERS:
        if not User.objects.filter(username=username).exists():
            first, last = DEMO_NAMES[username]
            user_create(
                actor=None,
                username=username,
                role=role,
                email=f"{username}@glowgrind.example",
                password=password,
                first_name=first,
                last_name=last,
            )
