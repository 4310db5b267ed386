"""Demo users, one per role: marketing/marketing, finance/finance, admin/admin.

For the demo and the browser tests only: it refuses to run in production. Running it
again resets the passwords and groups, nothing else.
"""
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from syncapp.roles import FINANCE, INTEGRATION_ADMIN, MARKETING

DEMO_USERS = (("marketing", MARKETING), ("finance", FINANCE), ("admin", INTEGRATION_ADMIN))


class Command(BaseCommand):
    help = "Create the demo users marketing, finance and admin (password = user name) in their role groups."

    def handle(self, *args, **options):
        if settings.SYNC_ENVIRONMENT == "production":
            raise CommandError("Demo users with known passwords are never created in production.")
        User = get_user_model()
        for username, role in DEMO_USERS:
            group, _ = Group.objects.get_or_create(name=role)
            user, created = User.objects.get_or_create(username=username)
            user.set_password(username)
            user.is_active = True
            user.is_staff = role == INTEGRATION_ADMIN
            user.save()
            user.groups.set([group])
            if options["verbosity"]:
                self.stdout.write(f"{'Created' if created else 'Updated'} {username} ({role}).")
