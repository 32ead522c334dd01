from django.core.management.base import BaseCommand

from annotate.services import project_team_create
from demo.services import shapes_demo_bootstrap_enqueue, shapes_demo_seed, shapes_project_setup

DEMO_PASSWORD = "demo-pass"


class Command(BaseCommand):
    help = (
        "Seed the demo (safe to run on every start): the shapes project, a login for each role, first tasks "
        "from the habit corpus, and, once, checkpoint 0 queued on the gpu queue; when trained it answers "
        "fresh scenes and its answers become the next tasks."
    )

    def handle(self, *args, **options):
        project = shapes_project_setup()
        project, logins = project_team_create(project_name=project.name, password=DEMO_PASSWORD)
        tasks = shapes_demo_seed(project=project)
        queued = shapes_demo_bootstrap_enqueue(project=project)
        self.stdout.write(f"Project {project.name!r}: {project.prompts.count()} prompts"
                          + (f", {tasks} new tasks from the habit corpus" if tasks else ""))
        if queued:
            self.stdout.write(f"Checkpoint 0 queued as training run {queued.pk} (the dashboard shows its steps): "
                              "the worker trains it (7-10 minutes), then its answers to 64 fresh scenes become tasks.")
        self.stdout.write("Demo logins (password for all: %s):" % DEMO_PASSWORD)
        for username, role, _ in logins:
            self.stdout.write(f"  {role:<10} {username}")
