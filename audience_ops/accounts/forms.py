"""Forms for managing users and their roles; the services they feed check permissions and uniqueness again."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.validators import UnicodeUsernameValidator

from .roles import Role

User = get_user_model()


class UserCreateForm(forms.Form):
    """A new account with one role; the password is optional (without one the user cannot sign in yet)."""

    username = forms.CharField(
        label="Username",
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text="Letters, digits and @/./+/-/_ only.",
    )
    email = forms.EmailField(label="Email", required=False)
    role = forms.ChoiceField(label="Role", choices=Role.choices)
    password = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="Optional. Without one the account gets an unusable password until one is set.",
    )

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        if User.objects.filter(username=username).exists():
            raise forms.ValidationError(f"A user named {username!r} already exists.")
        return username

    def clean(self) -> dict:
        cleaned = super().clean()
        password = cleaned.get("password")
        if password:
            candidate = User(username=cleaned.get("username", ""), email=cleaned.get("email", ""))
            try:
                password_validation.validate_password(password, user=candidate)
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return cleaned


class UserRoleForm(forms.Form):
    """Give a user another role (a user holds exactly one)."""

    role = forms.ChoiceField(label="Role", choices=Role.choices)


class UserActiveForm(forms.Form):
    """Deactivate or reactivate an account."""

    active = forms.TypedChoiceField(
        label="Active",
        choices=[("1", "active"), ("0", "inactive")],
        coerce=lambda value: value == "1",
    )
