from django.contrib.admin.apps import AdminConfig


class InloopAdminConfig(AdminConfig):
    """django.contrib.admin with Inloop's admin site (allauth sign-in, two-factor required)."""

    default_site = "marketplace.admin_site.InloopAdminSite"
