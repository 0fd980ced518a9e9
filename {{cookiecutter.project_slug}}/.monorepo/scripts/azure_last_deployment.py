"""The commit the last successful run of this Azure pipeline deployed from this branch.

Azure Pipelines tells a push's run nothing of the commit it starts from, and a batched run holds
any number of pushes. What a deploy run must compare with is what the last successful run of the
same pipeline, on the same branch, deployed: the Builds API of Azure DevOps names its commit. A
run whose deployment failed for any project is not successful, so its changes are deployed again
by the next run.

    python3 scripts/azure_last_deployment.py

It sets the pipeline variable LAST_DEPLOYED_COMMIT for the next steps, empty when there is no
such run (the pipeline's first) or the API cannot be read: then every project is deployed. It
reads the agent's variables SYSTEM_COLLECTIONURI, SYSTEM_TEAMPROJECTID, SYSTEM_DEFINITIONID and
BUILD_SOURCEBRANCH, and the job's token in SYSTEM_ACCESSTOKEN (the step maps it). Standard
library only: it runs before anything is installed.
"""

import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

VARIABLE = "LAST_DEPLOYED_COMMIT"
COMMIT = re.compile(r"[0-9a-f]{40}")
AGENT_VARIABLES = (
    "SYSTEM_COLLECTIONURI",
    "SYSTEM_TEAMPROJECTID",
    "SYSTEM_DEFINITIONID",
    "BUILD_SOURCEBRANCH",
    "SYSTEM_ACCESSTOKEN",
)


class Unknown(Exception):
    """Why the last deployed commit cannot be told."""


def runs_url(env: dict[str, str]) -> str:
    """The newest successful, completed run of this pipeline on this branch."""
    query = urllib.parse.urlencode(
        {
            "definitions": env["SYSTEM_DEFINITIONID"],
            "branchName": env["BUILD_SOURCEBRANCH"],
            "statusFilter": "completed",
            "resultFilter": "succeeded",
            "queryOrder": "finishTimeDescending",
            "$top": "1",
            "api-version": "7.1",
        }
    )
    collection = env["SYSTEM_COLLECTIONURI"].rstrip("/")
    return f"{collection}/{env['SYSTEM_TEAMPROJECTID']}/_apis/build/builds?{query}"


def last_deployed_commit(env: dict[str, str]) -> str:
    missing = [name for name in AGENT_VARIABLES if not env.get(name)]
    if missing:
        raise Unknown(f"{', '.join(missing)} not set (map SYSTEM_ACCESSTOKEN in the step's env)")
    request = urllib.request.Request(
        runs_url(env), headers={"Authorization": f"Bearer {env['SYSTEM_ACCESSTOKEN']}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            runs = json.load(response).get("value") or []
    except (urllib.error.URLError, OSError, ValueError, AttributeError) as error:
        raise Unknown(f"the Builds API did not answer with runs ({error})") from None
    if not runs:
        raise Unknown("no successful run yet on this branch")
    commit = str(runs[0].get("sourceVersion", ""))
    if not COMMIT.fullmatch(commit):
        raise Unknown(f"the last successful run names no commit ({commit!r})")
    return commit


def main() -> int:
    try:
        commit = last_deployed_commit(dict(os.environ))
        print(f"last successful run deployed {commit}", file=sys.stderr)
    except Unknown as why:
        commit = ""
        print(f"note: {why}: every project is deployed", file=sys.stderr)
    print(f"##vso[task.setvariable variable={VARIABLE}]{commit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
