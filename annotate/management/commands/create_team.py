from django.core.management.base import BaseCommand, CommandError

from config.errors import ApplicationError

from annotate.services import project_team_create


class Command(BaseCommand):
    help = "Create a project and users for each role (annotatorN, reviewerN, managerN)."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--annotators", type=int, default=2)
        parser.add_argument("--reviewers", type=int, default=1)
        parser.add_argument("--managers", type=int, default=1)

    def handle(self, *args, project, password, annotators, reviewers, managers, **options):
        try:
            project, logins = project_team_create(
                project_name=project, password=password, annotators=annotators, reviewers=reviewers, managers=managers
            )
        except ApplicationError as exc:
            raise CommandError(f"{exc.message} {exc.fields}") from exc
        self.stdout.write(f"Project {project.name!r} (id {project.pk})")
        for username, role, created in logins:
            login = f"{username} / {password}" if created else f"{username} (existing user: password unchanged)"
            self.stdout.write(f"  {role:<10} {login}")
