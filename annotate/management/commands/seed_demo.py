from django.core.management.base import BaseCommand

from annotate.services import project_team_create

DEMO_PASSWORD = "demo-pass"


class Command(BaseCommand):
    help = "Seed the demo: the shapes project and a login for each role (safe to run again)."

    def handle(self, *args, **options):
        project, logins = project_team_create(project_name="shapes", password=DEMO_PASSWORD)
        self.stdout.write("Demo logins (password for all: %s):" % DEMO_PASSWORD)
        for username, role in logins:
            self.stdout.write(f"  {role:<10} {username}")
