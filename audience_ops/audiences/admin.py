from django.contrib import admin

from .models import Audience, AudienceSnapshot, AudienceVersion, MembershipSpan


class AudienceVersionInline(admin.TabularInline):
    model = AudienceVersion
    extra = 0
    can_delete = False
    fields = ["number", "author", "created_at", "paired_suppression", "exclude"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # versions are written by services, never edited


@admin.register(Audience)
class AudienceAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "kind", "objective", "status", "owner", "retire_on"]
    list_filter = ["status", "kind", "objective"]
    search_fields = ["slug", "name"]
    readonly_fields = ["live_version", "created_at", "updated_at"]
    inlines = [AudienceVersionInline]


@admin.register(AudienceVersion)
class AudienceVersionAdmin(admin.ModelAdmin):
    list_display = ["audience", "number", "author", "created_at"]
    readonly_fields = ["audience", "number", "rule", "exclude", "paired_suppression", "qa", "author", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AudienceSnapshot)
class AudienceSnapshotAdmin(admin.ModelAdmin):
    list_display = ["audience", "evaluated_at", "size", "entered", "exited", "duration_ms"]
    list_filter = ["audience"]


@admin.register(MembershipSpan)
class MembershipSpanAdmin(admin.ModelAdmin):
    list_display = ["audience", "profile", "version", "entered_at", "exited_at"]
    list_filter = ["audience"]
    raw_id_fields = ["profile"]
