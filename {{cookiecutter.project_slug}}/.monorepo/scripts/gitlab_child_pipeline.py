"""The GitLab child pipeline of a change: the jobs of each project it touches.

    python3 scripts/gitlab_child_pipeline.py --base <commit> > child-pipeline.yml

The projects are the ones scripts/changed_projects.py selects. Each gets the jobs of
.gitlab/project-jobs.yml, named `<project>:<job>`, working in the project's folder; a job needs
only jobs of its own project, so one project's failure never holds up another's. A change that
selects no project gets one job that says so: a pipeline needs at least one job.

The output is JSON, which is YAML. Standard library only: it runs before anything is installed.
"""

import json
import sys

import changed_projects
from changed_projects import Project

TEMPLATES = ".gitlab/project-jobs.yml"
NO_PROJECT_JOB = "no-project-changed"


def project_jobs(project: Project) -> dict[str, dict]:
    """The jobs of one project; the templates' rules keep those of the pipeline's event."""
    variables = {"PROJECT_PATH": project.path, "PROJECT_KEY": project.key}

    def job(template: str, **settings) -> dict:
        return {"extends": f".{template}", "variables": variables, **settings}

    name = project.name
    return {
        f"{name}:local": job("local"),
        f"{name}:validate": job("validate"),
        f"{name}:integration-test": job(
            "integration-test",
            needs=[f"{name}:local", f"{name}:validate"],
            # Each project deploys its own test target: one merge request at a time per project.
            resource_group=f"{name}/test",
        ),
        f"{name}:deploy-staging": job(
            "deploy-staging",
            environment={"name": f"{name}/staging"},
            resource_group=f"{name}/staging",
        ),
        f"{name}:deploy-prod": job(
            "deploy-prod",
            environment={"name": f"{name}/prod"},
            resource_group=f"{name}/prod",
        ),
    }


def child_pipeline(projects: list[Project]) -> dict:
    jobs = {}
    for project in projects:
        jobs.update(project_jobs(project))
    if not jobs:
        jobs[NO_PROJECT_JOB] = {
            "stage": "request-checks",
            "timeout": "5m",
            "script": ["echo 'This change touches no project: nothing to check or deploy.'"],
        }
    return {"include": [{"local": TEMPLATES}], **jobs}


def as_child_pipeline(projects: list[Project]) -> str:
    return json.dumps(child_pipeline(projects), indent=2)


def main(argv: list[str] | None = None) -> int:
    return changed_projects.main(argv, {"gitlab-child-pipeline": as_child_pipeline})


if __name__ == "__main__":
    sys.exit(main())
