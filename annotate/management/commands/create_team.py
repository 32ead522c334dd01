from django.core.management.base import BaseCommand, CommandError

from config.errors import ApplicationError

from annotate.services import project_team_create
from annotate.services.team import CREATED, MEMBER


class Command(BaseCommand):
    help = ("Create a project and users for each role (annotatorN, reviewerN, managerN; --prefix to tell teams "
            "apart). Existing users are never changed nor added to another project: they are skipped. Managers "
            "manage this project only (not staff); the password must pass Django's password validators.")

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--annotators", type=int, default=2)
        parser.add_argument("--reviewers", type=int, default=1)
        parser.add_argument("--managers", type=int, default=1)
        parser.add_argument("--prefix", default="", help="Put before each username, e.g. 'b-' for b-annotator1.")

    def handle(self, *args, project, password, annotators, reviewers, managers, prefix, **options):
        try:
            project, logins = project_team_create(
                project_name=project, password=password, annotators=annotators, reviewers=reviewers, managers=managers,
                prefix=prefix,
            )
        except ApplicationError as exc:
            details = "; ".join(f"{name}: {' '.join(problems)}" for name, problems in exc.fields.items())
            raise CommandError(f"{exc.message} ({details})" if details else exc.message) from exc
        self.stdout.write(f"Project {project.name!r} (id {project.pk})")
        for username, role, outcome in logins:
            if outcome == CREATED:
                line = f"{username} / {password}"
            elif outcome == MEMBER:
                line = f"{username} (member already: unchanged)"
            else:
                line = (f"{username} SKIPPED: a user of that name exists and is not a member of this project; "
                        "it was left unchanged (use --prefix, or add it on the members page if it is the same person)")
            self.stdout.write(f"  {role:<10} {line}")
