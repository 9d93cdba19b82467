from django.contrib import admin

from .models import Profile, WriteKey


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ["id", "external_id", "created_at"]
    search_fields = ["external_id"]


@admin.register(WriteKey)
class WriteKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "created_at", "revoked_at"]
    readonly_fields = ["key_hash", "prefix"]
