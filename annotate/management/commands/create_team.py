from django.core.management.base import BaseCommand

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
        project, logins = project_team_create(
            project_name=project, password=password, annotators=annotators, reviewers=reviewers, managers=managers
        )
        self.stdout.write(f"Project {project.name!r} (id {project.pk})")
        for username, role in logins:
            self.stdout.write(f"  {role:<10} {username} / {password}")
